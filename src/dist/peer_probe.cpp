#include "dist/peer_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <sstream>

#include "dist/mpi_context.h"
#include "util/error.h"

namespace vit {
namespace {

constexpr size_t kReplySize = sizeof(uint64_t) + sizeof(int32_t);
constexpr size_t kMaxAddressesPerPeer = 4;  // bounds the sockets of one probe

struct Reply {
  unsigned char bytes[kReplySize];
};

Reply reply_of(uint64_t token, int rank) {
  Reply reply{};
  const auto r = static_cast<int32_t>(rank);
  std::memcpy(reply.bytes, &token, sizeof token);
  std::memcpy(reply.bytes + sizeof token, &r, sizeof r);
  return reply;
}

// A file descriptor closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string system_error(const char* what) {
  return detail::concat(what, ": ", std::strerror(errno));
}

}  // namespace

PeerResponder::PeerResponder(uint64_t token, int rank) : token_(token), rank_(rank) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  VIT_CHECK(listen_fd_ >= 0, "rank ", rank, ": peer probe: ", system_error("socket"));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  address.sin_port = 0;  // any free port
  socklen_t length = sizeof address;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::pipe2(wake_fd_, O_CLOEXEC) != 0) {
    const std::string error = system_error("listening socket");
    ::close(listen_fd_);
    VIT_FAIL("rank ", rank, ": peer probe: ", error);
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

PeerResponder::~PeerResponder() {
  const char stop = 1;
  if (::write(wake_fd_[1], &stop, 1) != 1) {
    // The pipe cannot be full (one byte, once) nor closed: nothing else to do.
  }
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_[0]);
  ::close(wake_fd_[1]);
}

void PeerResponder::serve() {
  const Reply reply = reply_of(token_, rank_);
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_[0], POLLIN, 0}};
  while (true) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const Fd client(::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (client.get() < 0) continue;
    // 12 bytes fit any socket buffer: one non-blocking send, and the connection is closed.
    (void)::send(client.get(), reply.bytes, sizeof reply.bytes, MSG_NOSIGNAL);
  }
}

std::vector<PeerState> probe_peers(const std::vector<PeerAddress>& peers, uint64_t token,
                                   double wait_s) {
  enum class Try { connecting, connected, answered, refused, failed };
  struct Attempt {
    size_t peer;
    Fd fd;
    Try state = Try::connecting;
    size_t received = 0;
    Reply reply{};
  };
  std::vector<Attempt> attempts;
  for (size_t p = 0; p < peers.size(); ++p) {
    const auto& addresses = peers[p].addresses;
    for (size_t a = 0; a < std::min(addresses.size(), kMaxAddressesPerPeer); ++a) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<uint16_t>(peers[p].port));
      if (::inet_pton(AF_INET, addresses[a].c_str(), &address.sin_addr) != 1) continue;
      Attempt attempt{p, Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))};
      if (attempt.fd.get() < 0) continue;
      if (::connect(attempt.fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
        attempt.state = Try::connected;
      } else if (errno == ECONNREFUSED) {
        attempt.state = Try::refused;
      } else if (errno != EINPROGRESS) {
        attempt.state = Try::failed;
      }
      attempts.push_back(std::move(attempt));
    }
  }

  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(std::max(wait_s, 0.0)));
  while (true) {
    std::vector<pollfd> fds;
    std::vector<size_t> which;
    for (size_t i = 0; i < attempts.size(); ++i) {
      const Try state = attempts[i].state;
      if (state != Try::connecting && state != Try::connected) continue;
      fds.push_back({attempts[i].fd.get(),
                     static_cast<short>(state == Try::connecting ? POLLOUT : POLLIN), 0});
      which.push_back(i);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (fds.empty() || left.count() <= 0) break;
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      Attempt& attempt = attempts[which[k]];
      if (attempt.state == Try::connecting) {
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(attempt.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
        attempt.state = error == 0              ? Try::connected
                        : error == ECONNREFUSED ? Try::refused
                                                : Try::failed;
        continue;
      }
      const ssize_t got = ::recv(attempt.fd.get(), attempt.reply.bytes + attempt.received,
                                 kReplySize - attempt.received, 0);
      if (got > 0) {
        attempt.received += static_cast<size_t>(got);
        if (attempt.received == kReplySize) {
          const Reply expected = reply_of(token, peers[attempt.peer].rank);
          const bool same = std::memcmp(expected.bytes, attempt.reply.bytes, kReplySize) == 0;
          attempt.state = same ? Try::answered : Try::failed;  // another program's port
        }
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        attempt.state = Try::failed;  // closed without the whole answer: not one of ours
      }
    }
  }

  // Per peer, the best any of its addresses did.
  std::vector<PeerState> states(peers.size(), PeerState::unreachable);
  auto rank_of = [](PeerState s) { return static_cast<int>(s); };  // answers < silent < gone < ...
  for (const Attempt& attempt : attempts) {
    PeerState state = PeerState::unreachable;
    if (attempt.state == Try::answered) state = PeerState::answers;
    if (attempt.state == Try::connected) state = PeerState::silent;
    if (attempt.state == Try::refused) state = PeerState::gone;
    if (rank_of(state) < rank_of(states[attempt.peer])) states[attempt.peer] = state;
  }
  return states;
}

