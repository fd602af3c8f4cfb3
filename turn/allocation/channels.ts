/**
 * Channel bindings of one allocation (RFC 8656 §11, §12): a channel number (0x4000–0x4FFF) bound to
 * one peer transport address, both ways unique, with an expiry (default 600 s). Lookups by number
 * (client → peer ChannelData) and by peer `ip:port` key (peer → client).
 */
import type { TransportAddress } from '../stun/address.js';

/** One channel binding. */
export interface ChannelBinding {
  /** 0x4000–0x4FFF. */
  readonly number: number;
  readonly peer: TransportAddress;
  /** `ip:port` of the peer (the by-peer map key). */
  readonly peerKey: string;
  /** Expiry, unix ms. */
  expiresAt: number;
}

/** Result of {@link Channels.bind}. */
export type BindResult = 'created' | 'refreshed' | 'number_in_use' | 'peer_in_use';

/** `ip:port` key for a peer. */
export function peerKey(address: string, port: number): string {
  return `${address}:${port}`;
}

/** The channel bindings of one allocation. */
export class Channels {
  readonly byNumber = new Map<number, ChannelBinding>();
  readonly byPeer = new Map<string, ChannelBinding>();

  /**
   * Bind `number` to `peer` or refresh the same binding (RFC 8656 §11.2).
   * @returns 'created' | 'refreshed'; or 'number_in_use' (bound to another peer) / 'peer_in_use'
   *          (peer bound to another number), both answered 400 by the server.
   */
  bind(number: number, peer: TransportAddress, expiresAtMs: number): BindResult {
    const key = peerKey(peer.address, peer.port);
    const byNum = this.byNumber.get(number);
    const byPeer = this.byPeer.get(key);
    if (byNum && byNum.peerKey !== key) return 'number_in_use';
    if (byPeer && byPeer.number !== number) return 'peer_in_use';
    if (byNum) {
      byNum.expiresAt = expiresAtMs;
      return 'refreshed';
    }
    const binding: ChannelBinding = { number, peer: { ...peer }, peerKey: key, expiresAt: expiresAtMs };
    this.byNumber.set(number, binding);
    this.byPeer.set(key, binding);
    return 'created';
  }

  /** Remove bindings that expired at or before `nowMs`. @returns how many were removed. */
  sweep(nowMs: number): number {
    let n = 0;
    for (const [num, b] of this.byNumber) {
      if (b.expiresAt <= nowMs) {
        this.byNumber.delete(num);
        this.byPeer.delete(b.peerKey);
        n++;
      }
    }
    return n;
  }

  /** Number of bindings. */
  get size(): number {
    return this.byNumber.size;
  }
}
