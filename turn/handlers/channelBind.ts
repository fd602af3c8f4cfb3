/**
 * ChannelBind request (RFC 8656 §11.2): bind a channel number to one peer transport address (or
 * refresh that binding); also installs or refreshes the permission for the peer's IP.
 */
import { AttributeType, decodeChannelNumber } from '../stun/attributes.js';
import { isValidChannel } from '../stun/channelData.js';
import { StunMethod } from '../stun/message.js';
import { vetPeerAddresses } from './peerAddresses.js';
import type { RequestHandler } from './types.js';

export const channelBind: RequestHandler = {
  method: StunMethod.ChannelBind,
  authenticated: true,
  handle(ctx) {
    const a = ctx.ownedAllocation();
    if (!a) return;
    const { msg, relay } = ctx;
    const cn = msg.get(AttributeType.CHANNEL_NUMBER);
    if (!cn) return ctx.error(400, 'CHANNEL-NUMBER missing');
    const channel = decodeChannelNumber(cn);
    const legacy = relay.options.channelRange === 'rfc5766';
    if (!isValidChannel(channel, legacy)) return ctx.error(400, `channel number must be 0x4000-0x${legacy ? '7FFF' : '4FFF'}, got 0x${channel.toString(16)}`);
    if (msg.getAll(AttributeType.XOR_PEER_ADDRESS).length !== 1) return ctx.error(400, 'exactly one XOR-PEER-ADDRESS required');
    const peers = vetPeerAddresses(ctx, a, true);
    if (!peers) return;
    const { own, ...peer } = peers[0]!;
    const now = Date.now();
    const result = relay.manager.bindChannel(a, channel, peer, now + relay.options.channelLifetime * 1000, own, now);
    if (result === 'number_in_use') return ctx.error(400, 'channel bound to another peer');
    if (result === 'peer_in_use') return ctx.error(400, 'peer bound to another channel');
    // The permission lasts at least as long as RFC 8656 §11.2 requires (permission lifetime, refreshed).
    relay.manager.installPermission(a, peer.address, now + relay.options.permissionLifetime * 1000, own);
    ctx.success();
  },
};
