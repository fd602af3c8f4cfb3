#include "relay.h"

#include <arpa/inet.h>
#include <time.h>

namespace turn_native {

const char* const kDropNames[D_COUNT] = {
    "short",          "not_stun",           "bad_cookie",          "bad_length",         "truncated_attribute",
    "bad_fingerprint", "no_allocation",     "short_channel_data",  "unknown_channel",    "peer_not_permitted",
    "own_address_port", "unknown_attribute", "missing_attribute",  "bad_attribute",      "unexpected_indication",
    "unexpected_response", "peer_datagram_too_large", "truncated", "over_bandwidth",     "js_queue_full",
    "relay_send_error", "client_send_error", "relay_socket_error",
};

uint64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

socklen_t Addr::toSockaddr(sockaddr_storage* ss) const {
  std::memset(ss, 0, sizeof(*ss));
  if (family == 6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    std::memcpy(&s6->sin6_addr, ip, 16);
    return sizeof(sockaddr_in6);
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(port);
  std::memcpy(&s4->sin_addr, ip, 4);
  return sizeof(sockaddr_in);
}

Addr Addr::fromSockaddr(const sockaddr* sa) {
  Addr a;
  if (sa->sa_family == AF_INET6) {
    auto* s6 = reinterpret_cast<const sockaddr_in6*>(sa);
    a.family = 6;
    std::memcpy(a.ip, &s6->sin6_addr, 16);
    a.port = ntohs(s6->sin6_port);
  } else if (sa->sa_family == AF_INET) {
    auto* s4 = reinterpret_cast<const sockaddr_in*>(sa);
    a.family = 4;
    std::memcpy(a.ip, &s4->sin_addr, 4);
    a.port = ntohs(s4->sin_port);
  }
  return a;
}

bool Addr::parse(const char* text, uint16_t p, Addr* out) {
  Addr a;
  a.port = p;
  if (inet_pton(AF_INET, text, a.ip) == 1) {
    a.family = 4;
  } else if (inet_pton(AF_INET6, text, a.ip) == 1) {
    a.family = 6;
  } else {
    return false;
  }
  *out = a;
  return true;
}

void Addr::format(char* buf, size_t len) const {
  if (inet_ntop(family == 6 ? AF_INET6 : AF_INET, ip, buf, socklen_t(len)) == nullptr && len > 0) buf[0] = 0;
}

void Handoff::init(size_t maxEntries, size_t maxBytes) {
  for (Side& s : sides) {
    s.entries.resize(maxEntries);
    s.bytes.resize(maxBytes);
    s.used = s.count = 0;
  }
}

bool Handoff::push(Kind kind, int group, const Addr& remote, double handle, const uint8_t* hdr, size_t hdrLen, const uint8_t* data, size_t len, size_t pad) {
  std::lock_guard<std::mutex> l(mu);
  Side& s = sides[fill];
  size_t total = hdrLen + len + pad;
  if (s.count >= s.entries.size() || s.bytes.size() - s.used < total) return false;
  uint8_t* p = s.bytes.data() + s.used;
  if (hdrLen) std::memcpy(p, hdr, hdrLen);
  if (len) std::memcpy(p + hdrLen, data, len);
  if (pad) std::memset(p + hdrLen + len, 0, pad);
  s.entries[s.count++] = Entry{kind, group, remote, handle, uint32_t(s.used), uint32_t(total)};
  s.used += total;
  return true;
}

Handoff::Side* Handoff::swap() {
  std::lock_guard<std::mutex> l(mu);
  Side* full = &sides[fill];
  fill ^= 1;
  return full;
}

namespace {

OutMsg& nextOut(Ctx& c, int fd, const Addr& dst, Drop onError) {
  OutMsg& m = c.out[c.nOut++];
  m.fd = fd;
  m.dstLen = dst.toSockaddr(&m.dst);
  m.iovcnt = 0;
  m.onError = onError;
  return m;
}

const uint8_t kZeros[4] = {0, 0, 0, 0};

// Where data for `peer` (one of our own addresses, relay port) goes: the local relay address of the
// allocation on that port when `peer` is the external IP (no NAT hairpin needed), else `peer`.
Addr ownDestination(Ctx& c, const Addr& peer) {
  const Policy& p = *c.policy;
  if (!p.hasHairpin || !peer.sameIp(p.hairpinIp)) return peer;
  Addr out;
  if (!c.ports->get(peer.port, &out)) out = p.hairpinFallback;
  out.port = peer.port;
  return out;
}

// ChannelData from the client (RFC 8656 §12.6): data[0..len) holds header + data (+ stream padding).
void clientChannelData(Ctx& c, Alloc* a, uint8_t* data, size_t len) {
  if (len < 4) return c.drop(D_SHORT_CHANNEL_DATA);
  size_t dataLen = rd16(data + 2);
  if (4 + dataLen > len) return c.drop(D_SHORT_CHANNEL_DATA);
  auto it = a->byNumber.find(rd16(data));
  if (it == a->byNumber.end()) return c.drop(D_UNKNOWN_CHANNEL);
  const Channel& ch = it->second;
  if (a->perms.find(ch.peer) == a->perms.end()) return c.drop(D_PEER_NOT_PERMITTED);
  if (!a->up.take(dataLen, c.nowNs)) {
    a->droppedToPeer.add(1);
    return c.drop(D_OVER_BANDWIDTH);
  }
  a->pktsToPeer.add(1);
  a->bytesToPeer.add(dataLen);
  c.g->c2pPackets.add(1);
  c.g->c2pChannel.add(1);
  c.g->c2pBytes.add(dataLen);
  // The own-address port rule was checked at ChannelBind; `send` is the local relay address for a hairpin.
  OutMsg& m = nextOut(c, a->fd, ch.send, D_RELAY_SEND_ERROR);
  m.iov[0] = {data + 4, dataLen};
  m.iovcnt = 1;
}

void toPeer(Ctx& c, Alloc* a, const Addr& peer, const uint8_t* data, size_t len) {
  auto it = a->perms.find(peer);
  if (it == a->perms.end()) return c.drop(D_PEER_NOT_PERMITTED);
  Addr dest = peer;
  if (it->second) {
    // One of our own addresses: only another relayed transport address (RFC 8656 §21.3 spirit).
    if (!c.policy->ownPortAllowed(peer.port)) return c.drop(D_OWN_ADDRESS_PORT);
    dest = ownDestination(c, peer);
  }
  if (!a->up.take(len, c.nowNs)) {
    a->droppedToPeer.add(1);
    return c.drop(D_OVER_BANDWIDTH);
  }
  a->pktsToPeer.add(1);
  a->bytesToPeer.add(len);
  c.g->c2pPackets.add(1);
  c.g->c2pBytes.add(len);
  OutMsg& m = nextOut(c, a->fd, dest, D_RELAY_SEND_ERROR);
  m.iov[0] = {const_cast<uint8_t*>(data), len};
  m.iovcnt = 1;
}

// Send indication (RFC 8656 §10.2): relayed when permitted, dropped and counted otherwise.
void sendIndication(Ctx& c, Alloc* a, const StunView& v) {
  if (v.unknownRequired) return c.drop(D_UNKNOWN_ATTRIBUTE);
  if (v.xorPeer == nullptr || v.data == nullptr) return c.drop(D_MISSING_ATTRIBUTE);
  Addr peer;
  if (!decodeXorAddress(v.xorPeer, v.xorPeerLen, v.tid, &peer) || peer.port == 0) return c.drop(D_BAD_ATTRIBUTE);
  toPeer(c, a, peer, v.data, v.dataLen);
}

Alloc* findClient(Ctx& c, int group, const Addr& from) {
  if (group < 0 || size_t(group) >= c.clients->size()) return nullptr;
  auto& m = (*c.clients)[size_t(group)];
  auto it = m.find(from);
  return it == m.end() ? nullptr : it->second;
}

}  // namespace

void onListenerDatagram(Ctx& c, int group, const Addr& from, uint8_t* data, size_t len) {
  if (len == 0) return c.drop(D_SHORT);
  int kind = data[0] & 0xC0;
  if (kind == 0x40) {
    Alloc* a = findClient(c, group, from);
    if (a == nullptr) return c.drop(D_NO_ALLOCATION);
    return clientChannelData(c, a, data, len);
  }
  if (kind != 0) return c.drop(D_NOT_STUN);
  StunView v;
  int r = parseStun(data, len, c.known, &v);
  if (r >= 0) return c.drop(Drop(r));
  if (v.cls == 0) {
    // Requests (Binding, Allocate, Refresh, CreatePermission, ChannelBind, unknown) are JavaScript's.
    if (!c.handoff->push(Handoff::kStun, group, from, 0, nullptr, 0, data, len, 0)) return c.drop(D_JS_QUEUE_FULL);
    c.g->toJs.add(1);
    c.wroteHandoff = true;
    return;
  }
  if (v.cls == 1) {
    if (v.method == 0x006) {
      Alloc* a = findClient(c, group, from);
      if (a == nullptr) return c.drop(D_NO_ALLOCATION);
      return sendIndication(c, a, v);
    }
    if (v.method == 0x001) return c.g->ignored.add(1);  // Binding indication (keepalive): ignored, as in JavaScript
    return c.drop(D_UNEXPECTED_INDICATION);
  }
  c.drop(D_UNEXPECTED_RESPONSE);
}

void clientData(Ctx& c, Alloc* a, uint8_t* data, size_t len) {
  if (len == 0) return c.drop(D_SHORT);
  int kind = data[0] & 0xC0;
  if (kind == 0x40) return clientChannelData(c, a, data, len);
  if (kind != 0) return c.drop(D_NOT_STUN);
  StunView v;
  int r = parseStun(data, len, c.known, &v);
  if (r >= 0) return c.drop(Drop(r));
  if (v.cls == 1 && v.method == 0x006) return sendIndication(c, a, v);
  c.drop(v.cls == 1 ? D_UNEXPECTED_INDICATION : D_UNEXPECTED_RESPONSE);
}

void relayToPeer(Ctx& c, Alloc* a, const Addr& peer, const uint8_t* data, size_t len) {
  if (peer.port == 0) return c.drop(D_BAD_ATTRIBUTE);
  toPeer(c, a, peer, data, len);
}

void onPeerDatagram(Ctx& c, Alloc* a, const Addr& from, uint8_t* data, size_t len) {
  const Policy& p = *c.policy;
  Addr ip = from;
  // From another relayed address of ours (local IP): the client knows it under the external IP.
  if (p.hasHairpin && p.isLocalRelayIp(from) && p.ownPortAllowed(from.port)) {
    ip = p.hairpinIp;
    ip.port = from.port;
  }
  auto perm = a->perms.find(ip);
  if (perm == a->perms.end()) return c.drop(D_PEER_NOT_PERMITTED);
  if (perm->second && !p.ownPortAllowed(from.port)) return c.drop(D_OWN_ADDRESS_PORT);
  if (!a->down.take(len, c.nowNs)) {
    a->droppedFromPeer.add(1);
    return c.drop(D_OVER_BANDWIDTH);
  }
  a->pktsFromPeer.add(1);
  a->bytesFromPeer.add(len);
  c.g->p2cPackets.add(1);
  c.g->p2cBytes.add(len);
  auto ch = a->byPeer.find(ip);
  uint8_t* start;
  size_t total;
  size_t pad;
  if (ch != a->byPeer.end()) {
    c.g->p2cChannel.add(1);
    start = data - 4;
    wr16(start, ch->second);
    wr16(start + 2, uint16_t(len));
    total = 4 + len;
    pad = a->stream ? (4 - (len & 3)) & 3 : 0;
  } else {
    pad = (4 - (len & 3)) & 3;
    uint8_t hdr[kMaxDataIndicationHeader];
    size_t h = writeDataIndicationHeader(hdr, a->tid, ip, len);
    if (h + len + pad - 20 > 0xFFFF) return c.drop(D_PEER_DATAGRAM_TOO_LARGE);
    start = data - h;
    std::memcpy(start, hdr, h);
    total = h + len;
  }
  if (a->stream) {
    // Already counted as relayed (p2c); a full queue is a lost datagram, like a failed send.
    if (!c.handoff->push(Handoff::kToClient, a->group, a->client, c.handleOf(a), start, total, nullptr, 0, pad)) return c.drop(D_JS_QUEUE_FULL);
    c.wroteHandoff = true;
    return;
  }
  int fd = (a->group >= 0 && size_t(a->group) < c.listenerFds->size()) ? (*c.listenerFds)[size_t(a->group)] : -1;
  if (fd < 0) return c.drop(D_CLIENT_SEND_ERROR);
  OutMsg& m = nextOut(c, fd, a->client, D_CLIENT_SEND_ERROR);
  m.iov[0] = {start, total};
  m.iovcnt = 1;
  if (pad) {
    m.iov[1] = {const_cast<uint8_t*>(kZeros), pad};
    m.iovcnt = 2;
  }
}

}  // namespace turn_native
