/**
 * Allocate request (RFC 8656 §7.2): create an allocation with a relayed transport address (a UDP
 * socket from the relay port range) for the five-tuple, or resend the cached success response to a
 * retransmission (same transaction id, same user). Supports EVEN-PORT (with R: reserve the next
 * port) and RESERVATION-TOKEN; REQUESTED-ADDRESS-FAMILY must match the relay address (440).
 */
import type { Allocation } from '../allocation/allocation.js';
import { QuotaError, ReservationError, RevokedError } from '../allocation/manager.js';
import { NoRelayPortError } from '../allocation/relayPorts.js';
import { normalizeAddress } from '../stun/address.js';
import { Attr, AttributeType, TransportProtocol, decodeEvenPort, decodeRequestedAddressFamily, decodeRequestedTransport } from '../stun/attributes.js';
import { StunMethod } from '../stun/message.js';
import type { RequestContext } from './context.js';
import { grantedLifetime } from './lifetime.js';
import type { RequestHandler } from './types.js';

export const allocate: RequestHandler = {
  method: StunMethod.Allocate,
  authenticated: true,
  handle: onAllocate,
};

async function onAllocate(ctx: RequestContext): Promise<void> {
  const { relay, conn, msg } = ctx;
  const auth = ctx.auth!;
  const tid = msg.transactionId.toString('hex');
  const existing = conn.getAllocation();
  if (existing) {
    if (existing.allocateTransactionId === tid && existing.allocateResponse && existing.username === auth.username) {
      conn.send(existing.allocateResponse);
      relay.counters.drop('allocate_retransmit');
      return;
    }
    return ctx.error(437);
  }
  const key = conn.label;
  const pending = relay.pendingAllocate.get(key);
  if (pending !== undefined) {
    if (pending === tid) relay.counters.drop('allocate_retransmit');
    else ctx.error(437);
    return;
  }
  const rt = msg.get(AttributeType.REQUESTED_TRANSPORT);
  if (!rt) return ctx.error(400, 'REQUESTED-TRANSPORT missing');
  if (decodeRequestedTransport(rt) !== TransportProtocol.UDP) return ctx.error(442);
  const evenPort = msg.get(AttributeType.EVEN_PORT);
  const token = msg.get(AttributeType.RESERVATION_TOKEN);
  if (token && evenPort) return ctx.error(400, 'EVEN-PORT with RESERVATION-TOKEN');
  if (token && token.length !== 8) return ctx.error(400, 'RESERVATION-TOKEN must be 8 bytes');
  const portRequest = token
    ? ({ kind: 'token', token: token.toString('hex') } as const)
    : evenPort
      ? ({ kind: 'even', reserve: decodeEvenPort(evenPort) } as const)
      : ({ kind: 'any' } as const);
  const { options } = relay;
  const relayIp = options.relayIp ?? conn.local.address;
  const family = normalizeAddress(relayIp).family;
  const rafValue = msg.get(AttributeType.REQUESTED_ADDRESS_FAMILY);
  if (rafValue && decodeRequestedAddressFamily(rafValue) !== family) return ctx.error(440);
  const lifetime = grantedLifetime(options, msg.getUint32(AttributeType.LIFETIME));
  relay.pendingAllocate.set(key, tid);
  let allocation: Allocation;
  try {
    allocation = await relay.manager.create({
      client: conn,
      username: auth.username,
      key: auth.key,
      transactionIdHex: tid,
      relayIp,
      family,
      advertisedIp: options.externalIp ?? relayIp,
      lifetimeMs: lifetime * 1000,
      port: portRequest,
    });
  } catch (err) {
    if (err instanceof QuotaError) {
      relay.counters.drop(err.code === 486 ? 'user_quota' : 'total_quota');
      return ctx.error(err.code);
    }
    if (err instanceof ReservationError) {
      relay.counters.drop('bad_reservation_token');
      return ctx.error(508, err.message);
    }
    if (err instanceof RevokedError) {
      // The credential was revoked while the socket was being bound: answer as to any unknown user.
      relay.counters.authFailure('revoked');
      ctx.auth = undefined;
      return ctx.error(401, undefined, [Attr.realm(options.realm), Attr.nonce(relay.nonces.issue(conn.remote.address))]);
    }
    if (err instanceof NoRelayPortError) {
      relay.counters.drop('no_relay_port');
      return ctx.error(508);
    }
    relay.log.error(`allocate for ${conn.label}: ${(err as Error).message}`);
    return ctx.error(500);
  } finally {
    relay.pendingAllocate.delete(key);
  }
  if (!conn.open || !relay.isRunning()) {
    relay.manager.end(allocation, 'connection_closed');
    return;
  }
  conn.setAllocation(allocation);
  relay.counters.allocationsCreated++;
  const attrs = [Attr.xorRelayedAddress(allocation.advertised, msg.transactionId), Attr.lifetime(lifetime), Attr.xorMappedAddress(conn.remote, msg.transactionId)];
  if (allocation.reservationToken) attrs.push(Attr.raw(AttributeType.RESERVATION_TOKEN, allocation.reservationToken));
  allocation.allocateResponse = ctx.success(attrs);
  relay.allocationStarted(allocation, lifetime);
  relay.log.debug(`allocation ${allocation.id} for ${auth.username} on ${conn.label}: relay ${allocation.relayed.address}:${allocation.relayed.port}, ${lifetime} s`);
}
