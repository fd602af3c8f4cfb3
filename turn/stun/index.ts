/**
 * The STUN/TURN wire codec, for servers and clients: messages ({@link encodeMessage}, {@link decodeMessage}),
 * attributes ({@link Attr} builders and value codecs), integrity/fingerprint, ChannelData and address helpers.
 */
export * from './address.js';
export * from './attributes.js';
export * from './integrity.js';
export * from './message.js';
export * from './channelData.js';
export * from './dataIndication.js';
export * from './streamFramer.js';
