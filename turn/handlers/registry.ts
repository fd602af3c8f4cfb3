/**
 * Which handler answers which STUN/TURN method, and the dispatcher that runs the checks every
 * method shares: decode, message class, the long-term credential check, 420 for unknown
 * comprehension-required attributes, and 400 for malformed attribute values.
 * To add a method: write its handler in a file of its own and list it here.
 */
import { AttributeError, Attr } from '../stun/attributes.js';
import { MethodName, StunClass, StunDecodeError, StunMethod, decodeMessage, type StunMessage } from '../stun/message.js';
import type { ClientConnection } from '../transport/connection.js';
import { allocate } from './allocate.js';
import { binding } from './binding.js';
import { channelBind } from './channelBind.js';
import { RequestContext, type RelayServices } from './context.js';
import { createPermission } from './createPermission.js';
import { refresh } from './refresh.js';
import { sendIndication } from './sendIndication.js';
import type { IndicationHandler, RequestHandler } from './types.js';

/** Request handlers by method. */
export const requestHandlers: ReadonlyMap<number, RequestHandler> = new Map([binding, allocate, refresh, createPermission, channelBind].map((h) => [h.method, h]));

/** Indication handlers by method (a Binding indication is a keepalive: ignored, not counted). */
export const indicationHandlers: ReadonlyMap<number, IndicationHandler> = new Map([sendIndication].map((h) => [h.method, h]));

/**
 * Handle one STUN message from `conn` (a whole datagram or stream frame). Never throws for bad
 * input: undecodable messages, responses and unexpected indications are dropped and counted.
 * @throws only on a bug (the caller counts it as an internal error).
 */
export function dispatchStun(relay: RelayServices, conn: ClientConnection, buf: Buffer): void {
  if (!relay.isRunning()) {
    relay.counters.drop('not_running');
    return;
  }
  let msg: StunMessage;
  try {
    msg = decodeMessage(buf);
  } catch (err) {
    if (err instanceof StunDecodeError) {
      relay.counters.drop(err.reason);
      return;
    }
    throw err;
  }
  if (msg.cls === StunClass.Indication) {
    const h = indicationHandlers.get(msg.method);
    if (h) h.handle(new RequestContext(relay, conn, msg));
    else if (msg.method !== StunMethod.Binding) relay.counters.drop('unexpected_indication');
    return;
  }
  if (msg.cls !== StunClass.Request) {
    relay.counters.drop('unexpected_response');
    return;
  }
  relay.counters.request(MethodName[msg.method] ?? 'unknown');
  const ctx = new RequestContext(relay, conn, msg);
  const handler = requestHandlers.get(msg.method);
  try {
    if (!handler) {
      if (ctx.withinUnauthenticatedBudget()) ctx.error(400, 'unknown method');
      return;
    }
    if (!handler.authenticated) {
      const work = handler.handle(ctx);
      if (work) relay.track(work);
      return;
    }
    runAuthenticated(ctx, handler);
  } catch (err) {
    // A malformed attribute before authentication: unsigned 400.
    if (!(err instanceof AttributeError)) throw err;
    ctx.error(400, err.message);
  }
}

function runAuthenticated(ctx: RequestContext, handler: RequestHandler): void {
  if (!ctx.authenticate()) return;
  const unknown = ctx.unknownRequired();
  if (unknown.length > 0) {
    ctx.error(420, undefined, [Attr.unknownAttributes(unknown)]);
    return;
  }
  // A malformed attribute value (AttributeError) is a 400, signed like every answer to an authenticated request.
  const badAttribute = (err: unknown) => {
    if (!(err instanceof AttributeError)) throw err;
    ctx.relay.counters.drop('bad_attribute');
    ctx.error(400, err.message);
  };
  try {
    const work = handler.handle(ctx);
    if (work) ctx.relay.track(work.catch(badAttribute));
  } catch (err) {
    badAttribute(err);
  }
}
