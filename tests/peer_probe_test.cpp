// parallel/peer_probe: a probe tells a rank that answers from one whose process is stopped (its
// machine accepts, nobody replies), one that is gone (refused) and one whose machine cannot be
// reached; an answer is a MAC under the job's key over the prober's fresh nonce, so a wrong key, a
// wrong rank or a replayed reply is no answer, and a client that sends no challenge learns
// nothing; the responder listens only where it is told, and does not spin when it runs out of
// descriptors; the message names rank, pid and host.
#include "parallel/peer_probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "util/error.h"

namespace vit {
namespace {

using Clock = std::chrono::steady_clock;

ProbeKey fixed_key(unsigned char seed) {
  ProbeKey key;
  for (size_t i = 0; i < ProbeKey::kSize; ++i)
    key.data()[i] = static_cast<unsigned char>(seed + 7 * i);
  return key;
}

const ProbeKey kKey = fixed_key(0x5e);
const std::vector<std::string> kLoopback = {"127.0.0.1"};

PeerAddress local_peer(int rank, int port) {
  PeerAddress peer;
  peer.rank = rank;
  peer.pid = 4242;
  peer.port = port;
  peer.host = "node7";
  peer.addresses = {"127.0.0.1"};
  return peer;
}

sockaddr_in address_of(const std::string& host, int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(::inet_pton(AF_INET, host.c_str(), &address.sin_addr), 1) << host;
  return address;
}

// A blocking TCP connection, closed on destruction; -1 when the connect failed (errno kept).
class Connection {
 public:
  Connection(const std::string& host, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in address = address_of(host, port);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      error_ = errno;
    }
  }
  ~Connection() { ::close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  int fd() const { return fd_; }
  int error() const { return error_; }  // 0 when connected

  void send_all(const unsigned char* bytes, size_t size) const {
    ASSERT_EQ(::send(fd_, bytes, size, MSG_NOSIGNAL), static_cast<ssize_t>(size));
  }
  // Everything received until the peer closes or `wait_s` passes; `closed` says which.
  std::vector<unsigned char> receive(double wait_s, bool* closed) const {
    std::vector<unsigned char> bytes;
    *closed = false;
    const auto deadline = Clock::now() + std::chrono::duration<double>(wait_s);
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      pollfd fd{fd_, POLLIN, 0};
      if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
      unsigned char chunk[256];
      const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
      if (got <= 0) {
        *closed = true;  // an orderly close or a reset
        break;
      }
      bytes.insert(bytes.end(), chunk, chunk + got);
    }
    return bytes;
  }

 private:
  int fd_ = -1;
  int error_ = 0;
};

using Nonce = std::array<unsigned char, kProbeNonceSize>;

std::array<unsigned char, kProbeRequestSize> request_of(const Nonce& nonce) {
  std::array<unsigned char, kProbeRequestSize> request{};
  std::memcpy(request.data(), kProbeMagic, sizeof kProbeMagic);
  std::memcpy(request.data() + sizeof kProbeMagic, nonce.data(), nonce.size());
  return request;
}

Nonce random_nonce() {
  Nonce nonce{};
  EXPECT_GE(sodium_init(), 0);
  randombytes_buf(nonce.data(), nonce.size());
  return nonce;
}

// The wire as the header documents it, checked here with libsodium directly: rank (int32,
// little-endian), then crypto_auth over the domain, the nonce and those rank bytes.
bool verifies(const std::vector<unsigned char>& reply, const Nonce& nonce, const ProbeKey& key) {
  if (reply.size() != kProbeReplySize) return false;
  std::vector<unsigned char> message(kProbeDomain, kProbeDomain + sizeof kProbeDomain - 1);
  message.insert(message.end(), nonce.begin(), nonce.end());
  message.insert(message.end(), reply.begin(), reply.begin() + 4);
  return crypto_auth_verify(reply.data() + 4, message.data(), message.size(), key.data()) == 0;
}

int rank_in(const std::vector<unsigned char>& reply) {
  uint32_t bits = 0;
  for (int i = 0; i < 4; ++i) bits |= static_cast<uint32_t>(reply.at(i)) << (8 * i);
  return static_cast<int32_t>(bits);
}

// Does `haystack` hold any `window` consecutive bytes of the key?
bool holds_key_bytes(const std::vector<unsigned char>& haystack, const ProbeKey& key,
                     size_t window) {
  for (size_t at = 0; at + window <= ProbeKey::kSize; ++at) {
    if (std::search(haystack.begin(), haystack.end(), key.data() + at, key.data() + at + window) !=
        haystack.end()) {
      return true;
    }
  }
  return false;
}

// A listening socket that never accepts: the connection completes in the kernel, no reply comes
// (what a SIGSTOPped rank's responder looks like).
class DeafListener {
 public:
  explicit DeafListener(int backlog = 8) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(fd_, backlog), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
  }
  ~DeafListener() { ::close(fd_); }
  int fd() const { return fd_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A machine that does not answer at all, made on the loopback: a listener whose accept queue is
// full drops every further SYN, so the connection neither completes nor fails.
class SwampedListener {
 public:
  SwampedListener() : listener_(0) {
    for (int i = 0; i < 4; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      const sockaddr_in address = address_of("127.0.0.1", listener_.port());
      (void)::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
      fillers_.push_back(fd);
    }
    ::usleep(100000);  // the handshakes that fit are done
  }
  ~SwampedListener() {
    for (int fd : fillers_) ::close(fd);
  }
  int port() const { return listener_.port(); }

 private:
  DeafListener listener_;
  std::vector<int> fillers_;
};

// A port nobody listens on (bound, then closed).
int closed_port() {
  DeafListener listener;
  return listener.port();
}

TEST(PeerProbe, ARespondingRankAnswers) {
  const PeerResponder responder(kKey, 3, kLoopback);
  const auto states = probe_peers({local_peer(3, responder.port())}, kKey, 5.0);
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0], PeerState::answers);
  EXPECT_EQ(describe_peers({local_peer(3, responder.port())}, states), "");
}

