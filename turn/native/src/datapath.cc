// Control operations of the data path (JavaScript thread): sockets, allocations, lifecycle.
#include "datapath.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace turn_native {

namespace {

constexpr uint64_t kTagListener = 1ull << 62;
constexpr uint64_t kTagRelay = 2ull << 62;

// A non-blocking, close-on-exec UDP socket bound to `local`. @returns fd or -errno.
int openUdp(const Addr& local, bool reusePort, int bufBytes, uint16_t* boundPort) {
  int fd = socket(local.family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  if (local.family == 6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (reusePort && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  // Best effort: the kernel caps these at net.core.rmem_max / wmem_max.
  if (bufBytes > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufBytes, sizeof(bufBytes));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufBytes, sizeof(bufBytes));
  }
  sockaddr_storage ss;
  socklen_t len = local.toSockaddr(&ss);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  *boundPort = Addr::fromSockaddr(reinterpret_cast<sockaddr*>(&ss)).port;
  return fd;
}

}  // namespace

DataPath::DataPath(const Options& opts) : o(opts) {
  int n = o.threads;
  if (n <= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    n = cpus > 0 ? int(cpus) : 1;
    if (n > 8) n = 8;
  }
  if (n > 64) n = 64;
  if (o.batch < 1) o.batch = 1;
  if (o.batch > 256) o.batch = 256;
  if (o.maxDatagram < 64) o.maxDatagram = 64;
  if (o.maxDatagram > 65536) o.maxDatagram = 65536;
  if (o.maxAllocationsPerWorker > (1u << 20) - 1) o.maxAllocationsPerWorker = (1u << 20) - 1;
  for (int i = 0; i < n; i++) {
    auto w = std::make_unique<Worker>();
    w->dp = this;
    w->index = i;
    w->handoff.init(o.handoffEntries, o.handoffBytes);
    size_t stride = kHeadroom + o.maxDatagram;
    stride = (stride + 63) & ~size_t(63);
    size_t b = size_t(o.batch);
    w->rx.resize(stride * b);
    w->rmsgs.resize(b);
    w->smsgs.resize(b);
    w->riov.resize(b);
    w->raddrs.resize(b);
    w->out.resize(b + 1);
    w->order.resize(b + 1);
    workers.push_back(std::move(w));
  }
}

DataPath::~DataPath() { stop(); }

int DataPath::addListener(const Addr& local, uint16_t* boundPort) {
  if (stopped) return -EBADF;
  Group g;
  g.local = local;
  uint16_t port = local.port;
  {
    // SO_REUSEPORT would let this group join sockets that another process (or relay) of the same
    // user already has on the port, silently sharing its traffic. An exclusive bind first makes a
    // taken port fail with EADDRINUSE, as Node's exclusive bind does (and picks the port for 0).
    int probe = openUdp(local, false, 0, &port);
    if (probe < 0) return probe;
    close(probe);
  }
  for (size_t i = 0; i < workers.size(); i++) {
    Addr a = local;
    a.port = port;
    int fd = openUdp(a, true, o.listenerBufferBytes, &port);
    if (fd < 0) {
      for (int f : g.fds) close(f);
      return fd;
    }
    g.fds.push_back(fd);
  }
  g.local.port = port;
  int index = int(groups.size());
  for (size_t i = 0; i < workers.size(); i++) {
    Worker& w = *workers[i];
    std::lock_guard<std::mutex> l(w.mu);
    w.listenerFds.push_back(g.fds[i]);
    w.clients.emplace_back();
    if (w.epfd >= 0) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kTagListener | uint64_t(index);
      epoll_ctl(w.epfd, EPOLL_CTL_ADD, g.fds[i], &ev);
    }
  }
  groups.push_back(g);
  *boundPort = port;
  return index;
}

void DataPath::setPolicy(const Policy& p) {
  // Workers read the policy under their own lock: take them all (in order) to replace it.
  std::vector<std::unique_lock<std::mutex>> locks;
  for (auto& w : workers) locks.emplace_back(w->mu);
  policy = p;
}