std::vector<std::string> local_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) == 0) {
    for (const ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
      if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
      if ((entry->ifa_flags & IFF_UP) == 0 || (entry->ifa_flags & IFF_LOOPBACK) != 0) continue;
      char text[INET_ADDRSTRLEN] = {};
      const auto* address = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      if (::inet_ntop(AF_INET, &address->sin_addr, text, sizeof text) != nullptr) {
        out.emplace_back(text);
      }
    }
    ::freeifaddrs(list);
  }
  if (out.empty()) out.emplace_back("127.0.0.1");
  return out;
}

std::string describe_peers(const std::vector<PeerAddress>& peers,
                           const std::vector<PeerState>& states) {
  std::ostringstream out;
  const char* separator = "";
  for (size_t i = 0; i < peers.size() && i < states.size(); ++i) {
    const char* what = nullptr;
    switch (states[i]) {
      case PeerState::answers:
        continue;
      case PeerState::silent:
        what = "does not answer (the process is stopped or hung)";
        break;
      case PeerState::gone:
        what = "is gone (its machine refuses: the process has ended)";
        break;
      case PeerState::unreachable:
        what = "is unreachable (its machine, or the network to it, is down)";
        break;
    }
    const PeerAddress& peer = peers[i];
    out << separator << "rank " << peer.rank << " (pid " << peer.pid << " on " << peer.host;
    if (!peer.addresses.empty() && peer.addresses.front() != peer.host) {
      out << ", " << peer.addresses.front();
    }
    out << ") " << what;
    separator = "; ";
  }
  return out.str();
}

namespace {

std::string encode(const PeerAddress& me) {
  std::ostringstream out;
  out << me.pid << '\n' << me.port << '\n' << me.host << '\n';
  for (const auto& address : me.addresses) out << address << ' ';
  return out.str();
}

PeerAddress decode(const std::string& text, int rank) {
  PeerAddress peer;
  peer.rank = rank;
  std::istringstream in(text);
  std::string line;
  in >> peer.pid >> peer.port;
  std::getline(in, line);  // the rest of the port's line
  std::getline(in, peer.host);
  for (std::string address; in >> address;) peer.addresses.push_back(address);
  VIT_CHECK(peer.port > 0 && peer.port < 65536, "peer probe: rank ", rank,
            " sent a bad address record");
  return peer;
}

uint64_t job_token(MPI_Comm comm, int rank) {
  uint64_t token = 0;
  if (rank == 0) {
    std::random_device device;
    token = (static_cast<uint64_t>(device()) << 32) ^ device() ^
            static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  check_mpi(MPI_Bcast(&token, 1, MPI_UINT64_T, 0, comm), "MPI_Bcast");
  return token;
}

}  // namespace

PeerProbe::PeerProbe(MPI_Comm comm) {
  int rank = 0, world_size = 1;
  check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm, &world_size), "MPI_Comm_size");
  if (world_size == 1) return;
  token_ = job_token(comm, rank);
  responder_ = std::make_unique<PeerResponder>(token_, rank);
  PeerAddress me;
  me.rank = rank;
  me.pid = static_cast<int>(::getpid());
  me.port = responder_->port();
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  MPI_Get_processor_name(name, &length);
  me.host.assign(name, static_cast<size_t>(length));
  me.addresses = local_addresses();
  const std::vector<std::string> all = all_gather(comm, encode(me));
  for (int r = 0; r < static_cast<int>(all.size()); ++r) {
    if (r != rank) peers_.push_back(decode(all[static_cast<size_t>(r)], r));
  }
}

PeerProbe::Report PeerProbe::diagnose(double wait_s) const {
  const std::vector<PeerState> states = probe_peers(peers_, token_, wait_s);
  Report report;
  report.text = describe_peers(peers_, states);
  report.unreachable =
      std::find(states.begin(), states.end(), PeerState::unreachable) != states.end();
  return report;
}

}  // namespace vit
