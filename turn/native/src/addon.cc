// N-API bindings of the native data path (node_api.h only, NAPI_VERSION 8). Every function takes
// the instance (an external from create()) first. Bad arguments throw TypeError; runtime results
// are values (error codes as strings), never exceptions.
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>

#include <cstdio>
#include <string>

#include "datapath.h"

#ifdef TURN_NATIVE_BREAK_BUILD
#error "build broken on purpose (TURN_NATIVE_BREAK_BUILD=1)"
#endif

using namespace turn_native;

namespace {

struct Instance {
  DataPath* dp = nullptr;
  napi_threadsafe_function tsfn = nullptr;
  napi_env env = nullptr;
  std::atomic<int> refs{1};
  bool hook = false;
};

void unref(Instance* inst) {
  if (inst->refs.fetch_sub(1) == 1) {
    delete inst->dp;
    delete inst;
  }
}

#define CHECK(call)                                   \
  do {                                                \
    if ((call) != napi_ok) return throwType(env, #call); \
  } while (0)

napi_value throwType(napi_env env, const char* what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_type_error(env, nullptr, what);
  return nullptr;
}

napi_value undef(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}
napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}
napi_value str(napi_env env, const char* s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}
napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}
void set(napi_env env, napi_value obj, const char* key, napi_value v) { napi_set_named_property(env, obj, key, v); }

const char* errnoName(int e) {
  switch (e) {
    case EADDRINUSE: return "EADDRINUSE";
    case EACCES: return "EACCES";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAGAIN: return "EAGAIN";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ENOBUFS: return "ENOBUFS";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EPERM: return "EPERM";
    case EMSGSIZE: return "EMSGSIZE";
    case EALREADY: return "EALREADY";
    default: return "EIO";
  }
}

// Arguments: up to 8, the first one the instance.
struct Args {
  napi_value v[8];
  size_t n = 8;
  Instance* inst = nullptr;
};

bool getArgs(napi_env env, napi_callback_info info, Args* a, size_t need) {
  if (napi_get_cb_info(env, info, &a->n, a->v, nullptr, nullptr) != napi_ok || a->n < need) {
    napi_throw_type_error(env, nullptr, "missing arguments");
    return false;
  }
  void* p = nullptr;
  if (napi_get_value_external(env, a->v[0], &p) != napi_ok || p == nullptr) {
    napi_throw_type_error(env, nullptr, "not a data path instance");
    return false;
  }
  a->inst = static_cast<Instance*>(p);
  return true;
}

bool getAddr(napi_env env, napi_value ipv, napi_value portv, Addr* out) {
  char buf[64];
  size_t len = 0;
  uint32_t port = 0;
  if (napi_get_value_string_utf8(env, ipv, buf, sizeof(buf), &len) != napi_ok || len >= sizeof(buf) - 1) return false;
  if (portv != nullptr && (napi_get_value_uint32(env, portv, &port) != napi_ok || port > 65535)) return false;
  return Addr::parse(buf, uint16_t(port), out);
}

bool getNumber(napi_env env, napi_value v, double* out) { return napi_get_value_double(env, v, out) == napi_ok; }

bool prop(napi_env env, napi_value obj, const char* key, napi_value* out) {
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return false;
  if (napi_get_named_property(env, obj, key, out) != napi_ok) return false;
  napi_valuetype t;
  napi_typeof(env, *out, &t);
  return t != napi_undefined && t != napi_null;
}

double propNumber(napi_env env, napi_value obj, const char* key, double dflt) {
  napi_value v;
  double d;
  if (!prop(env, obj, key, &v) || !getNumber(env, v, &d)) return dflt;
  return d;
}

void finalizeExternal(napi_env, void* data, void*) { unref(static_cast<Instance*>(data)); }

// Hand-off notification from a worker thread.
void notifyFromWorker(DataPath* dp, int worker) {
  auto* inst = static_cast<Instance*>(dp->notifyData);
  if (inst->tsfn == nullptr || napi_call_threadsafe_function(inst->tsfn, reinterpret_cast<void*>(intptr_t(worker)), napi_tsfn_nonblocking) != napi_ok)
    dp->workers[size_t(worker)]->notifyPending.store(false);
}

