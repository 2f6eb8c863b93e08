// PeerProbe: which of the other ranks still answer, asked outside MPI. When a collective is stuck,
// every rank waits and MPI cannot say for whom; this asks each rank directly over TCP. Each rank
// runs a responder (a thread with listening sockets) that answers a challenge with its rank and a
// keyed MAC; the ranks learn each other's addresses once, at start-up. A probe connects to every
// other rank at once and sorts them: answers (alive, waiting like us), silent (its machine accepts
// the connection but the process does not answer: stopped or hung), gone (its machine refuses: the
// process is dead) and unreachable (no answer from its machine at all: the machine or the network
// to it is down).
//
// The wire (challenge and response; the key never leaves MPI):
//   prober -> responder: kProbeMagic (4 bytes) + a fresh random nonce (32 bytes)
//   responder -> prober: its rank (int32, little-endian) + crypto_auth (HMAC-SHA512-256) keyed with
//                        the job's key over kProbeDomain + nonce + rank (as sent)
// The responder says nothing to a client that does not send a whole request with the magic within
// kProbeClientDeadlineS; the prober counts a reply only when the MAC verifies for its nonce and the
// rank is the one it asked, so a port scan learns nothing, a recorded reply cannot be replayed, and
// another job's (or program's) port is no answer.
#pragma once

#include <mpi.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace vit {

enum class PeerState { answers, silent, gone, unreachable };

constexpr char kProbeMagic[4] = {'V', 'P', 'R', '1'};
constexpr size_t kProbeNonceSize = 32;
constexpr size_t kProbeRequestSize = sizeof kProbeMagic + kProbeNonceSize;
constexpr size_t kProbeMacSize = 32;  // crypto_auth_BYTES
constexpr size_t kProbeReplySize = sizeof(int32_t) + kProbeMacSize;
constexpr char kProbeDomain[] = "vit-train peer probe reply v1";  // MACed without its NUL
constexpr double kProbeClientDeadlineS = 1.5;  // a client's time to send its whole request
constexpr size_t kProbeMaxPending = 32;        // clients read at once; the oldest goes first
constexpr size_t kMaxProbeAddresses = 4;       // addresses a rank listens on and is tried at

// The job's secret: 32 random bytes made on rank 0 and carried to the others by MPI only (the
// trusted channel). Wiped when destroyed.
class ProbeKey {
 public:
  static constexpr size_t kSize = 32;  // crypto_auth_KEYBYTES
  ProbeKey() = default;                // all zero: filled by random() or through data()
  static ProbeKey random();
  ~ProbeKey();
  ProbeKey(const ProbeKey& other) = default;
  ProbeKey& operator=(const ProbeKey& other) = default;

  const unsigned char* data() const { return bytes_.data(); }
  unsigned char* data() { return bytes_.data(); }

 private:
  std::array<unsigned char, kSize> bytes_{};
};

struct PeerAddress {
  int rank = 0;
  int pid = 0;
  int port = 0;
  std::string host;                    // the machine's name, for messages
  std::vector<std::string> addresses;  // IPv4 addresses to try, dotted
};

// The answering side: one listening socket per address (dotted IPv4, at most kMaxProbeAddresses;
// never the wildcard), all on one port, and a thread that serves them, for the life of the object.
// The first address gets a free port and the others are bound to the same; when one of those is
// taken there (EADDRINUSE) the whole set is tried again on another free port, a few times, before
// an error that names the address.
class PeerResponder {
 public:
  PeerResponder(const ProbeKey& key, int rank, const std::vector<std::string>& addresses);
  ~PeerResponder();
  PeerResponder(const PeerResponder&) = delete;
  PeerResponder& operator=(const PeerResponder&) = delete;

  int port() const { return port_; }

 private:
  void serve();

  ProbeKey key_;
  int rank_;
  std::vector<int> listen_fds_;
  int wake_fd_[2] = {-1, -1};  // a pipe: a byte written ends serve()
  int port_ = 0;
  std::thread thread_;
};

// Asks each peer at once and waits at most `wait_s` seconds in all; one state per peer, in order.
std::vector<PeerState> probe_peers(const std::vector<PeerAddress>& peers, const ProbeKey& key,
                                   double wait_s);

// This machine's IPv4 addresses other machines may reach: every interface that is up, but
// loopback, at most kMaxProbeAddresses; 127.0.0.1 when there is no other.
std::vector<std::string> local_addresses();

// "rank 1 (pid 42 on node7) is unreachable: its machine or the network to it is down; ..."; empty
// when every peer answers.
std::string describe_peers(const std::vector<PeerAddress>& peers,
                           const std::vector<PeerState>& states);

// The MPI side: collective at construction (every rank of `comm` starts its responder and learns
// the others' addresses; nothing is started in a world of one); diagnose() may be called from any
// thread afterwards. When every rank of `comm` runs on one machine the responders listen on
// 127.0.0.1 only; else on the machine's interface addresses (local_addresses()).
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
  ProbeKey key_;
  std::unique_ptr<PeerResponder> responder_;
  std::vector<PeerAddress> peers_;  // every rank but this one
};

}  // namespace vit
