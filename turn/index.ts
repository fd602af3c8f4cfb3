/**
 * Our STUN/TURN relay (RFC 8489, RFC 8656) as a library.
 *
 * ```ts
 * const relay = createTurnServer({ realm: 'example.org', secrets: ['s3cret'], listen: '127.0.0.1', port: 3478 });
 * await relay.start();
 * console.log(relay.stats());
 * await relay.stop();
 * ```
 * The wire codec for clients is exported too (`./stun/index.js`).
 */
export { createTurnServer, type TurnServer, type TurnAddresses } from './server.js';
export type { TurnServerOptions, TurnTlsOptions } from './options.js';
export type { TurnStats } from './stats.js';
export type { AllocationInfo } from './allocation/allocation.js';
export type { TurnLogger } from './logger.js';
export * as stun from './stun/index.js';
