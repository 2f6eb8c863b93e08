#include "parallel/peer_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <sstream>
#include <utility>

#include "parallel/mpi_context.h"
#include "util/error.h"

namespace vit {
namespace {

static_assert(ProbeKey::kSize == crypto_auth_KEYBYTES, "the key is crypto_auth's");
static_assert(kProbeMacSize == crypto_auth_BYTES, "the MAC is crypto_auth's");

using Clock = std::chrono::steady_clock;
using Request = std::array<unsigned char, kProbeRequestSize>;
using Reply = std::array<unsigned char, kProbeReplySize>;

// Accepting stops for this long after accept() fails for want of descriptors or memory, doubling
// up to kMaxAcceptPause while it keeps failing.
constexpr std::chrono::milliseconds kFirstAcceptPause{100};
constexpr std::chrono::milliseconds kMaxAcceptPause{1000};
// A set of listening sockets on one port is tried on this many ports before an error.
constexpr int kBindTries = 8;

// sodium_init() may be called any number of times, from any thread.
void init_sodium() {
  VIT_CHECK(sodium_init() >= 0, "peer probe: libsodium cannot be initialised (sodium_init)");
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
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
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string system_error(const char* what) {
  return detail::concat(what, ": ", std::strerror(errno));
}

// What the MAC covers: the domain, the prober's nonce and the rank as sent (little-endian).
using MacMessage = std::array<unsigned char, sizeof kProbeDomain - 1 + kProbeNonceSize + 4>;

MacMessage mac_message(const unsigned char* nonce, const unsigned char* rank_bytes) {
  MacMessage message{};
  unsigned char* out = message.data();
  out = std::copy(kProbeDomain, kProbeDomain + sizeof kProbeDomain - 1, out);
  out = std::copy(nonce, nonce + kProbeNonceSize, out);
  std::copy(rank_bytes, rank_bytes + 4, out);
  return message;
}

void put_rank(unsigned char* out, int rank) {
  const auto bits = static_cast<uint32_t>(static_cast<int32_t>(rank));
  for (int i = 0; i < 4; ++i) out[i] = static_cast<unsigned char>(bits >> (8 * i));
}

int get_rank(const unsigned char* in) {
  uint32_t bits = 0;
  for (int i = 0; i < 4; ++i) bits |= static_cast<uint32_t>(in[i]) << (8 * i);
  return static_cast<int32_t>(bits);
}

// The answer of rank `rank` to `nonce`.
Reply reply_of(const ProbeKey& key, const unsigned char* nonce, int rank) {
  Reply reply{};
  put_rank(reply.data(), rank);
  const MacMessage message = mac_message(nonce, reply.data());
  crypto_auth(reply.data() + 4, message.data(), message.size(), key.data());
  return reply;
}

// True when `reply` is rank `rank`'s answer to `nonce` under `key`.
bool reply_verifies(const ProbeKey& key, const unsigned char* nonce, int rank, const Reply& reply) {
  if (get_rank(reply.data()) != rank) return false;
  const MacMessage message = mac_message(nonce, reply.data());
  return crypto_auth_verify(reply.data() + 4, message.data(), message.size(), key.data()) == 0;
}

}  // namespace

ProbeKey ProbeKey::random() {
  init_sodium();
  ProbeKey key;
  randombytes_buf(key.bytes_.data(), key.bytes_.size());
  return key;
}

ProbeKey::~ProbeKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

PeerResponder::PeerResponder(const ProbeKey& key, int rank,
                             const std::vector<std::string>& addresses)
    : key_(key), rank_(rank) {
  init_sodium();
  VIT_CHECK(!addresses.empty(), "rank ", rank, ": peer probe: no address to listen on");
  VIT_CHECK(addresses.size() <= kMaxProbeAddresses, "rank ", rank,
            ": peer probe: ", addresses.size(), " addresses to listen on, at most ",
            kMaxProbeAddresses);
  std::vector<sockaddr_in> where;
  for (const std::string& text : addresses) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    VIT_CHECK(::inet_pton(AF_INET, text.c_str(), &address.sin_addr) == 1, "rank ", rank,
              ": peer probe: '", text, "' is not an IPv4 address");
    VIT_CHECK(address.sin_addr.s_addr != htonl(INADDR_ANY), "rank ", rank,
              ": peer probe: will not listen on the wildcard address ", text);
    where.push_back(address);
  }

