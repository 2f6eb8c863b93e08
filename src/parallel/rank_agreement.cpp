#include "parallel/rank_agreement.h"

#include <c10/util/Exception.h>  // c10::Error: LibTorch's errors carry a backtrace
#include <mpi.h>

#include <cstdio>

#include "parallel/mpi_context.h"
#include "parallel/peer_lost.h"

namespace vit {

std::string describe_error(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  const std::string text = c10 != nullptr ? c10->what_without_backtrace() : e.what();
  return text.substr(0, text.find('\n'));
}

int exit_status_of(const std::exception& e) {
  return dynamic_cast<const PeerLostError*>(&e) != nullptr ? kPeerLostExitCode : 1;
}

void report_error_and_end_job(const MpiContext* mpi, const std::exception& e) {
  const bool many = mpi != nullptr && mpi->world_size() > 1;
  const std::string where = many ? "rank " + std::to_string(mpi->rank()) + ": " : "";
  std::fprintf(stderr, "error: %s%s\n", where.c_str(), describe_error(e).c_str());
  std::fflush(stderr);
  if (many) MpiContext::abort(exit_status_of(e));
}

bool succeeded_on_all_ranks(int rank, const std::function<void()>& step) {
  std::string error;
  try {
    step();
  } catch (const std::exception& e) {
    error = describe_error(e);
  }
  int ok = error.empty() ? 1 : 0, all_ok = 0, rank0_ok = ok;
  check_mpi(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
  check_mpi(MPI_Bcast(&rank0_ok, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
  if (all_ok) return true;
  if (!ok && (rank == 0 || rank0_ok)) {
    const std::string where = rank == 0 ? "" : "rank " + std::to_string(rank) + ": ";
    std::fprintf(stderr, "error: %s%s\n", where.c_str(), error.c_str());
    std::fflush(stderr);
  }
  return false;
}

}  // namespace vit
