/**
 * Send indication (RFC 8656 §10.2): the DATA goes to XOR-PEER-ADDRESS through the data path when a
 * permission exists; anything wrong is dropped silently and counted (indications get no answer).
 */
import { AttributeType } from '../stun/attributes.js';
import { StunMethod } from '../stun/message.js';
import { decodePeerAddress } from './peerAddresses.js';
import type { IndicationHandler } from './types.js';

export const sendIndication: IndicationHandler = {
  method: StunMethod.Send,
  handle(ctx) {
    const { relay, msg } = ctx;
    const a = ctx.conn.getAllocation();
    if (!a) {
      relay.counters.drop('no_allocation');
      return;
    }
    if (ctx.unknownRequired().length > 0) {
      relay.counters.drop('unknown_attribute');
      return;
    }
    const pv = msg.get(AttributeType.XOR_PEER_ADDRESS);
    const data = msg.get(AttributeType.DATA);
    if (!pv || !data) {
      relay.counters.drop('missing_attribute');
      return;
    }
    const peer = decodePeerAddress(pv, msg.transactionId);
    if (!peer || peer.port === 0) {
      relay.counters.drop('bad_attribute');
      return;
    }
    relay.dataPath.sendIndication(a, peer, data);
  },
};