  // The first address takes a free port, the others that one. Another program may hold it on
  // one of them: then the whole set again, on another free port.
  std::vector<Fd> sockets;
  for (int attempt = 1;; ++attempt) {
    sockets.clear();
    uint16_t port = 0;
    bool taken = false;
    for (size_t i = 0; i < where.size() && !taken; ++i) {
      sockaddr_in address = where[i];
      address.sin_port = htons(port);
      Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      VIT_CHECK(fd.get() >= 0, "rank ", rank, ": peer probe: ", system_error("socket"));
      if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        const int error = errno;
        if (error == EADDRINUSE && i > 0 && attempt < kBindTries) {
          taken = true;
          continue;
        }
        VIT_FAIL("rank ", rank, ": peer probe: cannot listen on ", addresses[i],
                 i > 0 ? detail::concat(" port ", port) : std::string(), ": ", std::strerror(error),
                 error == EADDRINUSE && i > 0
                     ? detail::concat(" (the port of ", addresses[0], ", on ", kBindTries,
                                      " free ports in a row)")
                     : std::string());
      }
      socklen_t length = sizeof address;
      if (::listen(fd.get(), 64) != 0 ||
          ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        VIT_FAIL("rank ", rank, ": peer probe: ", addresses[i], ": ", system_error("listen"));
      }
      port = ntohs(address.sin_port);
      sockets.push_back(std::move(fd));
    }
    if (!taken) {
      port_ = port;
      break;
    }
  }
  VIT_CHECK(::pipe2(wake_fd_, O_CLOEXEC) == 0, "rank ", rank,
            ": peer probe: ", system_error("pipe"));
  for (Fd& socket : sockets) listen_fds_.push_back(socket.release());
  try {
    thread_ = std::thread([this] { serve(); });
  } catch (...) {
    for (int fd : listen_fds_) ::close(fd);
    ::close(wake_fd_[0]);
    ::close(wake_fd_[1]);
    throw;
  }
}

PeerResponder::~PeerResponder() {
  const char stop = 1;
  if (::write(wake_fd_[1], &stop, 1) != 1) {
    // The pipe cannot be full (one byte, once) nor closed: nothing else to do.
  }
  thread_.join();
  for (int fd : listen_fds_) ::close(fd);
  ::close(wake_fd_[0]);
  ::close(wake_fd_[1]);
}

