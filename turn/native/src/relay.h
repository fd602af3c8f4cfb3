// Per-packet relaying rules (RFC 8656 §10–§12) over per-thread tables, as in turn/jsDataPath.ts:
// onListener → onListenerDatagram, clientChannelData / sendIndication → clientData / relayToPeer,
// fromPeer → onPeerDatagram. No syscalls here: results are OutMsg entries (sent by the worker
// with sendmmsg) or hand-off entries for JavaScript; so a harness can drive this code directly.
#pragma once

#include <sys/uio.h>

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "stun.h"

namespace turn_native {

// Bytes reserved before every received datagram, so a ChannelData or Data indication header can be
// written in front of a peer datagram without copying it.
constexpr size_t kHeadroom = 64;

struct Channel {
  uint16_t number = 0;
  Addr peer;  // as the client named it (permission and peer lookups)
  Addr send;  // where the relay socket sends (differs for a hairpin to our own relayed address)
};

// One allocation's data-path state. Lives on exactly one worker; guarded by that worker's mutex.
struct Alloc {
  uint32_t slot = 0, gen = 0;
  int worker = 0;
  int fd = -1;       // relay socket
  Addr relay;        // its local address
  bool stream = false;  // client over TCP/TLS: peer → client goes to JavaScript
  int group = -1;    // UDP listener group of the client five-tuple
  Addr client;       // client transport address (UDP)
  uint8_t tid[12] = {0};  // transaction id of this allocation's Data indications
  std::unordered_map<Addr, bool, IpHash, IpEq> perms;  // peer IP → own (one of the relay's addresses)
  std::unordered_map<uint16_t, Channel> byNumber;
  std::unordered_map<Addr, uint16_t, AddrHash> byPeer;
  Bucket up, down;  // bandwidth limit client → peer, peer → client
  Counter pktsToPeer, bytesToPeer, pktsFromPeer, bytesFromPeer, droppedToPeer, droppedFromPeer;
};

// Relay-wide rules pushed by JavaScript (turn/policy/peerAddress.ts own-address rule, hairpin).
struct Policy {
  uint16_t minPort = 1, maxPort = 0;
  std::vector<bool> listening = std::vector<bool>(65536, false);
  bool hasHairpin = false;
  Addr hairpinIp;        // external IP that is not a local address
  Addr hairpinFallback;  // relay IP used when no allocation holds the port
  std::vector<Addr> localRelayIps;
  bool ownPortAllowed(uint16_t p) const { return p >= minPort && p <= maxPort && !listening[p]; }
  bool isLocalRelayIp(const Addr& a) const {
    for (const Addr& x : localRelayIps)
      if (x.sameIp(a)) return true;
    return false;
  }
};

// One datagram to send.
struct OutMsg {
  int fd = -1;
  sockaddr_storage dst;
  socklen_t dstLen = 0;
  iovec iov[2];
  int iovcnt = 0;
  Drop onError = D_RELAY_SEND_ERROR;
};

// Datagrams for JavaScript: STUN requests from listeners, and framed peer data for stream clients.
// Double-buffered and bounded: the worker fills one side, JavaScript drains the other.
struct Handoff {
  enum Kind : uint8_t { kStun = 0, kToClient = 1 };
  struct Entry {
    Kind kind;
    int group;
    Addr remote;
    double handle;
    uint32_t off, len;
  };
  struct Side {
    std::vector<Entry> entries;
    Bytes bytes;
    size_t used = 0;
    size_t count = 0;
  };
  std::mutex mu;
  Side sides[2];
  int fill = 0;
  void init(size_t maxEntries, size_t maxBytes);
  // Append hdr + data + `pad` zero bytes as one entry. false when full (caller counts js_queue_full).
  bool push(Kind kind, int group, const Addr& remote, double handle, const uint8_t* hdr, size_t hdrLen, const uint8_t* data, size_t len, size_t pad);
  // Swap sides (under mu); returns the side to drain (caller resets it after use, under no lock:
  // only the draining thread touches it until the next swap).
  Side* swap();
};

// Where a Send indication to our external IP goes: the local relay address of the allocation on
// that port (shared by all workers).
struct RelayPortMap {
  std::mutex mu;
  std::unordered_map<uint16_t, Addr> byPort;
  bool get(uint16_t port, Addr* out) {
    std::lock_guard<std::mutex> l(mu);
    auto it = byPort.find(port);
    if (it == byPort.end()) return false;
    *out = it->second;
    return true;
  }
};

// Everything one call of the per-packet functions needs.
struct Ctx {
  const Policy* policy;
  GlobalCounters* g;
  RelayPortMap* ports;
  Handoff* handoff;
  uint64_t nowNs;
  OutMsg* out;  // room for at least one more message per call
  size_t nOut;
  int worker;
  // Listener socket (of this worker) per group, to send to UDP clients.
  const std::vector<int>* listenerFds;
  // JavaScript's handle of an allocation (slot, generation, worker).
  double (*handleOf)(const Alloc*);
  // UDP clients of this worker per listener group.
  std::vector<std::unordered_map<Addr, Alloc*, AddrHash>>* clients;
  // Comprehension-required attributes understood (Send indications with others are dropped).
  const KnownAttrs* known = nullptr;
  bool wroteHandoff = false;
  void drop(Drop d) { g->drops[d].add(1); }
};

// A datagram on a listener socket of `group` from `from`; `data` has kHeadroom writable bytes before it.
void onListenerDatagram(Ctx& c, int group, const Addr& from, uint8_t* data, size_t len);
// ChannelData or a Send indication from an allocation's client (UDP or a stream frame).
void clientData(Ctx& c, Alloc* a, uint8_t* data, size_t len);
// The DATA of a Send indication already decoded by JavaScript (a TCP/TLS client): the permission,
// own-address and bandwidth rules of a Send indication, then one datagram to `peer`.
void relayToPeer(Ctx& c, Alloc* a, const Addr& peer, const uint8_t* data, size_t len);
// A datagram on an allocation's relay socket; `data` has kHeadroom writable bytes before it.
void onPeerDatagram(Ctx& c, Alloc* a, const Addr& from, uint8_t* data, size_t len);

}  // namespace turn_native