TEST(PeerProbe, AnswersManyProbesInARow) {
  const PeerResponder responder(kKey, 1, kLoopback);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(probe_peers({local_peer(1, responder.port())}, kKey, 5.0)[0], PeerState::answers);
  }
}

TEST(PeerProbe, AnotherJobsKeyOrRankIsNoAnswer) {
  const PeerResponder other_job(fixed_key(0x11), 1, kLoopback);
  EXPECT_NE(probe_peers({local_peer(1, other_job.port())}, kKey, 2.0)[0], PeerState::answers);
  const PeerResponder other_rank(kKey, 2, kLoopback);
  EXPECT_NE(probe_peers({local_peer(1, other_rank.port())}, kKey, 2.0)[0], PeerState::answers);
}

TEST(PeerProbe, AChallengeGetsTheRankAndAMacUnderTheKeyOnly) {
  const PeerResponder responder(kKey, 3, kLoopback);
  const Nonce nonce = random_nonce();
  const Connection client("127.0.0.1", responder.port());
  ASSERT_EQ(client.error(), 0) << std::strerror(client.error());
  const auto request = request_of(nonce);
  client.send_all(request.data(), request.size());
  bool closed = false;
  const auto reply = client.receive(3.0, &closed);
  ASSERT_EQ(reply.size(), kProbeReplySize);
  EXPECT_TRUE(closed);  // one answer per connection
  EXPECT_EQ(rank_in(reply), 3);
  EXPECT_TRUE(verifies(reply, nonce, kKey));
  EXPECT_FALSE(verifies(reply, nonce, fixed_key(0x11)));  // not under another key
  Nonce other = nonce;
  other[0] ^= 1;
  EXPECT_FALSE(verifies(reply, other, kKey));  // nor for another nonce
  EXPECT_FALSE(holds_key_bytes(reply, kKey, 4)) << "the reply carries key bytes";
}

TEST(PeerProbe, AClientThatSendsNothingOrGarbageGetsNothing) {
  const PeerResponder responder(kKey, 3, kLoopback);
  {
    const auto start = Clock::now();
    const Connection silent("127.0.0.1", responder.port());
    ASSERT_EQ(silent.error(), 0);
    bool closed = false;
    const auto bytes = silent.receive(4.0, &closed);
    const double took = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_TRUE(bytes.empty()) << bytes.size() << " bytes to a client that asked nothing";
    EXPECT_TRUE(closed) << "not closed within 4 s";
    EXPECT_LT(took, kProbeClientDeadlineS + 1.0);
  }
  {
    // A whole request's length, without the magic; then a short one that never completes.
    std::vector<unsigned char> garbage(kProbeRequestSize, 'x');
    const Connection wrong("127.0.0.1", responder.port());
    ASSERT_EQ(wrong.error(), 0);
    wrong.send_all(garbage.data(), garbage.size());
    const Connection partial("127.0.0.1", responder.port());
    ASSERT_EQ(partial.error(), 0);
    partial.send_all(reinterpret_cast<const unsigned char*>(kProbeMagic), sizeof kProbeMagic);
    bool closed = false;
    EXPECT_TRUE(wrong.receive(4.0, &closed).empty());
    EXPECT_TRUE(closed);
    EXPECT_TRUE(partial.receive(4.0, &closed).empty());
    EXPECT_TRUE(closed);
  }
  // And it still answers.
  EXPECT_EQ(probe_peers({local_peer(3, responder.port())}, kKey, 3.0)[0], PeerState::answers);
}