int DataPath::start() {
  if (started || stopped) return -EALREADY;
  for (size_t i = 0; i < workers.size(); i++) {
    Worker& w = *workers[i];
    w.epfd = epoll_create1(EPOLL_CLOEXEC);
    w.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w.epfd < 0 || w.evfd < 0) {
      int e = errno;
      stop();
      return -e;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;
    epoll_ctl(w.epfd, EPOLL_CTL_ADD, w.evfd, &ev);
    std::lock_guard<std::mutex> l(w.mu);
    for (size_t g = 0; g < w.listenerFds.size(); g++) {
      ev.data.u64 = kTagListener | uint64_t(g);
      epoll_ctl(w.epfd, EPOLL_CTL_ADD, w.listenerFds[g], &ev);
    }
    // Allocations created before start().
    for (Alloc* a : w.slots) {
      if (a == nullptr) continue;
      ev.data.u64 = kTagRelay | (uint64_t(a->gen) << 32) | a->slot;
      epoll_ctl(w.epfd, EPOLL_CTL_ADD, a->fd, &ev);
    }
  }
  started = true;
  for (auto& w : workers) {
    Worker* wp = w.get();
    wp->thread = std::thread([wp] { wp->loop(); });
  }
  return 0;
}

void DataPath::stop() {
  if (stopped) return;
  stopped = true;
  stopping.store(true);
  for (auto& w : workers) {
    if (w->evfd >= 0) {
      uint64_t one = 1;
      ssize_t r = write(w->evfd, &one, sizeof(one));
      (void)r;
    }
  }
  for (auto& w : workers)
    if (w->thread.joinable()) w->thread.join();
  for (auto& w : workers) {
    std::lock_guard<std::mutex> l(w->mu);
    for (Alloc*& a : w->slots) {
      if (a == nullptr) continue;
      close(a->fd);
      delete a;
      a = nullptr;
    }
    for (auto& m : w->clients) m.clear();
    w->allocCount = 0;
    if (w->epfd >= 0) close(w->epfd);
    if (w->evfd >= 0) close(w->evfd);
    w->epfd = w->evfd = -1;
    w->listenerFds.clear();
  }
  for (Group& g : groups)
    for (int fd : g.fds) close(fd);
  groups.clear();
  {
    std::lock_guard<std::mutex> l(heldMu);
    for (auto& kv : held) close(kv.first);
    held.clear();
  }
  std::lock_guard<std::mutex> l(ports.mu);
  ports.byPort.clear();
}

int DataPath::sendFromListener(int group, const Addr& to, const uint8_t* data, size_t len) {
  if (stopped || group < 0 || size_t(group) >= groups.size()) return EBADF;
  if (to.family != groups[size_t(group)].local.family || to.port == 0) return EINVAL;
  sockaddr_storage ss;
  socklen_t sl = to.toSockaddr(&ss);
  ssize_t r = sendto(groups[size_t(group)].fds[0], data, len, 0, reinterpret_cast<sockaddr*>(&ss), sl);
  return r < 0 ? errno : 0;
}

int DataPath::bindRelay(const Addr& local, uint16_t* boundPort) {
  if (stopped) return -EBADF;
  int fd = openUdp(local, false, o.relayBufferBytes, boundPort);
  if (fd < 0) return fd;
  Addr a = local;
  a.port = *boundPort;
  std::lock_guard<std::mutex> l(heldMu);
  held[fd] = a;
  return fd;
}

bool DataPath::closeRelay(int id) {
  std::lock_guard<std::mutex> l(heldMu);
  auto it = held.find(id);
  if (it == held.end()) return false;
  close(id);
  held.erase(it);
  return true;
}

double DataPath::handleOf(const Alloc* a) {
  return double((uint64_t(a->gen & 0xFFFFFF) << 28) | (uint64_t(a->worker) << 20) | a->slot);
}