// On the JavaScript thread: drain one worker's hand-off queue into an array of packets.
void callJs(napi_env env, napi_value cb, void* context, void* data) {
  auto* inst = static_cast<Instance*>(context);
  size_t w = size_t(reinterpret_cast<intptr_t>(data));
  if (w >= inst->dp->workers.size()) return;
  Worker& wk = *inst->dp->workers[w];
  wk.notifyPending.store(false);
  Handoff::Side* s = wk.handoff.swap();
  if (env == nullptr || cb == nullptr || s->count == 0) {
    s->used = s->count = 0;
    return;
  }
  napi_value arr;
  napi_create_array_with_length(env, s->count, &arr);
  char ip[64];
  for (size_t i = 0; i < s->count; i++) {
    const Handoff::Entry& e = s->entries[i];
    napi_value o, buf;
    napi_create_object(env, &o);
    void* dst = nullptr;
    napi_create_buffer_copy(env, e.len, s->bytes.data() + e.off, &dst, &buf);
    e.remote.format(ip, sizeof(ip));
    set(env, o, "kind", str(env, e.kind == Handoff::kStun ? "stun" : "toClient"));
    set(env, o, "worker", num(env, double(w)));
    set(env, o, "group", num(env, e.group));
    set(env, o, "address", str(env, ip));
    set(env, o, "port", num(env, e.remote.port));
    set(env, o, "handle", num(env, e.handle));
    set(env, o, "data", buf);
    napi_set_element(env, arr, uint32_t(i), o);
  }
  s->used = s->count = 0;
  napi_value recv = undef(env), result;
  napi_call_function(env, recv, cb, 1, &arr, &result);
}

void finalizeTsfn(napi_env, void* data, void*) { unref(static_cast<Instance*>(data)); }

void cleanupHook(void* arg) {
  auto* inst = static_cast<Instance*>(arg);
  inst->hook = false;
  inst->dp->stop();
}

// create(options, onPackets) → instance
napi_value Create(napi_env env, napi_callback_info info) {
  size_t n = 2;
  napi_value v[2];
  CHECK(napi_get_cb_info(env, info, &n, v, nullptr, nullptr));
  if (n < 2) return throwType(env, "create(options, onPackets)");
  napi_valuetype t;
  napi_typeof(env, v[1], &t);
  if (t != napi_function) return throwType(env, "onPackets must be a function");
  Options o;
  o.threads = int(propNumber(env, v[0], "threads", 0));
  o.batch = int(propNumber(env, v[0], "batch", 32));
  o.maxDatagram = size_t(propNumber(env, v[0], "maxDatagram", 65536));
  o.handoffEntries = size_t(propNumber(env, v[0], "handoffEntries", 1024));
  o.handoffBytes = size_t(propNumber(env, v[0], "handoffBytes", 512 * 1024));
  o.maxAllocationsPerWorker = uint32_t(propNumber(env, v[0], "maxAllocationsPerWorker", 65536));
  if (o.handoffEntries < 1 || o.handoffEntries > 1 << 20 || o.handoffBytes < 65536 + 64 || o.handoffBytes > 64u << 20)
    return throwType(env, "handoffEntries 1..1048576, handoffBytes 65600..64 MiB");
  // The comprehension-required attributes JavaScript understands: one list, passed down (required).
  napi_value known;
  uint32_t knownLen = 0;
  bool isArray = false;
  if (!prop(env, v[0], "knownRequired", &known) || napi_is_array(env, known, &isArray) != napi_ok || !isArray || napi_get_array_length(env, known, &knownLen) != napi_ok)
    return throwType(env, "knownRequired: array of attribute types 0x0000-0x7FFF");
  for (uint32_t i = 0; i < knownLen; i++) {
    napi_value e;
    uint32_t t = 0;
    if (napi_get_element(env, known, i, &e) != napi_ok || napi_get_value_uint32(env, e, &t) != napi_ok || t > 0x7FFF)
      return throwType(env, "knownRequired: array of attribute types 0x0000-0x7FFF");
    o.knownRequired.set(t);
  }
  auto* inst = new Instance();
  inst->dp = new DataPath(o);
  inst->env = env;
  inst->dp->notify = notifyFromWorker;
  inst->dp->notifyData = inst;
  napi_value name = str(env, "turn-native-data-path");
  inst->refs.fetch_add(1);
  if (napi_create_threadsafe_function(env, v[1], nullptr, name, 0, 1, inst, finalizeTsfn, inst, callJs, &inst->tsfn) != napi_ok) {
    inst->refs.fetch_sub(1);
    unref(inst);
    return throwType(env, "napi_create_threadsafe_function failed");
  }
  // Not keeping the process alive until start().
  napi_unref_threadsafe_function(env, inst->tsfn);
  napi_value ext;
  if (napi_create_external(env, inst, finalizeExternal, nullptr, &ext) != napi_ok) {
    unref(inst);
    return throwType(env, "napi_create_external failed");
  }
  return ext;
}

