// dist/peer_probe: a probe tells a rank that answers from one whose process is stopped (its
// machine accepts, nobody replies), one that is gone (refused) and one whose machine cannot be
// reached; a reply with the wrong token is not an answer; the message names rank, pid and host.
#include "dist/peer_probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace vit {
namespace {

constexpr uint64_t kToken = 0x5eed5eed12345678ULL;

PeerAddress local_peer(int rank, int port) {
  PeerAddress peer;
  peer.rank = rank;
  peer.pid = 4242;
  peer.port = port;
  peer.host = "node7";
  peer.addresses = {"127.0.0.1"};
  return peer;
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
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(static_cast<uint16_t>(listener_.port()));
      (void)::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
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
  const PeerResponder responder(kToken, 3);
  const auto states = probe_peers({local_peer(3, responder.port())}, kToken, 5.0);
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0], PeerState::answers);
  EXPECT_EQ(describe_peers({local_peer(3, responder.port())}, states), "");
}

TEST(PeerProbe, AnswersManyProbesInARow) {
  const PeerResponder responder(kToken, 1);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(probe_peers({local_peer(1, responder.port())}, kToken, 5.0)[0], PeerState::answers);
  }
}

TEST(PeerProbe, AnotherJobsTokenOrRankIsNoAnswer) {
  const PeerResponder other_job(kToken + 1, 1);
  EXPECT_NE(probe_peers({local_peer(1, other_job.port())}, kToken, 2.0)[0], PeerState::answers);
  const PeerResponder other_rank(kToken, 2);
  EXPECT_NE(probe_peers({local_peer(1, other_rank.port())}, kToken, 2.0)[0], PeerState::answers);
}

TEST(PeerProbe, StoppedGoneAndUnreachableAreToldApart) {
  const PeerResponder alive(kToken, 1);
  const DeafListener stopped;
  const int gone_port = closed_port();
  const SwampedListener swamped;
  PeerAddress far = local_peer(4, swamped.port());
  far.host = "node9";
  const std::vector<PeerAddress> peers = {
      local_peer(1, alive.port()), local_peer(2, stopped.port()), local_peer(3, gone_port), far};
  const auto states = probe_peers(peers, kToken, 1.0);
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
  const PeerResponder responder(kToken, 1);
  PeerAddress peer = local_peer(1, responder.port());
  peer.addresses = {"0.0.0.1", "not an address", "127.0.0.1"};  // fails, skipped, answers
  EXPECT_EQ(probe_peers({peer}, kToken, 2.0)[0], PeerState::answers);
}

TEST(PeerProbe, LocalAddressesAreDottedIPv4) {
  const auto addresses = local_addresses();
  ASSERT_FALSE(addresses.empty());
  for (const auto& address : addresses) {
    in_addr parsed{};
    EXPECT_EQ(::inet_pton(AF_INET, address.c_str(), &parsed), 1) << address;
  }
}

}  // namespace
}  // namespace vit
