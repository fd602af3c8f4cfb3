// Shared types of the native TURN data path: addresses, drop reasons, counters, token bucket.
// Everything here is plain data; no syscalls and no allocation per packet.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>

namespace turn_native {

// An IP address (4 or 16 bytes) with an optional port, compared as bytes. IPv4 keeps bytes 4..15 zero.
struct Addr {
  uint8_t family = 0;  // 4 or 6; 0 = unset
  uint8_t ip[16] = {0};
  uint16_t port = 0;

  bool sameIp(const Addr& o) const { return family == o.family && std::memcmp(ip, o.ip, 16) == 0; }
  bool operator==(const Addr& o) const { return sameIp(o) && port == o.port; }
  // sockaddr for sendmsg; returns its length.
  socklen_t toSockaddr(sockaddr_storage* ss) const;
  // From a received sockaddr; IPv4-mapped IPv6 is kept as IPv6 (listeners/relays are v6only).
  static Addr fromSockaddr(const sockaddr* sa);
  // Text → Addr (inet_pton); false when not an IP literal.
  static bool parse(const char* text, uint16_t port, Addr* out);
  // Addr → text (inet_ntop) into buf (>= 46 bytes).
  void format(char* buf, size_t len) const;
};

struct AddrHash {
  size_t operator()(const Addr& a) const {
    uint64_t h = 1469598103934665603ull ^ a.family ^ (uint64_t(a.port) << 8);
    for (int i = 0; i < 16; i++) h = (h ^ a.ip[i]) * 1099511628211ull;
    return size_t(h);
  }
};

struct IpHash {
  size_t operator()(const Addr& a) const {
    uint64_t h = 1469598103934665603ull ^ a.family;
    for (int i = 0; i < 16; i++) h = (h ^ a.ip[i]) * 1099511628211ull;
    return size_t(h);
  }
};
struct IpEq {
  bool operator()(const Addr& a, const Addr& b) const { return a.sameIp(b); }
};

// Why a datagram was dropped. Names (kDropNames) are the JavaScript path's stats reasons.
enum Drop : int {
  D_SHORT,
  D_NOT_STUN,
  D_BAD_COOKIE,
  D_BAD_LENGTH,
  D_TRUNCATED_ATTRIBUTE,
  D_BAD_FINGERPRINT,
  D_NO_ALLOCATION,
  D_SHORT_CHANNEL_DATA,
  D_UNKNOWN_CHANNEL,
  D_PEER_NOT_PERMITTED,
  D_OWN_ADDRESS_PORT,
  D_UNKNOWN_ATTRIBUTE,
  D_MISSING_ATTRIBUTE,
  D_BAD_ATTRIBUTE,
  D_UNEXPECTED_INDICATION,
  D_UNEXPECTED_RESPONSE,
  D_PEER_DATAGRAM_TOO_LARGE,
  // Native-only reasons.
  D_TRUNCATED,          // datagram larger than the receive buffer
  D_OVER_BANDWIDTH,     // over the allocation's bytes-per-second limit
  D_JS_QUEUE_FULL,      // hand-off queue to JavaScript full
  D_RELAY_SEND_ERROR,   // sendmmsg to a peer failed (EAGAIN, ENOBUFS...)
  D_CLIENT_SEND_ERROR,  // sendmmsg to a client failed
  D_RELAY_SOCKET_ERROR, // recvmmsg error on a relay socket
  D_COUNT
};

extern const char* const kDropNames[D_COUNT];

// Counters written by one worker thread, read by the JavaScript thread (relaxed atomics: plain moves on x86).
struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

struct GlobalCounters {
  Counter c2pPackets, c2pBytes, c2pChannel, p2cPackets, p2cBytes, p2cChannel;
  Counter toJs;     // STUN requests handed to JavaScript (stream-client peer data counts as p2c)
  Counter ignored;  // Binding indications (keepalives): neither relayed nor an error
  Counter drops[D_COUNT];
};

// Token bucket in bytes (coturn's --max-bps: each direction on its own, at most `rate` bytes in
// any one second). Capacity: one second of traffic, like coturn's one-second window.
struct Bucket {
  uint64_t rate = 0;      // bytes per second, 0 = unlimited
  double tokens = 0;
  uint64_t atNs = 0;
  void setRate(uint64_t bps, uint64_t nowNs) {
    rate = bps;
    tokens = double(capacity());
    atNs = nowNs;
  }
  uint64_t capacity() const { return rate; }
  // Take `bytes`; false when over the limit.
  bool take(uint64_t bytes, uint64_t nowNs) {
    if (rate == 0) return true;
    if (nowNs > atNs) {
      tokens += double(nowNs - atNs) * 1e-9 * double(rate);
      double cap = double(capacity());
      if (tokens > cap) tokens = cap;
      atNs = nowNs;
    }
    if (tokens < double(bytes)) return false;
    tokens -= double(bytes);
    return true;
  }
};

uint64_t monotonicNs();

// A fixed-size byte buffer that is not zero-filled: large ones come straight from mmap, so a page
// costs resident memory only once a datagram has been written to it.
struct Bytes {
  std::unique_ptr<uint8_t[]> p;
  size_t n = 0;
  void resize(size_t size) {
    p.reset(new uint8_t[size]);
    n = size;
  }
  uint8_t* data() { return p.get(); }
  const uint8_t* data() const { return p.get(); }
  size_t size() const { return n; }
};

}  // namespace turn_native