// info(dp) → { workers, batch, maxDatagram }
napi_value Info(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, &a, 1)) return nullptr;
  napi_value o;
  napi_create_object(env, &o);
  set(env, o, "workers", num(env, double(a.inst->dp->workers.size())));
  set(env, o, "batch", num(env, a.inst->dp->o.batch));
  set(env, o, "maxDatagram", num(env, double(a.inst->dp->o.maxDatagram)));
  return o;
}

// addListener(dp, ip, port) → { group, port } | { error }
napi_value AddListener(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, &a, 3)) return nullptr;
  Addr local;
  if (!getAddr(env, a.v[1], a.v[2], &local)) return throwType(env, "addListener(dp, ip, port): bad address");
  uint16_t port = 0;
  int g = a.inst->dp->addListener(local, &port);
  napi_value o;
  napi_create_object(env, &o);
  if (g < 0) {
    set(env, o, "error", str(env, errnoName(-g)));
  } else {
    set(env, o, "group", num(env, g));
    set(env, o, "port", num(env, port));
  }
  return o;
}

bool ipList(napi_env env, napi_value obj, const char* key, std::vector<Addr>* out) {
  napi_value arr;
  if (!prop(env, obj, key, &arr)) return true;
  uint32_t len = 0;
  if (napi_get_array_length(env, arr, &len) != napi_ok) return false;
  for (uint32_t i = 0; i < len; i++) {
    napi_value e;
    Addr x;
    napi_get_element(env, arr, i, &e);
    if (!getAddr(env, e, nullptr, &x)) return false;
    out->push_back(x);
  }
  return true;
}

// setPolicy(dp, { minPort, maxPort, listeningPorts, localRelayIps, hairpinIp?, hairpinFallbackIp? })
napi_value SetPolicy(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, &a, 2)) return nullptr;
  Policy p;
  p.minPort = uint16_t(propNumber(env, a.v[1], "minPort", 1));
  p.maxPort = uint16_t(propNumber(env, a.v[1], "maxPort", 0));
  napi_value arr, e;
  if (prop(env, a.v[1], "listeningPorts", &arr)) {
    uint32_t len = 0;
    napi_get_array_length(env, arr, &len);
    for (uint32_t i = 0; i < len; i++) {
      uint32_t port = 0;
      napi_get_element(env, arr, i, &e);
      if (napi_get_value_uint32(env, e, &port) == napi_ok && port < 65536) p.listening[port] = true;
    }
  }
  if (!ipList(env, a.v[1], "localRelayIps", &p.localRelayIps)) return throwType(env, "localRelayIps: IP literals");
  if (prop(env, a.v[1], "hairpinIp", &e)) {
    if (!getAddr(env, e, nullptr, &p.hairpinIp)) return throwType(env, "hairpinIp: IP literal");
    p.hasHairpin = true;
    p.hairpinFallback = p.hairpinIp;
    if (prop(env, a.v[1], "hairpinFallbackIp", &e) && !getAddr(env, e, nullptr, &p.hairpinFallback)) return throwType(env, "hairpinFallbackIp: IP literal");
  }
  a.inst->dp->setPolicy(p);
  return undef(env);
}