TEST(PeerProbe, ManyIdleClientsDoNotShutOutAProbe) {
  const PeerResponder responder(kKey, 1, kLoopback);
  std::vector<std::unique_ptr<Connection>> idle;
  for (size_t i = 0; i < 2 * kProbeMaxPending; ++i) {
    idle.push_back(std::make_unique<Connection>("127.0.0.1", responder.port()));
  }
  ::usleep(100000);  // all accepted: the oldest have been let go for the newest
  const auto start = Clock::now();
  EXPECT_EQ(probe_peers({local_peer(1, responder.port())}, kKey, 3.0)[0], PeerState::answers);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.0);
}

// A server that answers every request with one fixed reply: a reply recorded earlier, replayed.
class ReplayServer {
 public:
  explicit ReplayServer(std::vector<unsigned char> reply) : reply_(std::move(reply)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd fd{listener_.fd(), POLLIN, 0};
        if (::poll(&fd, 1, 50) <= 0) continue;
        const int client = ::accept(listener_.fd(), nullptr, nullptr);
        if (client < 0) continue;
        unsigned char request[kProbeRequestSize];
        size_t got = 0;
        while (got < sizeof request) {
          const ssize_t n = ::recv(client, request + got, sizeof request - got, 0);
          if (n <= 0) break;
          got += static_cast<size_t>(n);
        }
        ++served_;  // before the reply, which may end the probe
        (void)::send(client, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        ::close(client);
      }
    });
  }
  ~ReplayServer() {
    stop_ = true;
    thread_.join();
  }
  int port() const { return listener_.port(); }
  int served() const { return served_; }

 private:
  DeafListener listener_;
  std::vector<unsigned char> reply_;
  std::atomic<bool> stop_{false};
  std::atomic<int> served_{0};
  std::thread thread_;
};

TEST(PeerProbe, AReplayedReplyIsNoAnswer) {
  std::vector<unsigned char> recorded;
  {
    const PeerResponder responder(kKey, 1, kLoopback);
    const Nonce nonce = random_nonce();
    const Connection client("127.0.0.1", responder.port());
    ASSERT_EQ(client.error(), 0);
    const auto request = request_of(nonce);
    client.send_all(request.data(), request.size());
    bool closed = false;
    recorded = client.receive(3.0, &closed);
    ASSERT_TRUE(verifies(recorded, nonce, kKey));  // a genuine answer, to another nonce
  }
  const ReplayServer replay(recorded);
  EXPECT_NE(probe_peers({local_peer(1, replay.port())}, kKey, 2.0)[0], PeerState::answers);
  EXPECT_GE(replay.served(), 1);  // it did send the recorded reply
}

TEST(PeerProbe, ListensOnlyOnTheAddressesItIsGiven) {
  // 127.0.0.2 and .3 are loopback too on Linux: one responder on two addresses, one port.
  const PeerResponder responder(kKey, 1, {"127.0.0.1", "127.0.0.2"});
  PeerAddress peer = local_peer(1, responder.port());
  EXPECT_EQ(probe_peers({peer}, kKey, 2.0)[0], PeerState::answers);
  peer.addresses = {"127.0.0.2"};
  EXPECT_EQ(probe_peers({peer}, kKey, 2.0)[0], PeerState::answers);
  peer.addresses = {"127.0.0.3"};
  EXPECT_EQ(probe_peers({peer}, kKey, 2.0)[0], PeerState::gone);

  // Bound to loopback, it cannot be reached on the machine's other addresses.
  std::string outside;
  for (const auto& address : local_addresses()) {
    if (address.rfind("127.", 0) != 0) outside = address;
  }
  if (outside.empty()) GTEST_SKIP() << "this machine has no address but loopback";
  const PeerResponder loopback_only(kKey, 1, kLoopback);
  const Connection from_outside(outside, loopback_only.port());
  EXPECT_EQ(from_outside.error(), ECONNREFUSED)
      << outside << ": " << std::strerror(from_outside.error());
  peer = local_peer(1, loopback_only.port());
  peer.addresses = {outside};
  EXPECT_NE(probe_peers({peer}, kKey, 1.0)[0], PeerState::answers);
  // ... and one bound to that address answers there.
  const PeerResponder outside_only(kKey, 1, {outside});
  peer.port = outside_only.port();
  EXPECT_EQ(probe_peers({peer}, kKey, 2.0)[0], PeerState::answers);
}