double DataPath::createAllocation(int socketId, int worker, bool stream, int group, const Addr& client, const uint8_t tid[12], uint64_t maxBps) {
  if (stopped) return -1;
  if (worker < 0) worker = int(nextWorker++ % workers.size());
  if (size_t(worker) >= workers.size()) return -2;
  if (!stream && (group < 0 || size_t(group) >= groups.size() || client.family != groups[size_t(group)].local.family)) return -2;
  Addr relay;
  {
    std::lock_guard<std::mutex> l(heldMu);
    auto it = held.find(socketId);
    if (it == held.end()) return -1;
    relay = it->second;
  }
  Worker& w = *workers[size_t(worker)];
  std::lock_guard<std::mutex> l(w.mu);
  if (!stream && w.clients[size_t(group)].count(client)) return -4;
  uint32_t slot;
  if (!w.freeSlots.empty()) {
    slot = w.freeSlots.back();
  } else {
    if (w.slots.size() >= o.maxAllocationsPerWorker) return -3;
    slot = uint32_t(w.slots.size());
  }
  auto* a = new Alloc();
  a->slot = slot;
  a->worker = worker;
  a->fd = socketId;
  a->relay = relay;
  a->stream = stream;
  a->group = stream ? -1 : group;
  a->client = client;
  std::memcpy(a->tid, tid, 12);
  uint64_t now = monotonicNs();
  a->up.setRate(maxBps, now);
  a->down.setRate(maxBps, now);
  if (slot == w.slots.size()) {
    w.slots.push_back(nullptr);
    w.gens.push_back(0);
  } else {
    w.freeSlots.pop_back();
  }
  uint32_t gen = (w.gens[slot] + 1) & 0xFFFFFF;
  if (gen == 0) gen = 1;
  w.gens[slot] = gen;
  a->gen = gen;
  if (w.epfd >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTagRelay | (uint64_t(gen) << 32) | slot;
    if (epoll_ctl(w.epfd, EPOLL_CTL_ADD, a->fd, &ev) != 0) {
      w.freeSlots.push_back(slot);
      delete a;
      return -5;
    }
  }
  {
    std::lock_guard<std::mutex> hl(heldMu);
    held.erase(socketId);
  }
  w.slots[slot] = a;
  w.allocCount++;
  if (!stream) w.clients[size_t(group)][client] = a;
  {
    std::lock_guard<std::mutex> pl(ports.mu);
    ports.byPort[relay.port] = relay;
  }
  return handleOf(a);
}

bool DataPath::endAllocation(double handle) {
  Alloc* gone = nullptr;
  bool ok = withAlloc(handle, [&](Worker& w, Alloc* a) {
    if (!a->stream && a->group >= 0) {
      auto& m = w.clients[size_t(a->group)];
      auto it = m.find(a->client);
      if (it != m.end() && it->second == a) m.erase(it);
    }
    // Closing the fd removes it from the epoll set; an event already returned by epoll_wait for
    // it carries the old generation and is ignored (Worker::lookup).
    if (w.epfd >= 0) epoll_ctl(w.epfd, EPOLL_CTL_DEL, a->fd, nullptr);
    close(a->fd);
    w.slots[a->slot] = nullptr;
    w.freeSlots.push_back(a->slot);
    w.allocCount--;
    gone = a;
  });
  if (!ok) return false;
  {
    std::lock_guard<std::mutex> pl(ports.mu);
    auto it = ports.byPort.find(gone->relay.port);
    if (it != ports.byPort.end() && it->second == gone->relay) ports.byPort.erase(it);
  }
  delete gone;
  return true;
}

void DataPath::sumCounters(GlobalCounters* out) const {
  for (const auto& w : workers) {
    const GlobalCounters& c = w->counters;
    out->c2pPackets.add(c.c2pPackets.get());
    out->c2pBytes.add(c.c2pBytes.get());
    out->c2pChannel.add(c.c2pChannel.get());
    out->p2cPackets.add(c.p2cPackets.get());
    out->p2cBytes.add(c.p2cBytes.get());
    out->p2cChannel.add(c.p2cChannel.get());
    out->toJs.add(c.toJs.get());
    out->ignored.add(c.ignored.get());
    for (int d = 0; d < D_COUNT; d++) out->drops[d].add(c.drops[d].get());
  }
}

}  // namespace turn_native
