/**
 * Binding request (RFC 8489 §3, §7.3.1): answer XOR-MAPPED-ADDRESS, the client's transport address
 * as the relay sees it. No authentication; costs one unit of the source IP's unauthenticated budget.
 */
import { Attr } from '../stun/attributes.js';
import { StunMethod } from '../stun/message.js';
import type { RequestHandler } from './types.js';

export const binding: RequestHandler = {
  method: StunMethod.Binding,
  authenticated: false,
  handle(ctx) {
    if (!ctx.withinUnauthenticatedBudget()) return;
    const unknown = ctx.unknownRequired();
    if (unknown.length > 0) {
      ctx.error(420, undefined, [Attr.unknownAttributes(unknown)]);
      return;
    }
    ctx.success([Attr.xorMappedAddress(ctx.conn.remote, ctx.msg.transactionId)]);
  },
};
