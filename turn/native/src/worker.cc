// Worker threads: one epoll set each (its listener sockets, the relay sockets of its allocations,
// an eventfd to stop), batched receive (recvmmsg) and send (sendmmsg). The worker holds its mutex
// while it handles one round of events, so control updates from JavaScript apply between rounds.
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cstdio>

#include "datapath.h"

namespace turn_native {

namespace {
constexpr uint64_t kTagMask = 3ull << 62;
constexpr uint64_t kTagListener = 1ull << 62;
constexpr uint64_t kTagRelay = 2ull << 62;
// recvmmsg rounds per socket per wakeup, so one busy socket cannot starve the others.
constexpr int kRoundsPerEvent = 4;
}  // namespace

Ctx Worker::ctx(uint64_t nowNs) {
  Ctx c;
  c.policy = &dp->policy;
  c.g = &counters;
  c.ports = &dp->ports;
  c.handoff = &handoff;
  c.nowNs = nowNs;
  c.out = out.data();
  c.nOut = 0;
  c.worker = index;
  c.listenerFds = &listenerFds;
  c.handleOf = &DataPath::handleOf;
  c.clients = &clients;
  c.known = &dp->o.knownRequired;
  return c;
}

Alloc* Worker::lookup(uint64_t token) {
  uint32_t slot = uint32_t(token & 0xFFFFFFFFu);
  uint32_t gen = uint32_t((token >> 32) & 0xFFFFFF);
  if (slot >= slots.size() || slots[slot] == nullptr || gens[slot] != gen) return nullptr;
  return slots[slot];
}

void Worker::flush(Ctx& c) {
  size_t n = c.nOut;
  if (n == 0) return;
  // Stable sort by socket so each socket gets one sendmmsg; order per socket (per allocation) is kept.
  for (size_t i = 0; i < n; i++) {
    uint32_t v = uint32_t(i);
    size_t j = i;
    while (j > 0 && out[order[j - 1]].fd > out[v].fd) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = v;
  }
  size_t i = 0;
  while (i < n) {
    int fd = out[order[i]].fd;
    size_t cnt = 0;
    while (i + cnt < n && out[order[i + cnt]].fd == fd) {
      OutMsg& m = out[order[i + cnt]];
      msghdr& h = smsgs[cnt].msg_hdr;
      h.msg_name = &m.dst;
      h.msg_namelen = m.dstLen;
      h.msg_iov = m.iov;
      h.msg_iovlen = size_t(m.iovcnt);
      h.msg_control = nullptr;
      h.msg_controllen = 0;
      h.msg_flags = 0;
      smsgs[cnt].msg_len = 0;
      cnt++;
    }
    size_t sent = 0;
    while (sent < cnt) {
      int r = sendmmsg(fd, &smsgs[sent], unsigned(cnt - sent), MSG_DONTWAIT);
      if (r > 0) {
        sent += size_t(r);
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      // The first unsent datagram failed (buffer full, unreachable...): count it, try the rest.
      c.drop(out[order[i + sent]].onError);
      sent++;
    }
    i += cnt;
  }
  c.nOut = 0;
}

void Worker::readSocket(int fd, int group, Alloc* a) {
  size_t b = rmsgs.size();
  size_t stride = rx.size() / b;
  for (int round = 0; round < kRoundsPerEvent; round++) {
    for (size_t i = 0; i < b; i++) {
      riov[i].iov_base = rx.data() + i * stride + kHeadroom;
      riov[i].iov_len = dp->o.maxDatagram;
      msghdr& h = rmsgs[i].msg_hdr;
      h.msg_name = &raddrs[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &riov[i];
      h.msg_iovlen = 1;
      h.msg_control = nullptr;
      h.msg_controllen = 0;
      h.msg_flags = 0;
      rmsgs[i].msg_len = 0;
    }
    int n = recvmmsg(fd, rmsgs.data(), unsigned(b), MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && a != nullptr) counters.drops[D_RELAY_SOCKET_ERROR].add(1);
      return;
    }
    if (n == 0) return;
    Ctx c = ctx(monotonicNs());
    for (int i = 0; i < n; i++) {
      size_t len = rmsgs[size_t(i)].msg_len;
      if (rmsgs[size_t(i)].msg_hdr.msg_flags & MSG_TRUNC) {
        c.drop(D_TRUNCATED);
        continue;
      }
      Addr from = Addr::fromSockaddr(reinterpret_cast<sockaddr*>(&raddrs[size_t(i)]));
      uint8_t* data = rx.data() + size_t(i) * stride + kHeadroom;
      if (a != nullptr)
        onPeerDatagram(c, a, from, data, len);
      else
        onListenerDatagram(c, group, from, data, len);
    }
    flush(c);
    if (c.wroteHandoff) wantNotify = true;
    if (size_t(n) < b) return;
  }
}

void Worker::loop() {
  // Named so that top -H, ps -L and /proc/PID/task/*/comm show how the relaying spreads over threads.
  char name[16];
  std::snprintf(name, sizeof(name), "turn-worker-%d", index);
  pthread_setname_np(pthread_self(), name);
  epoll_event events[64];
  while (!dp->stopping.load(std::memory_order_relaxed)) {
    int n = epoll_wait(epfd, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (dp->stopping.load(std::memory_order_relaxed)) break;
    {
      std::lock_guard<std::mutex> l(mu);
      for (int i = 0; i < n; i++) {
        uint64_t token = events[i].data.u64;
        uint64_t tag = token & kTagMask;
        if (tag == kTagListener) {
          size_t g = size_t(token & 0xFFFF);
          if (g < listenerFds.size()) readSocket(listenerFds[g], int(g), nullptr);
        } else if (tag == kTagRelay) {
          Alloc* a = lookup(token);
          if (a != nullptr) readSocket(a->fd, -1, a);
        } else {
          uint64_t v;
          ssize_t r = read(evfd, &v, sizeof(v));
          (void)r;
        }
      }
    }
    if (wantNotify) {
      wantNotify = false;
      if (!notifyPending.exchange(true) && dp->notify != nullptr) dp->notify(dp, index);
    }
  }
}

}  // namespace turn_native