// start(dp) → undefined | error string
napi_value Start(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, &a, 1)) return nullptr;
  int r = a.inst->dp->start();
  if (r < 0) return str(env, errnoName(-r));
  napi_ref_threadsafe_function(env, a.inst->tsfn);
  if (!a.inst->hook && napi_add_env_cleanup_hook(env, cleanupHook, a.inst) == napi_ok) a.inst->hook = true;
  return undef(env);
}

// stop(dp): join workers, close every socket, release the hand-off callback. Idempotent.
napi_value Stop(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, &a, 1)) return nullptr;
  Instance* inst = a.inst;
  inst->dp->stop();
  if (inst->hook) {
    napi_remove_env_cleanup_hook(env, cleanupHook, inst);
    inst->hook = false;
  }
  if (inst->tsfn != nullptr) {
    napi_threadsafe_function t = inst->tsfn;
    inst->tsfn = nullptr;
    napi_release_threadsafe_function(t, napi_tsfn_release);
  }
  return undef(env);
}

// send(dp, group, ip, port, buffer) → undefined | error string
napi_value Send(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, &a, 5)) return nullptr;
  uint32_t group;
  Addr to;
  void* data;
  size_t len;
  if (napi_get_value_uint32(env, a.v[1], &group) != napi_ok || !getAddr(env, a.v[2], a.v[3], &to) || napi_get_buffer_info(env, a.v[4], &data, &len) != napi_ok)
    return throwType(env, "send(dp, group, ip, port, buffer)");
  int r = a.inst->dp->sendFromListener(int(group), to, static_cast<uint8_t*>(data), len);
  return r == 0 ? undef(env) : str(env, errnoName(r));
}

// bindRelay(dp, ip, port) → { socket, port } | { error }
napi_value BindRelay(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, &a, 3)) return nullptr;
  Addr local;
  if (!getAddr(env, a.v[1], a.v[2], &local)) return throwType(env, "bindRelay(dp, ip, port): bad address");
  uint16_t port = 0;
  int fd = a.inst->dp->bindRelay(local, &port);
  napi_value o;
  napi_create_object(env, &o);
  if (fd < 0) {
    set(env, o, "error", str(env, errnoName(-fd)));
  } else {
    set(env, o, "socket", num(env, fd));
    set(env, o, "port", num(env, port));
  }
  return o;
}

// closeRelay(dp, socket) → boolean
napi_value CloseRelay(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, &a, 2)) return nullptr;
  int32_t id;
  if (napi_get_value_int32(env, a.v[1], &id) != napi_ok) return throwType(env, "closeRelay(dp, socket)");
  return boolean(env, a.inst->dp->closeRelay(id));
}

// createAllocation(dp, { socket, worker, stream, group, clientIp, clientPort, transactionId, maxBps }) → handle | error string
napi_value CreateAllocation(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, &a, 2)) return nullptr;
  napi_value o = a.v[1], v;
  int socket = int(propNumber(env, o, "socket", -1));
  int worker = int(propNumber(env, o, "worker", -1));
  int group = int(propNumber(env, o, "group", -1));
  double maxBps = propNumber(env, o, "maxBps", 0);
  bool stream = false;
  if (prop(env, o, "stream", &v)) napi_get_value_bool(env, v, &stream);
  Addr client;
  if (!stream) {
    napi_value ip, port;
    if (!prop(env, o, "clientIp", &ip) || !prop(env, o, "clientPort", &port) || !getAddr(env, ip, port, &client)) return throwType(env, "clientIp/clientPort required for a UDP client");
  }
  void* tid = nullptr;
  size_t tidLen = 0;
  if (!prop(env, o, "transactionId", &v) || napi_get_buffer_info(env, v, &tid, &tidLen) != napi_ok || tidLen != 12) return throwType(env, "transactionId: 12-byte Buffer");
  if (!(maxBps >= 0)) return throwType(env, "maxBps >= 0");
  double h = a.inst->dp->createAllocation(socket, worker, stream, group, client, static_cast<uint8_t*>(tid), uint64_t(maxBps));
  if (h > 0) return num(env, h);
  const char* why = h == -1 ? "bad_socket" : h == -2 ? "bad_worker_or_group" : h == -3 ? "allocation_limit" : h == -4 ? "client_in_use" : "epoll_failed";
  return str(env, why);
}

