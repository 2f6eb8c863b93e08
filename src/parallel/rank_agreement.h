// Errors that every rank meets alike (a bad option, a missing or damaged file): each rank runs the
// step, the ranks agree on whether it failed anywhere, and one line reports it, so that a job of N
// ranks neither prints N copies of the same error nor leaves a rank waiting in a collective.
#pragma once

#include <exception>
#include <functional>
#include <string>

namespace vit {

// Runs `step` on this rank. Returns true on every rank when it succeeded on all of them.
// Otherwise rank 0 prints "error: <message>" (when rank 0 succeeded, each failing rank prints its
// own, prefixed with its rank) and every rank returns false. Collective over MPI_COMM_WORLD.
bool succeeded_on_all_ranks(int rank, const std::function<void()>& step);

// The first line of an exception's message (a c10::Error's without its backtrace).
std::string describe_error(const std::exception& e);

// The status a rank ends the job with for `e`: kPeerLostExitCode (69) for a PeerLostError (another
// rank stopped answering: parallel/peer_lost.h), else 1.
int exit_status_of(const std::exception& e);

class MpiContext;

// The programs' last resort for an error met by one rank alone: prints "error: [rank R: ]<message>"
// and, in a job of several ranks, ends the whole job with exit_status_of(e) (another rank may be
// waiting for this one in a collective). `mpi` may be null (MPI itself failed to start).
void report_error_and_end_job(const MpiContext* mpi, const std::exception& e);

}  // namespace vit
