/**
 * XOR-PEER-ADDRESS values of CreatePermission and ChannelBind, decoded and vetted against the
 * peer-address policy (RFC 8656 §9.2, §11.2, §21).
 */
import type { Allocation } from '../allocation/allocation.js';
import type { TransportAddress } from '../stun/address.js';
import { AttributeType, decodeXorAddress } from '../stun/attributes.js';
import type { RequestContext } from './context.js';

/** A vetted peer; `own`: one of the relay's own addresses. */
export type VettedPeer = TransportAddress & { own: boolean };

/** Decode one XOR-PEER-ADDRESS value, or undefined when malformed. */
export function decodePeerAddress(value: Buffer, transactionId: Buffer): TransportAddress | undefined {
  try {
    return decodeXorAddress(value, transactionId);
  } catch {
    return undefined;
  }
}

/**
 * Every XOR-PEER-ADDRESS of the request, vetted; answers 400 (missing/malformed/port 0), 443
 * (family differs from the relayed address) or 403 (policy) itself and returns undefined on failure.
 * @param withPort  also apply the own-address port rule (ChannelBind names a transport address; a
 *                  permission, RFC 8656 §9, is by IP only).
 */
export function vetPeerAddresses(ctx: RequestContext, a: Allocation, withPort: boolean): VettedPeer[] | undefined {
  const { msg, relay } = ctx;
  const values = msg.getAll(AttributeType.XOR_PEER_ADDRESS);
  if (values.length === 0) {
    ctx.error(400, 'XOR-PEER-ADDRESS missing');
    return undefined;
  }
  const peers: VettedPeer[] = [];
  for (const v of values) {
    const p = decodePeerAddress(v, msg.transactionId);
    if (!p) {
      ctx.error(400, 'bad XOR-PEER-ADDRESS');
      return undefined;
    }
    if (p.family !== a.relayed.family) {
      ctx.error(443);
      return undefined;
    }
    if (withPort && p.port === 0) {
      // Node refuses to send to port 0; a channel to it could never carry data.
      ctx.error(400, 'XOR-PEER-ADDRESS port 0');
      return undefined;
    }
    const decision = withPort ? relay.policy.checkTransport(p.address, p.port) : relay.policy.check(p.address);
    if (!decision.allowed) {
      relay.counters.drop(`peer_refused_${decision.reason}`);
      relay.log.debug(`${ctx.conn.label}: peer ${p.address}${withPort ? `:${p.port}` : ''} refused (${decision.reason})`);
      ctx.error(403, `peer address not allowed (${decision.reason})`);
      return undefined;
    }
    peers.push({ ...p, own: decision.own === true });
  }
  return peers;
}
