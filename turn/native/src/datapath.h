// The native data path: worker threads (epoll + recvmmsg/sendmmsg), listener socket groups
// (SO_REUSEPORT, one socket per worker), relay sockets (one per allocation, on the worker that
// received its Allocate), and the control operations JavaScript calls. Every method is called
// on the JavaScript thread; workers only run Worker::loop.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <string>
#include <thread>

#include "relay.h"

namespace turn_native {

struct Options {
  int threads = 0;             // 0 = number of CPUs, capped at 8
  int batch = 32;              // datagrams per recvmmsg/sendmmsg
  size_t maxDatagram = 65536;  // receive buffer per datagram, bytes (larger ones are dropped: truncated)
  size_t handoffEntries = 1024;    // per worker and side
  size_t handoffBytes = 512 * 1024;  // per worker and side
  uint32_t maxAllocationsPerWorker = 65536;
  int listenerBufferBytes = 4 * 1024 * 1024;
  int relayBufferBytes = 1024 * 1024;
  KnownAttrs knownRequired;  // set once by create(), read by the workers (never changes)
};

struct DataPath;

struct Worker {
  DataPath* dp = nullptr;
  int index = 0;
  std::thread thread;
  int epfd = -1, evfd = -1;
  std::mutex mu;  // guards everything below except the batch buffers (worker-only) and handoff (own lock)
  std::vector<Alloc*> slots;
  std::vector<uint32_t> gens;
  std::vector<uint32_t> freeSlots;
  std::vector<int> listenerFds;  // per group
  std::vector<std::unordered_map<Addr, Alloc*, AddrHash>> clients;  // per group
  size_t allocCount = 0;
  GlobalCounters counters;
  Handoff handoff;
  std::atomic<bool> notifyPending{false};
  bool wantNotify = false;  // worker thread only
  // Batch buffers, touched only by the worker thread.
  Bytes rx;
  std::vector<mmsghdr> rmsgs, smsgs;
  std::vector<iovec> riov;
  std::vector<sockaddr_storage> raddrs;
  std::vector<OutMsg> out;
  std::vector<uint32_t> order;

  void loop();
  Ctx ctx(uint64_t nowNs);
  void readSocket(int fd, int group, Alloc* a);
  void flush(Ctx& c);
  Alloc* lookup(uint64_t token);
};

struct Group {
  Addr local;
  std::vector<int> fds;  // one per worker
};

struct DataPath {
  Options o;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<Group> groups;
  Policy policy;
  RelayPortMap ports;
  std::mutex heldMu;
  std::unordered_map<int, Addr> held;  // bound relay sockets not yet given to an allocation
  std::atomic<bool> stopping{false};
  bool started = false, stopped = false;
  size_t nextWorker = 0;
  // Called (from a worker) when its hand-off queue got entries and no notification is pending.
  void (*notify)(DataPath*, int worker) = nullptr;
  void* notifyData = nullptr;

  explicit DataPath(const Options& opts);
  ~DataPath();
  // Bind one SO_REUSEPORT socket per worker on ip:port (port 0: the kernel picks one for all).
  // @returns the group index, or -errno; *boundPort gets the port.
  int addListener(const Addr& local, uint16_t* boundPort);
  void setPolicy(const Policy& p);
  // Start the worker threads. @returns 0 or -errno.
  int start();
  // Stop and join the workers, close every socket. Idempotent.
  void stop();
  // Send a datagram from a listener group (STUN responses). @returns 0 or errno.
  int sendFromListener(int group, const Addr& to, const uint8_t* data, size_t len);
  // Bind a relay socket on ip:port. @returns the socket id (>= 0) or -errno; *boundPort gets the port.
  int bindRelay(const Addr& local, uint16_t* boundPort);
  // Close a bound relay socket not given to an allocation. @returns false when no such socket.
  bool closeRelay(int id);
  // Give a bound relay socket to a new allocation on `worker` (-1: round robin). @returns the
  // handle (> 0), or a negative error: -1 bad socket, -2 bad worker/group, -3 allocation limit,
  // -4 client already has an allocation, -5 epoll failure.
  double createAllocation(int socketId, int worker, bool stream, int group, const Addr& client, const uint8_t tid[12], uint64_t maxBps);
  // Run `fn` with the allocation locked. @returns false when the handle is unknown (ended).
  template <typename F>
  bool withAlloc(double handle, F fn);
  bool endAllocation(double handle);
  static double handleOf(const Alloc* a);
  void sumCounters(GlobalCounters* out) const;
};

template <typename F>
bool DataPath::withAlloc(double handle, F fn) {
  if (!(handle > 0)) return false;
  uint64_t h = uint64_t(handle);
  size_t w = (h >> 20) & 0xFF;
  uint32_t slot = uint32_t(h & 0xFFFFF);
  uint32_t gen = uint32_t(h >> 28);
  if (w >= workers.size()) return false;
  Worker& wk = *workers[w];
  std::lock_guard<std::mutex> l(wk.mu);
  if (slot >= wk.slots.size() || wk.slots[slot] == nullptr || (wk.gens[slot] & 0xFFFFFF) != gen) return false;
  fn(wk, wk.slots[slot]);
  return true;
}

}  // namespace turn_native