// endAllocation(dp, handle) → boolean (closes the relay socket)
napi_value EndAllocation(napi_env env, napi_callback_info info) {
  Args a;
  double h;
  if (!getArgs(env, info, &a, 2)) return nullptr;
  if (!getNumber(env, a.v[1], &h)) return throwType(env, "endAllocation(dp, handle)");
  return boolean(env, a.inst->dp->endAllocation(h));
}

// installPermission(dp, handle, ip, own) / removePermission(dp, handle, ip) → boolean
napi_value InstallPermission(napi_env env, napi_callback_info info) {
  Args a;
  double h;
  Addr ip;
  bool own = false;
  if (!getArgs(env, info, &a, 4)) return nullptr;
  if (!getNumber(env, a.v[1], &h) || !getAddr(env, a.v[2], nullptr, &ip) || napi_get_value_bool(env, a.v[3], &own) != napi_ok) return throwType(env, "installPermission(dp, handle, ip, own)");
  return boolean(env, a.inst->dp->withAlloc(h, [&](Worker&, Alloc* al) { al->perms[ip] = own; }));
}

napi_value RemovePermission(napi_env env, napi_callback_info info) {
  Args a;
  double h;
  Addr ip;
  if (!getArgs(env, info, &a, 3)) return nullptr;
  if (!getNumber(env, a.v[1], &h) || !getAddr(env, a.v[2], nullptr, &ip)) return throwType(env, "removePermission(dp, handle, ip)");
  return boolean(env, a.inst->dp->withAlloc(h, [&](Worker&, Alloc* al) { al->perms.erase(ip); }));
}

// bindChannel(dp, handle, number, peerIp, peerPort, sendIp, sendPort) → boolean
napi_value BindChannel(napi_env env, napi_callback_info info) {
  Args a;
  double h;
  uint32_t number;
  Addr peer, send;
  if (!getArgs(env, info, &a, 7)) return nullptr;
  if (!getNumber(env, a.v[1], &h) || napi_get_value_uint32(env, a.v[2], &number) != napi_ok || number < 0x4000 || number > 0x7FFF ||
      !getAddr(env, a.v[3], a.v[4], &peer) || !getAddr(env, a.v[5], a.v[6], &send))
    return throwType(env, "bindChannel(dp, handle, number 0x4000-0x7FFF, peerIp, peerPort, sendIp, sendPort)");
  return boolean(env, a.inst->dp->withAlloc(h, [&](Worker&, Alloc* al) {
    auto old = al->byNumber.find(uint16_t(number));
    if (old != al->byNumber.end()) al->byPeer.erase(old->second.peer);
    auto oldPeer = al->byPeer.find(peer);
    if (oldPeer != al->byPeer.end()) al->byNumber.erase(oldPeer->second);
    al->byNumber[uint16_t(number)] = Channel{uint16_t(number), peer, send};
    al->byPeer[peer] = uint16_t(number);
  }));
}

// unbindChannel(dp, handle, number) → boolean
napi_value UnbindChannel(napi_env env, napi_callback_info info) {
  Args a;
  double h;
  uint32_t number;
  if (!getArgs(env, info, &a, 3)) return nullptr;
  if (!getNumber(env, a.v[1], &h) || napi_get_value_uint32(env, a.v[2], &number) != napi_ok) return throwType(env, "unbindChannel(dp, handle, number)");
  return boolean(env, a.inst->dp->withAlloc(h, [&](Worker&, Alloc* al) {
    auto it = al->byNumber.find(uint16_t(number));
    if (it == al->byNumber.end()) return;
    al->byPeer.erase(it->second.peer);
    al->byNumber.erase(it);
  }));
}

