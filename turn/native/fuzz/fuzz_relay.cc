// Fuzz harness for the per-packet code (relay.cc, stun.cc) without sockets or threads.
//
// Build and run with AddressSanitizer + UndefinedBehaviorSanitizer (gcc or clang):
//   turn/native/fuzz/run.sh [iterations] [seed]
// With clang's libFuzzer instead: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined \
//   -DUSE_LIBFUZZER -I../src fuzz_relay.cc ../src/relay.cc ../src/stun.cc
//
// Every input goes through the four entry points (listener datagram from a known and an unknown
// client, stream client frame, decoded Send indication of a stream client, peer datagram from a
// permitted and a refused peer, with channels and the hairpin rule active). After each call the produced datagrams are checked: every iovec
// lies inside the receive slot (or is the static padding), and counters moved exactly once.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "../src/relay.h"

using namespace turn_native;

namespace {

struct World {
  Policy policy;
  GlobalCounters g;
  RelayPortMap ports;
  Handoff handoff;
  std::vector<std::unordered_map<Addr, Alloc*, AddrHash>> clients{1};
  std::vector<int> listenerFds{3};
  std::vector<OutMsg> out = std::vector<OutMsg>(2);
  KnownAttrs known;  // a subset of the relay's list: both outcomes of the 420 rule stay reachable
  Alloc udp, stream;
  Addr client, peer, other, hairpinSrc, ownService;

  World() {
    handoff.init(64, 1 << 20);
    for (uint16_t t : {0x0006, 0x0008, 0x000C, 0x000D, 0x0012, 0x0013, 0x0014, 0x0015, 0x001C, 0x0024})
      known.set(t);
    policy.minPort = 20000;
    policy.maxPort = 30000;
    policy.listening[3478] = true;
    Addr::parse("127.0.0.1", 0, &policy.hairpinFallback);
    Addr::parse("192.0.2.1", 0, &policy.hairpinIp);
    policy.hasHairpin = true;
    policy.localRelayIps.push_back(policy.hairpinFallback);
    Addr::parse("127.0.0.1", 40000, &client);
    Addr::parse("198.51.100.7", 5000, &peer);
    Addr::parse("203.0.113.9", 6000, &other);
    Addr::parse("127.0.0.1", 25000, &hairpinSrc);
    Addr::parse("127.0.0.1", 3478, &ownService);
    for (Alloc* a : {&udp, &stream}) {
      a->fd = 7;
      a->client = client;
      for (int i = 0; i < 12; i++) a->tid[i] = uint8_t(i * 17);
      a->perms[peer] = false;
      a->perms[policy.hairpinIp] = true;
      a->perms[hairpinSrc] = true;
      a->byNumber[0x4000] = Channel{0x4000, peer, peer};
      a->byPeer[peer] = 0x4000;
      Addr ext = policy.hairpinIp;
      ext.port = 25000;
      a->byNumber[0x4001] = Channel{0x4001, ext, hairpinSrc};
      a->byPeer[ext] = 0x4001;
    }
    udp.group = 0;
    stream.stream = true;
    stream.group = -1;
    udp.up.setRate(1 << 16, 0);
    udp.down.setRate(1 << 16, 0);
    clients[0][client] = &udp;
    ports.byPort[25000] = hairpinSrc;
  }

  Ctx ctx(uint64_t now) {
    Ctx c;
    c.policy = &policy;
    c.g = &g;
    c.ports = &ports;
    c.handoff = &handoff;
    c.nowNs = now;
    c.out = out.data();
    c.nOut = 0;
    c.worker = 0;
    c.listenerFds = &listenerFds;
    c.handleOf = [](const Alloc*) { return 1.0; };
    c.clients = &clients;
    c.known = &known;
    return c;
  }
};

uint64_t total(const GlobalCounters& g) {
  uint64_t n = g.c2pPackets.get() + g.p2cPackets.get() + g.toJs.get() + g.ignored.get();
  for (int d = 0; d < D_COUNT; d++) n += g.drops[d].get();
  return n;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz check failed: %s\n", what);
    std::abort();
  }
}

// One input through one entry point; `slot` is a receive slot (kHeadroom + capacity bytes).
void runOne(World& w, uint8_t* slot, size_t cap, const uint8_t* input, size_t len, int entry, uint64_t now) {
  if (len > cap) len = cap;
  uint8_t* data = slot + kHeadroom;
  std::memcpy(data, input, len);
  Ctx c = w.ctx(now);
  uint64_t before = total(w.g);
  switch (entry) {
    case 0: onListenerDatagram(c, 0, w.client, data, len); break;
    case 1: onListenerDatagram(c, 0, w.other, data, len); break;
    case 2: clientData(c, &w.stream, data, len); break;
    case 3: onPeerDatagram(c, &w.udp, w.peer, data, len); break;
    case 4: onPeerDatagram(c, &w.udp, w.other, data, len); break;
    case 5: onPeerDatagram(c, &w.stream, w.hairpinSrc, data, len); break;
    case 6: onPeerDatagram(c, &w.udp, w.ownService, data, len); break;
    case 7: {
      // A Send indication decoded by JavaScript (stream client): the peer comes from the input too.
      const Addr* peers[] = {&w.peer, &w.other, &w.ownService, &w.hairpinSrc};
      Addr p = *peers[len % 4];
      if (len % 5 == 0) p.port = 0;
      relayToPeer(c, &w.stream, p, data, len);
      break;
    }
    default: onPeerDatagram(c, &w.udp, w.hairpinSrc, data, len); break;
  }
  if (total(w.g) != before + 1) {
    std::fprintf(stderr, "entry %d len %zu: counters moved by %lld\n", entry, len, (long long)(total(w.g) - before));
    check(false, "exactly one counter per datagram");
  }
  check(c.nOut <= 1, "at most one datagram out");
  for (size_t i = 0; i < c.nOut; i++) {
    const OutMsg& m = c.out[i];
    check(m.iovcnt >= 1 && m.iovcnt <= 2, "iovcnt");
    const uint8_t* b = static_cast<const uint8_t*>(m.iov[0].iov_base);
    check(b >= slot && b + m.iov[0].iov_len <= data + len, "iov[0] inside the slot");
    if (m.iovcnt == 2) check(m.iov[1].iov_len <= 3, "padding length");
  }
  // Drain the hand-off queue so it never fills.
  Handoff::Side* s = w.handoff.swap();
  for (size_t i = 0; i < s->count; i++) check(s->entries[i].off + s->entries[i].len <= s->used, "hand-off entry in bounds");
  s->used = s->count = 0;
}