void PeerResponder::serve() {
  // A connection whose request is still coming; oldest first, so deadlines are in order too.
  struct Client {
    Fd fd;
    Clock::time_point deadline;
    size_t received = 0;
    Request request{};
  };
  std::deque<Client> clients;
  Clock::time_point paused_until{};  // accepting stopped until then (out of descriptors)
  std::chrono::milliseconds pause = kFirstAcceptPause;
  std::vector<pollfd> fds;
  while (true) {
    const auto now = Clock::now();
    clients.erase(std::remove_if(clients.begin(), clients.end(),
                                 [&](const Client& client) { return client.deadline <= now; }),
                  clients.end());  // answered, closed by the client, or out of time
    const bool accepting = now >= paused_until;
    fds.clear();
    fds.push_back({wake_fd_[0], POLLIN, 0});
    if (accepting) {
      for (int fd : listen_fds_) fds.push_back({fd, POLLIN, 0});
    }
    const size_t first_client = fds.size();
    for (const Client& client : clients) fds.push_back({client.fd.get(), POLLIN, 0});
    auto next = Clock::time_point::max();  // the next thing that happens without an event
    if (!clients.empty()) next = clients.front().deadline;
    if (!accepting) next = std::min(next, paused_until);
    int timeout_ms = -1;
    if (next != Clock::time_point::max()) {
      timeout_ms =
          static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents != 0) return;

    for (size_t k = 0; k < clients.size(); ++k) {
      if (fds[first_client + k].revents == 0) continue;
      Client& client = clients[k];
      const ssize_t got = ::recv(client.fd.get(), client.request.data() + client.received,
                                 kProbeRequestSize - client.received, 0);
      if (got > 0) {
        client.received += static_cast<size_t>(got);
        if (client.received < kProbeRequestSize) continue;
        if (std::memcmp(client.request.data(), kProbeMagic, sizeof kProbeMagic) == 0) {
          // 36 bytes fit any socket buffer: one non-blocking send, and the connection is closed.
          const Reply reply = reply_of(key_, client.request.data() + sizeof kProbeMagic, rank_);
          (void)::send(client.fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
        }
        client.deadline = Clock::time_point::min();  // done: closed at the top
      } else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        client.deadline = Clock::time_point::min();
      }
    }

    if (!accepting) continue;
    for (size_t i = 0; i < listen_fds_.size(); ++i) {
      if ((fds[1 + i].revents & POLLIN) == 0) continue;
      Fd client(::accept4(listen_fds_[i], nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (client.get() < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) {
          continue;
        }
        // Out of descriptors (EMFILE, ENFILE) or memory: the connection stays queued and poll
        // would report it again at once, for ever. Stop listening for a while instead.
        paused_until = Clock::now() + pause;
        pause = std::min(pause * 2, kMaxAcceptPause);
        break;
      }
      pause = kFirstAcceptPause;
      if (clients.size() == kProbeMaxPending) clients.pop_front();  // the oldest goes
      clients.push_back(Client{std::move(client), Clock::now() + seconds(kProbeClientDeadlineS)});
    }
  }
}

std::vector<PeerState> probe_peers(const std::vector<PeerAddress>& peers, const ProbeKey& key,
                                   double wait_s) {
  init_sodium();
  enum class Try { connecting, connected, answered, refused, failed };
  struct Attempt {
    size_t peer;
    Fd fd;
    Try state = Try::connecting;
    Request request{};  // the magic and this attempt's own nonce
    size_t sent = 0;
    Reply reply{};
    size_t received = 0;
  };
  std::vector<Attempt> attempts;
  for (size_t p = 0; p < peers.size(); ++p) {
    const auto& addresses = peers[p].addresses;
    for (size_t a = 0; a < std::min(addresses.size(), kMaxProbeAddresses); ++a) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<uint16_t>(peers[p].port));
      if (::inet_pton(AF_INET, addresses[a].c_str(), &address.sin_addr) != 1) continue;
      Attempt attempt{p, Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))};
      if (attempt.fd.get() < 0) continue;
      std::memcpy(attempt.request.data(), kProbeMagic, sizeof kProbeMagic);
      randombytes_buf(attempt.request.data() + sizeof kProbeMagic, kProbeNonceSize);
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

  const auto deadline = Clock::now() + seconds(std::max(wait_s, 0.0));
  while (true) {
    std::vector<pollfd> fds;
    std::vector<size_t> which;
    for (size_t i = 0; i < attempts.size(); ++i) {
      const Attempt& attempt = attempts[i];
      short events = 0;
      if (attempt.state == Try::connecting) events = POLLOUT;
      if (attempt.state == Try::connected) {
        events = attempt.sent < kProbeRequestSize ? POLLOUT : POLLIN;
      }
      if (events == 0) continue;
      fds.push_back({attempt.fd.get(), events, 0});
      which.push_back(i);
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
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
        continue;  // the request goes out at the next round, when the socket takes it
      }
      if (attempt.sent < kProbeRequestSize) {
        const ssize_t put = ::send(attempt.fd.get(), attempt.request.data() + attempt.sent,
                                   kProbeRequestSize - attempt.sent, MSG_NOSIGNAL);
        if (put > 0) {
          attempt.sent += static_cast<size_t>(put);
        } else if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          attempt.state = Try::failed;  // reset before it took the request: not one of ours
        }
        continue;
      }
      const ssize_t got = ::recv(attempt.fd.get(), attempt.reply.data() + attempt.received,
                                 kProbeReplySize - attempt.received, 0);
      if (got > 0) {
        attempt.received += static_cast<size_t>(got);
        if (attempt.received == kProbeReplySize) {
          const bool ours = reply_verifies(key, attempt.request.data() + sizeof kProbeMagic,
                                           peers[attempt.peer].rank, attempt.reply);
          attempt.state = ours ? Try::answered : Try::failed;  // another job's or program's port
        }
      } else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
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
      if (::inet_ntop(AF_INET, &address->sin_addr, text, sizeof text) != nullptr &&
          std::find(out.begin(), out.end(), text) == out.end() && out.size() < kMaxProbeAddresses) {
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

// The job's key: random bytes on rank 0, carried to the others by MPI, the only channel trusted.
ProbeKey job_key(MPI_Comm comm, int rank) {
  ProbeKey key;
  if (rank == 0) key = ProbeKey::random();
  check_mpi(MPI_Bcast(key.data(), static_cast<int>(ProbeKey::kSize), MPI_UNSIGNED_CHAR, 0, comm),
            "MPI_Bcast");
  return key;
}

// True when every rank of `comm` runs on this machine (what MPI counts as one shared-memory node:
// the launcher's hosts, not host names, which network namespaces may share).
bool one_machine(MPI_Comm comm, int rank, int world_size) {
  MPI_Comm local = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local),
            "MPI_Comm_split_type");
  int local_size = 0;
  const int code = MPI_Comm_size(local, &local_size);
  MPI_Comm_free(&local);
  check_mpi(code, "MPI_Comm_size");
  return local_size == world_size;
}

}  // namespace

PeerProbe::PeerProbe(MPI_Comm comm) {
  int rank = 0, world_size = 1;
  check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm, &world_size), "MPI_Comm_size");
  if (world_size == 1) return;
  key_ = job_key(comm, rank);
  PeerAddress me;
  me.rank = rank;
  me.pid = static_cast<int>(::getpid());
  // One machine: loopback only, nothing reachable from elsewhere. Else the addresses the other
  // machines may reach this one at, each listened on alone (never the wildcard).
  me.addresses = one_machine(comm, rank, world_size) ? std::vector<std::string>{"127.0.0.1"}
                                                     : local_addresses();
  responder_ = std::make_unique<PeerResponder>(key_, rank, me.addresses);
  me.port = responder_->port();
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  MPI_Get_processor_name(name, &length);
  me.host.assign(name, static_cast<size_t>(length));
  const std::vector<std::string> all = all_gather(comm, encode(me));
  for (int r = 0; r < static_cast<int>(all.size()); ++r) {
    if (r != rank) peers_.push_back(decode(all[static_cast<size_t>(r)], r));
  }
}

PeerProbe::Report PeerProbe::diagnose(double wait_s) const {
  const std::vector<PeerState> states = probe_peers(peers_, key_, wait_s);
  Report report;
  report.text = describe_peers(peers_, states);
  report.unreachable =
      std::find(states.begin(), states.end(), PeerState::unreachable) != states.end();
  return report;
}

}  // namespace vit
