#include "stun.h"

namespace turn_native {

namespace {

struct CrcTable {
  uint32_t t[256];
  CrcTable() {
    for (uint32_t n = 0; n < 256; n++) {
      uint32_t c = n;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
  }
};
const CrcTable kCrc;

const uint8_t kCookieBytes[4] = {0x21, 0x12, 0xA4, 0x42};

}  // namespace

uint32_t crc32(const uint8_t* data, size_t len, uint32_t crc) {
  uint32_t c = crc ^ 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) c = kCrc.t[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

int parseStun(const uint8_t* buf, size_t len, const KnownAttrs* known, StunView* out) {
  if (len < 20) return D_SHORT;
  if ((buf[0] & 0xC0) != 0) return D_NOT_STUN;
  if (rd32(buf + 4) != kMagicCookie) return D_BAD_COOKIE;
  size_t length = rd16(buf + 2);
  if (length % 4 != 0) return D_BAD_LENGTH;
  if (20 + length != len) return D_BAD_LENGTH;
  uint16_t type = rd16(buf);
  out->method = (type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2);
  out->cls = ((type & 0x0100) >> 7) | ((type & 0x0010) >> 4);
  out->tid = buf + 8;
  out->xorPeer = nullptr;
  out->data = nullptr;
  out->xorPeerLen = out->dataLen = 0;
  out->unknownRequired = false;
  size_t offset = 20;
  bool afterIntegrity = false;
  while (offset < len) {
    if (offset + 4 > len) return D_TRUNCATED_ATTRIBUTE;
    uint16_t at = rd16(buf + offset);
    size_t alen = rd16(buf + offset + 2);
    size_t end = offset + 4 + alen;
    if (end > len) return D_TRUNCATED_ATTRIBUTE;
    if (at == kAttrFingerprint) {
      if (alen != 4) return D_BAD_FINGERPRINT;
      uint8_t header[20];
      for (int i = 0; i < 20; i++) header[i] = buf[i];
      wr16(header + 2, uint16_t(offset - 20 + 8));
      uint32_t crc = crc32(buf + 20, offset - 20, crc32(header, 20, 0));
      if ((crc ^ 0x5354554Eu) != rd32(buf + offset + 4)) return D_BAD_FINGERPRINT;
      break;
    }
    if (!afterIntegrity || at == kAttrMessageIntegritySha256) {
      const uint8_t* v = buf + offset + 4;
      if (at == kAttrXorPeerAddress && out->xorPeer == nullptr) {
        out->xorPeer = v;
        out->xorPeerLen = alen;
      } else if (at == kAttrData && out->data == nullptr) {
        out->data = v;
        out->dataLen = alen;
      }
      if (at < 0x8000 && (known == nullptr || !known->test(at))) out->unknownRequired = true;
    }
    if (at == kAttrMessageIntegrity || at == kAttrMessageIntegritySha256) afterIntegrity = true;
    offset = end + ((4 - (alen % 4)) % 4);
  }
  return -1;
}

bool decodeXorAddress(const uint8_t* v, size_t len, const uint8_t* tid, Addr* out) {
  if (len < 4) return false;
  size_t n = v[1] == 0x01 ? 4 : v[1] == 0x02 ? 16 : 0;
  if (n == 0 || len != 4 + n) return false;
  *out = Addr();
  out->family = n == 4 ? 4 : 6;
  out->port = uint16_t(rd16(v + 2) ^ (kMagicCookie >> 16));
  for (size_t i = 0; i < n; i++) out->ip[i] = v[4 + i] ^ (i < 4 ? kCookieBytes[i] : tid[i - 4]);
  return true;
}

size_t writeDataIndicationHeader(uint8_t* out, const uint8_t* tid, const Addr& peer, size_t dataLen) {
  size_t ipLen = peer.family == 6 ? 16 : 4;
  size_t header = 20 + 4 + 4 + ipLen + 4;
  size_t pad = (4 - (dataLen & 3)) & 3;
  wr16(out, kTypeDataIndication);
  wr16(out + 2, uint16_t(header - 20 + dataLen + pad));
  wr32(out + 4, kMagicCookie);
  for (int i = 0; i < 12; i++) out[8 + i] = tid[i];
  uint8_t* a = out + 20;
  wr16(a, kAttrXorPeerAddress);
  wr16(a + 2, uint16_t(4 + ipLen));
  a[4] = 0;
  a[5] = peer.family == 6 ? 0x02 : 0x01;
  wr16(a + 6, uint16_t(peer.port ^ (kMagicCookie >> 16)));
  for (size_t i = 0; i < ipLen; i++) a[8 + i] = peer.ip[i] ^ (i < 4 ? kCookieBytes[i] : tid[i - 4]);
  uint8_t* d = a + 8 + ipLen;
  wr16(d, kAttrData);
  wr16(d + 2, uint16_t(dataLen));
  return header;
}

}  // namespace turn_native
