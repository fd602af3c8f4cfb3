/** CreatePermission request (RFC 8656 §9.2): install or refresh permissions for every peer IP, or for none. */
import { StunMethod } from '../stun/message.js';
import { vetPeerAddresses } from './peerAddresses.js';
import type { RequestHandler } from './types.js';

export const createPermission: RequestHandler = {
  method: StunMethod.CreatePermission,
  authenticated: true,
  handle(ctx) {
    const a = ctx.ownedAllocation();
    if (!a) return;
    const peers = vetPeerAddresses(ctx, a, false);
    if (!peers) return;
    const { relay } = ctx;
    const expiresAt = Date.now() + relay.options.permissionLifetime * 1000;
    for (const p of peers) relay.manager.installPermission(a, p.address, expiresAt, p.own);
    ctx.success();
  },
};
