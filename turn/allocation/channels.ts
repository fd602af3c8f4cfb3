/**
 * Channel bindings of one allocation (RFC 8656 §11, §12): a channel number (0x4000–0x4FFF) bound to
 * one peer transport address, both ways unique, with an expiry (default 600 s). Lookups by number
 * (client → peer ChannelData) and by peer IP then port (peer → client; no string building per packet).
 *
 * After a binding expires, its channel number and its peer transport address stay reserved for
 * {@link CHANNEL_REBIND_HOLD_MS} (RFC 8656 §12: "the channel number ... and the transport address
 * [cannot be rebound] for 5 minutes"): binding either to something else in that time is refused;
 * binding the same pair again is allowed.
 */
import type { TransportAddress } from '../stun/address.js';

/** How long an expired binding's number and peer stay reserved, ms (RFC 8656 §12: 5 minutes). */
export const CHANNEL_REBIND_HOLD_MS = 5 * 60_000;

/** One channel binding. */
export interface ChannelBinding {
  /** 0x4000–0x4FFF. */
  readonly number: number;
  /** The peer as the client named it (XOR-PEER-ADDRESS). */
  readonly peer: TransportAddress;
  /** `ip:port` of the peer. */
  readonly peerKey: string;
  /**
   * Where the relay socket sends this channel's data, set by the data path (`channelBound`): the
   * peer itself, or, for one of our own relayed addresses advertised under the external IP, the
   * local relay address (no NAT hairpin needed).
   */
  sendAddress: string;
  sendPort: number;
  /** Expiry, unix ms. */
  expiresAt: number;
}

/** Result of {@link Channels.bind}. */
export type BindResult = 'created' | 'refreshed' | 'number_in_use' | 'peer_in_use';

/** `ip:port` key for a peer. */
export function peerKey(address: string, port: number): string {
  return `${address}:${port}`;
}

/** An expired binding still holding its number and peer. */
interface Retired {
  number: number;
  peerKey: string;
  until: number;
}

/** The channel bindings of one allocation. */
export class Channels {
  readonly byNumber = new Map<number, ChannelBinding>();
  /** Peer IP → peer port → binding. */
  readonly byPeerIp = new Map<string, Map<number, ChannelBinding>>();
  private readonly retiredByNumber = new Map<number, Retired>();
  private readonly retiredByPeer = new Map<string, Retired>();

  /**
   * Bind `number` to `peer` or refresh the same binding (RFC 8656 §11.2). A new binding sends to
   * the peer itself until the data path says otherwise.
   * @param nowMs current time, unix ms (for the 5-minute hold of expired bindings).
   * @returns 'created' | 'refreshed'; or 'number_in_use' (bound, or held after expiry, to another
   *          peer) / 'peer_in_use' (peer bound or held under another number), both answered 400.
   */
  bind(number: number, peer: TransportAddress, expiresAtMs: number, nowMs = Date.now()): BindResult {
    const key = peerKey(peer.address, peer.port);
    const byNum = this.byNumber.get(number);
    const byPeer = this.lookup(peer.address, peer.port);
    if (byNum && byNum.peerKey !== key) return 'number_in_use';
    if (byPeer && byPeer.number !== number) return 'peer_in_use';
    if (byNum) {
      byNum.expiresAt = expiresAtMs;
      return 'refreshed';
    }
    const heldNum = this.retiredByNumber.get(number);
    if (heldNum && heldNum.until > nowMs && heldNum.peerKey !== key) return 'number_in_use';
    const heldPeer = this.retiredByPeer.get(key);
    if (heldPeer && heldPeer.until > nowMs && heldPeer.number !== number) return 'peer_in_use';
    if (heldNum) this.unretire(heldNum);
    if (heldPeer) this.unretire(heldPeer);
    const binding: ChannelBinding = {
      number,
      peer: { ...peer },
      peerKey: key,
      sendAddress: peer.address,
      sendPort: peer.port,
      expiresAt: expiresAtMs,
    };
    this.byNumber.set(number, binding);
    let ports = this.byPeerIp.get(peer.address);
    if (!ports) this.byPeerIp.set(peer.address, (ports = new Map()));
    ports.set(peer.port, binding);
    return 'created';
  }

  /** The binding for peer `ip`:`port`, if any (peer → client hot path: two Map lookups, no allocation). */
  lookup(ip: string, port: number): ChannelBinding | undefined {
    return this.byPeerIp.get(ip)?.get(port);
  }

  private unretire(r: Retired): void {
    if (this.retiredByNumber.get(r.number) === r) this.retiredByNumber.delete(r.number);
    if (this.retiredByPeer.get(r.peerKey) === r) this.retiredByPeer.delete(r.peerKey);
  }

  /**
   * Remove bindings that expired at or before `nowMs` (they stay reserved 5 minutes).
   * @param onExpired  called with each removed binding.
   * @returns how many were removed.
   */
  sweep(nowMs: number, onExpired?: (binding: ChannelBinding) => void): number {
    let n = 0;
    for (const [num, b] of this.byNumber) {
      if (b.expiresAt <= nowMs) {
        onExpired?.(b);
        this.byNumber.delete(num);
        const ports = this.byPeerIp.get(b.peer.address);
        ports?.delete(b.peer.port);
        if (ports?.size === 0) this.byPeerIp.delete(b.peer.address);
        const r: Retired = { number: num, peerKey: b.peerKey, until: b.expiresAt + CHANNEL_REBIND_HOLD_MS };
        this.retiredByNumber.set(num, r);
        this.retiredByPeer.set(b.peerKey, r);
        n++;
      }
    }
    for (const r of this.retiredByNumber.values()) if (r.until <= nowMs) this.unretire(r);
    for (const r of this.retiredByPeer.values()) if (r.until <= nowMs) this.unretire(r);
    return n;
  }

  /** Number of bindings. */
  get size(): number {
    return this.byNumber.size;
  }
}