World* world() {
  static World w;
  return &w;
}

}  // namespace

#ifdef USE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::vector<uint8_t> slot(kHeadroom + 65536);
  if (size == 0) return 0;
  runOne(*world(), slot.data(), 65536, data + 1, size - 1, data[0] % 9, 0);
  return 0;
}
#else
int main(int argc, char** argv) {
  long iterations = argc > 1 ? std::atol(argv[1]) : 1000000;
  unsigned seed = argc > 2 ? unsigned(std::atol(argv[2])) : 1;
  std::mt19937 rng(seed);
  World& w = *world();
  // Valid seeds to mutate: ChannelData, a Send indication (to the permitted peer), a Binding request.
  std::vector<std::vector<uint8_t>> seeds;
  seeds.push_back({0x40, 0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'});
  seeds.push_back({0x40, 0x01, 0x00, 0x02, 'h', 'i'});
  {
    std::vector<uint8_t> s(20 + 12 + 8, 0);
    s[0] = 0x00, s[1] = 0x16, s[3] = 20;
    wr32(&s[4], kMagicCookie);
    wr16(&s[20], kAttrXorPeerAddress), wr16(&s[22], 8);
    s[25] = 1;
    wr16(&s[26], uint16_t(5000 ^ 0x2112));
    const uint8_t ip[4] = {198, 51, 100, 7}, ck[4] = {0x21, 0x12, 0xA4, 0x42};
    for (int i = 0; i < 4; i++) s[28 + i] = ip[i] ^ ck[i];
    wr16(&s[32], kAttrData), wr16(&s[34], 3);
    s[36] = 'a', s[37] = 'b', s[38] = 'c';
    seeds.push_back(s);
    // The same to our external IP on a relay port (hairpin), then with a FINGERPRINT.
    std::vector<uint8_t> h = s;
    wr16(&h[26], uint16_t(25000 ^ 0x2112));
    const uint8_t ext[4] = {192, 0, 2, 1};
    for (int i = 0; i < 4; i++) h[28 + i] = ext[i] ^ ck[i];
    seeds.push_back(h);
    std::vector<uint8_t> f = s;
    f[39] = 0;
    f.resize(40 + 8);
    wr16(&f[2], 28);
    wr16(&f[40], kAttrFingerprint), wr16(&f[42], 4);
    uint8_t hdr[20];
    std::memcpy(hdr, f.data(), 20);
    wr32(&f[44], crc32(&f[20], 20, crc32(hdr, 20, 0)) ^ 0x5354554Eu);
    seeds.push_back(f);
  }
  {
    std::vector<uint8_t> s(20, 0);
    s[1] = 0x01;
    wr32(&s[4], kMagicCookie);
    seeds.push_back(s);
  }
  std::vector<uint8_t> slot(kHeadroom + 2048);
  std::vector<uint8_t> in;
  uint64_t now = 0;
  for (long it = 0; it < iterations; it++) {
    const auto& base = seeds[rng() % seeds.size()];
    in = base;
    switch (rng() % 5) {
      case 0:
        in.resize(rng() % 80);
        for (auto& b : in) b = uint8_t(rng());
        break;
      case 1:
        in.resize(rng() % (in.size() + 1));
        break;
      case 2:
        for (int k = 0, n = 1 + int(rng() % 4); k < n && !in.empty(); k++) in[rng() % in.size()] ^= uint8_t(1u << (rng() % 8));
        break;
      case 3:
        if (in.size() >= 4) wr16(&in[2], uint16_t(rng()));
        break;
      default:
        for (int k = 0, n = int(rng() % 40); k < n; k++) in.push_back(uint8_t(rng()));
        break;
    }
    now += rng() % 100000;
    runOne(w, slot.data(), 2048, in.data(), in.size(), int(rng() % 9), now);
  }
  std::printf("fuzz_relay: %ld inputs, seed %u: relayed c2p %llu p2c %llu, to JS %llu, drops:", iterations, seed,
              (unsigned long long)w.g.c2pPackets.get(), (unsigned long long)w.g.p2cPackets.get(), (unsigned long long)w.g.toJs.get());
  for (int d = 0; d < D_COUNT; d++)
    if (w.g.drops[d].get()) std::printf(" %s=%llu", kDropNames[d], (unsigned long long)w.g.drops[d].get());
  std::printf("\n");
  return 0;
}
#endif