TEST(PeerProbe, RefusesTheWildcardAndBadAddresses) {
  EXPECT_THROW(PeerResponder(kKey, 1, {}), Error);
  EXPECT_THROW(PeerResponder(kKey, 1, {"0.0.0.0"}), Error);
  EXPECT_THROW(PeerResponder(kKey, 1, {"127.0.0.1", "not an address"}), Error);
  try {
    PeerResponder responder(kKey, 1, {"198.51.100.254"});  // not this machine's (TEST-NET-2)
    ADD_FAILURE() << "listened on an address that is not this machine's";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("198.51.100.254"), std::string::npos) << error.what();
  }
}

double process_cpu_s() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Lowers the soft limit on open files and fills it with dup()s; all undone on destruction.
class NoFreeDescriptors {
 public:
  NoFreeDescriptors() {
    EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &old_), 0);
    rlimit low = old_;
    low.rlim_cur = std::min<rlim_t>(old_.rlim_cur, 256);
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    while (true) {
      const int fd = ::dup(0);
      if (fd < 0) {
        error_ = errno;
        break;
      }
      fds_.push_back(fd);
    }
  }
  ~NoFreeDescriptors() {
    for (int fd : fds_) ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &old_);
  }
  int error() const { return error_; }

 private:
  rlimit old_{};
  std::vector<int> fds_;
  int error_ = 0;
};

TEST(PeerProbe, OutOfDescriptorsTheResponderWaitsInsteadOfSpinning) {
  const PeerResponder responder(kKey, 1, kLoopback);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // before they run out
  ASSERT_GE(client, 0);
  {
    const NoFreeDescriptors full;
    ASSERT_EQ(full.error(), EMFILE);
    const sockaddr_in address = address_of("127.0.0.1", responder.port());
    // The kernel completes the handshake; the responder cannot accept it (EMFILE).
    ASSERT_EQ(::connect(client, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0)
        << std::strerror(errno);
    ::usleep(50000);
    const double cpu_before = process_cpu_s();
    ::usleep(500000);
    const double cpu_s = process_cpu_s() - cpu_before;
    EXPECT_LT(cpu_s, 0.15) << "the responder spun for " << cpu_s << " s of CPU in 0.5 s";
  }
  ::close(client);
  // With descriptors again, it serves within its longest pause.
  EXPECT_EQ(probe_peers({local_peer(1, responder.port())}, kKey, 3.0)[0], PeerState::answers);
}

TEST(PeerProbe, StoppedGoneAndUnreachableAreToldApart) {
  const PeerResponder alive(kKey, 1, kLoopback);
  const DeafListener stopped;
  const int gone_port = closed_port();
  const SwampedListener swamped;
  PeerAddress far = local_peer(4, swamped.port());
  far.host = "node9";
  const std::vector<PeerAddress> peers = {
      local_peer(1, alive.port()), local_peer(2, stopped.port()), local_peer(3, gone_port), far};
  const auto states = probe_peers(peers, kKey, 1.0);
  ASSERT_EQ(states.size(), 4u);
  EXPECT_EQ(states[0], PeerState::answers);
  EXPECT_EQ(states[1], PeerState::silent);
  EXPECT_EQ(states[2], PeerState::gone);
  EXPECT_EQ(states[3], PeerState::unreachable);

  const std::string text = describe_peers(peers, states);
  EXPECT_EQ(text.find("rank 1 "), std::string::npos) << text;  // it answered
  EXPECT_NE(text.find("rank 2 (pid 4242 on node7, 127.0.0.1) does not answer"), std::string::npos)
      << text;
  EXPECT_NE(text.find("rank 3 (pid 4242 on node7, 127.0.0.1) is gone"), std::string::npos) << text;
  EXPECT_NE(text.find("rank 4 (pid 4242 on node9, 127.0.0.1) is unreachable"), std::string::npos)
      << text;
}

TEST(PeerProbe, OneAnsweringAddressIsEnough) {
  const PeerResponder responder(kKey, 1, kLoopback);
  PeerAddress peer = local_peer(1, responder.port());
  peer.addresses = {"0.0.0.1", "not an address", "127.0.0.1"};  // fails, skipped, answers
  EXPECT_EQ(probe_peers({peer}, kKey, 2.0)[0], PeerState::answers);
}

TEST(PeerProbe, LocalAddressesAreDottedIPv4AndFew) {
  const auto addresses = local_addresses();
  ASSERT_FALSE(addresses.empty());
  EXPECT_LE(addresses.size(), kMaxProbeAddresses);
  for (const auto& address : addresses) {
    in_addr parsed{};
    EXPECT_EQ(::inet_pton(AF_INET, address.c_str(), &parsed), 1) << address;
  }
}

TEST(PeerProbe, KeysAreRandom) {
  const ProbeKey a = ProbeKey::random();
  const ProbeKey b = ProbeKey::random();
  EXPECT_NE(std::memcmp(a.data(), b.data(), ProbeKey::kSize), 0);
}

}  // namespace
}  // namespace vit
