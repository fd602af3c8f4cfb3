// The few STUN/TURN wire rules the data path needs (RFC 8489 §5, §14; RFC 8656 §10, §11, §12):
// validating a STUN message exactly like the JavaScript decoder (turn/stun/message.ts), reading a
// Send indication, and writing a Data indication header.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>

#include "common.h"

namespace turn_native {

constexpr uint32_t kMagicCookie = 0x2112A442;
constexpr uint16_t kAttrXorPeerAddress = 0x0012;
constexpr uint16_t kAttrData = 0x0013;
constexpr uint16_t kAttrMessageIntegrity = 0x0008;
constexpr uint16_t kAttrMessageIntegritySha256 = 0x001C;
constexpr uint16_t kAttrFingerprint = 0x8028;
constexpr uint16_t kTypeSendIndication = 0x0016;
constexpr uint16_t kTypeDataIndication = 0x0017;
// Comprehension-required attribute types (0x0000-0x7FFF) the relay understands. JavaScript passes
// its list when it creates the data path (KNOWN_REQUIRED in turn/handlers/context.ts),
// so the set exists once; a Send indication with any other one is dropped (unknown_attribute).
using KnownAttrs = std::bitset<0x8000>;

// Largest header this relay writes before a peer datagram: Data indication with an IPv6 peer
// (20 header + 4+20 XOR-PEER-ADDRESS + 4 DATA header).
constexpr size_t kMaxDataIndicationHeader = 48;

// What the data path needs from a decoded message. Pointers are into the datagram.
struct StunView {
  int method = 0;  // 12-bit method
  int cls = 0;     // 0 request, 1 indication, 2 success, 3 error
  const uint8_t* tid = nullptr;
  const uint8_t* xorPeer = nullptr;  // first XOR-PEER-ADDRESS value (kept attributes only)
  size_t xorPeerLen = 0;
  const uint8_t* data = nullptr;  // first DATA value
  size_t dataLen = 0;
  bool unknownRequired = false;  // a comprehension-required attribute this relay does not know
};

inline uint16_t rd16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t rd32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
inline void wr16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
inline void wr32(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v); }

// CRC-32 (ISO 3309, zlib polynomial) continuing from `crc`.
uint32_t crc32(const uint8_t* data, size_t len, uint32_t crc);

// Validate a datagram whose first two bits are 0 as a STUN message, in the JavaScript decoder's
// order (short, bad_cookie, bad_length, truncated_attribute, bad_fingerprint).
// @returns -1 when valid (and fills `out`), else the Drop reason.
// `known`: the comprehension-required attributes understood (nullptr: none).
int parseStun(const uint8_t* buf, size_t len, const KnownAttrs* known, StunView* out);

// Decode an XOR-*-ADDRESS value (RFC 8489 §14.2). false on a bad family or length.
bool decodeXorAddress(const uint8_t* v, size_t len, const uint8_t* tid, Addr* out);

// Write a Data indication header (RFC 8656 §10.3: XOR-PEER-ADDRESS, then DATA of `dataLen`
// bytes) into `out` (>= kMaxDataIndicationHeader bytes). The caller appends the data and
// (4 - dataLen % 4) % 4 zero bytes. @returns the header length (36 or 48).
size_t writeDataIndicationHeader(uint8_t* out, const uint8_t* tid, const Addr& peer, size_t dataLen);

}  // namespace turn_native