// setBandwidth(dp, handle, bytesPerSecond) → boolean (0 = unlimited)
napi_value SetBandwidth(napi_env env, napi_callback_info info) {
  Args a;
  double h, bps;
  if (!getArgs(env, info, &a, 3)) return nullptr;
  if (!getNumber(env, a.v[1], &h) || !getNumber(env, a.v[2], &bps) || !(bps >= 0)) return throwType(env, "setBandwidth(dp, handle, bytesPerSecond >= 0)");
  return boolean(env, a.inst->dp->withAlloc(h, [&](Worker&, Alloc* al) {
    uint64_t now = monotonicNs();
    al->up.setRate(uint64_t(bps), now);
    al->down.setRate(uint64_t(bps), now);
  }));
}

// Run one client → peer step (`step(ctx, alloc)`) for a TCP/TLS client on the allocation's worker
// and send what it produced (sync sendmsg under the worker's lock). @returns the drop reason
// counted by the step (or relay_send_error), -1 when relayed, -2 when the handle is unknown.
template <typename Step>
int fromStreamClient(Instance* inst, double h, Step step) {
  int reason = -1;
  bool ok = inst->dp->withAlloc(h, [&](Worker& w, Alloc* al) {
    OutMsg out[1];
    Ctx c = w.ctx(monotonicNs());
    c.out = out;
    // Find which reason (if any) this call counted: compare the drop counters around it.
    uint64_t drops[D_COUNT];
    for (int d = 0; d < D_COUNT; d++) drops[d] = w.counters.drops[d].get();
    step(c, al);
    for (int d = 0; d < D_COUNT; d++)
      if (w.counters.drops[d].get() != drops[d]) reason = d;
    if (c.nOut == 1) {
      msghdr m{};
      m.msg_name = &out[0].dst;
      m.msg_namelen = out[0].dstLen;
      m.msg_iov = out[0].iov;
      m.msg_iovlen = size_t(out[0].iovcnt);
      if (sendmsg(out[0].fd, &m, MSG_DONTWAIT) < 0) {
        w.counters.drops[D_RELAY_SEND_ERROR].add(1);
        reason = D_RELAY_SEND_ERROR;
      }
    }
  });
  return ok ? reason : -2;
}

napi_value stepResult(napi_env env, int reason) {
  if (reason == -2) return str(env, "no_allocation");
  return reason < 0 ? undef(env) : str(env, kDropNames[reason]);
}

// relayFromClient(dp, handle, buffer) → undefined (relayed) | drop reason | 'no_allocation'
napi_value RelayFromClient(napi_env env, napi_callback_info info) {
  Args a;
  double h;
  void* data;
  size_t len;
  if (!getArgs(env, info, &a, 3)) return nullptr;
  if (!getNumber(env, a.v[1], &h) || napi_get_buffer_info(env, a.v[2], &data, &len) != napi_ok) return throwType(env, "relayFromClient(dp, handle, buffer)");
  return stepResult(env, fromStreamClient(a.inst, h, [&](Ctx& c, Alloc* al) { clientData(c, al, static_cast<uint8_t*>(data), len); }));
}

// sendToPeer(dp, handle, peerIp, peerPort, buffer) → undefined (relayed) | drop reason | 'no_allocation'
napi_value SendToPeer(napi_env env, napi_callback_info info) {
  Args a;
  double h;
  Addr peer;
  void* data;
  size_t len;
  if (!getArgs(env, info, &a, 5)) return nullptr;
  if (!getNumber(env, a.v[1], &h) || !getAddr(env, a.v[2], a.v[3], &peer) || napi_get_buffer_info(env, a.v[4], &data, &len) != napi_ok)
    return throwType(env, "sendToPeer(dp, handle, peerIp, peerPort, buffer)");
  return stepResult(env, fromStreamClient(a.inst, h, [&](Ctx& c, Alloc* al) { relayToPeer(c, al, peer, static_cast<const uint8_t*>(data), len); }));
}

