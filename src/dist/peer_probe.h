// PeerProbe: which of the other ranks still answer, asked outside MPI. When a collective is stuck,
// every rank waits and MPI cannot say for whom; this asks each rank directly over TCP. Each rank
// runs a responder (a thread with a listening socket) that answers a connection with the job's
// token and its rank; the ranks learn each other's addresses once, at start-up. A probe connects
// to every other rank at once and sorts them: answers (alive, waiting like us), silent (its
// machine accepts the connection but the process does not answer: stopped or hung), gone (its
// machine refuses: the process is dead) and unreachable (no answer from its machine at all: the
// machine or the network to it is down).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace vit {

enum class PeerState { answers, silent, gone, unreachable };

struct PeerAddress {
  int rank = 0;
  int pid = 0;
  int port = 0;
  std::string host;                    // the machine's name, for messages
  std::vector<std::string> addresses;  // IPv4 addresses to try, dotted
};

// The answering side: a listening socket and a thread, for the life of the object.
class PeerResponder {
 public:
  PeerResponder(uint64_t token, int rank);
  ~PeerResponder();
  PeerResponder(const PeerResponder&) = delete;
  PeerResponder& operator=(const PeerResponder&) = delete;

  int port() const { return port_; }

 private:
  void serve();

  uint64_t token_;
  int rank_;
  int listen_fd_ = -1;
  int wake_fd_[2] = {-1, -1};  // a pipe: a byte written ends serve()
  int port_ = 0;
  std::thread thread_;
};

// Asks each peer at once and waits at most `wait_s` seconds in all; one state per peer, in order.
std::vector<PeerState> probe_peers(const std::vector<PeerAddress>& peers, uint64_t token,
                                   double wait_s);

// This machine's IPv4 addresses other machines may reach: every interface that is up, but
// loopback, or 127.0.0.1 when there is no other.
std::vector<std::string> local_addresses();

// "rank 1 (pid 42 on node7) is unreachable: its machine or the network to it is down; ..."; empty
// when every peer answers.
std::string describe_peers(const std::vector<PeerAddress>& peers,
                           const std::vector<PeerState>& states);

// The MPI side: collective at construction (every rank of `comm` starts its responder and learns
// the others' addresses; nothing is started in a world of one); diagnose() may be called from any
// thread afterwards.
class PeerProbe {
 public:
  explicit PeerProbe(MPI_Comm comm);

  struct Report {
    std::string text;          // describe_peers(): "" when every other rank answers
    bool unreachable = false;  // some rank's machine, or the network to it, is down
  };
  // Probes every other rank, waiting at most `wait_s` seconds.
  Report diagnose(double wait_s) const;

 private:
  uint64_t token_ = 0;
  std::unique_ptr<PeerResponder> responder_;
  std::vector<PeerAddress> peers_;  // every rank but this one
};

}  // namespace vit
