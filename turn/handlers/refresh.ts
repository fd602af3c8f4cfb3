/** Refresh request (RFC 8656 §7.3): extend the allocation's lifetime; LIFETIME 0 deletes it at once. */
import { Attr, AttributeType, decodeRequestedAddressFamily } from '../stun/attributes.js';
import { StunMethod } from '../stun/message.js';
import { grantedLifetime } from './lifetime.js';
import type { RequestHandler } from './types.js';

export const refresh: RequestHandler = {
  method: StunMethod.Refresh,
  authenticated: true,
  handle(ctx) {
    const a = ctx.ownedAllocation();
    if (!a) return;
    const { msg, relay } = ctx;
    const raf = msg.get(AttributeType.REQUESTED_ADDRESS_FAMILY);
    if (raf && decodeRequestedAddressFamily(raf) !== a.relayed.family) return ctx.error(443);
    const requested = msg.getUint32(AttributeType.LIFETIME);
    if (requested === 0) {
      relay.manager.end(a, 'deleted');
      ctx.success([Attr.lifetime(0)]);
      return;
    }
    const lifetime = grantedLifetime(relay.options, requested);
    a.expiresAt = Date.now() + lifetime * 1000;
    ctx.success([Attr.lifetime(lifetime)]);
  },
};