// allocationCounters(dp, handle) → { packetsToPeer, bytesToPeer, packetsFromPeer, bytesFromPeer, droppedToPeer, droppedFromPeer } | undefined
napi_value AllocationCounters(napi_env env, napi_callback_info info) {
  Args a;
  double h;
  if (!getArgs(env, info, &a, 2)) return nullptr;
  if (!getNumber(env, a.v[1], &h)) return throwType(env, "allocationCounters(dp, handle)");
  napi_value o = undef(env);
  a.inst->dp->withAlloc(h, [&](Worker&, Alloc* al) {
    napi_create_object(env, &o);
    set(env, o, "packetsToPeer", num(env, double(al->pktsToPeer.get())));
    set(env, o, "bytesToPeer", num(env, double(al->bytesToPeer.get())));
    set(env, o, "packetsFromPeer", num(env, double(al->pktsFromPeer.get())));
    set(env, o, "bytesFromPeer", num(env, double(al->bytesFromPeer.get())));
    set(env, o, "droppedToPeer", num(env, double(al->droppedToPeer.get())));
    set(env, o, "droppedFromPeer", num(env, double(al->droppedFromPeer.get())));
  });
  return o;
}

// stats(dp) → { c2pPackets, c2pBytes, c2pChannel, p2cPackets, p2cBytes, p2cChannel, toJs, allocations, dropped: { reason: n } }
napi_value Stats(napi_env env, napi_callback_info info) {
  Args a;
  if (!getArgs(env, info, &a, 1)) return nullptr;
  GlobalCounters g;
  a.inst->dp->sumCounters(&g);
  size_t allocs = 0;
  for (auto& w : a.inst->dp->workers) {
    std::lock_guard<std::mutex> l(w->mu);
    allocs += w->allocCount;
  }
  napi_value o, d;
  napi_create_object(env, &o);
  napi_create_object(env, &d);
  set(env, o, "c2pPackets", num(env, double(g.c2pPackets.get())));
  set(env, o, "c2pBytes", num(env, double(g.c2pBytes.get())));
  set(env, o, "c2pChannel", num(env, double(g.c2pChannel.get())));
  set(env, o, "p2cPackets", num(env, double(g.p2cPackets.get())));
  set(env, o, "p2cBytes", num(env, double(g.p2cBytes.get())));
  set(env, o, "p2cChannel", num(env, double(g.p2cChannel.get())));
  set(env, o, "toJs", num(env, double(g.toJs.get())));
  set(env, o, "ignored", num(env, double(g.ignored.get())));
  set(env, o, "allocations", num(env, double(allocs)));
  for (int i = 0; i < D_COUNT; i++)
    if (g.drops[i].get() > 0) set(env, d, kDropNames[i], num(env, double(g.drops[i].get())));
  set(env, o, "dropped", d);
  return o;
}

napi_value Init(napi_env env, napi_value exports) {
  struct {
    const char* name;
    napi_callback fn;
  } fns[] = {
      {"create", Create},           {"info", Info},
      {"addListener", AddListener}, {"setPolicy", SetPolicy},
      {"start", Start},             {"stop", Stop},
      {"send", Send},               {"bindRelay", BindRelay},
      {"closeRelay", CloseRelay},   {"createAllocation", CreateAllocation},
      {"endAllocation", EndAllocation}, {"installPermission", InstallPermission},
      {"removePermission", RemovePermission}, {"bindChannel", BindChannel},
      {"unbindChannel", UnbindChannel}, {"setBandwidth", SetBandwidth},
      {"relayFromClient", RelayFromClient}, {"sendToPeer", SendToPeer},
      {"allocationCounters", AllocationCounters},
      {"stats", Stats},
  };
  for (auto& f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
  napi_value names;
  napi_create_array_with_length(env, D_COUNT, &names);
  for (int i = 0; i < D_COUNT; i++) napi_set_element(env, names, uint32_t(i), str(env, kDropNames[i]));
  napi_set_named_property(env, exports, "dropReasons", names);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
