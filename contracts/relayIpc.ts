/**
 * IPC between the web server (parent, `server/relaySupervisor.ts`) and the relay child process
 * (`turn/main.ts`, started with `child_process.fork`, JSON serialization). Every message is a plain
 * object with a `type`; addresses are structured ({@link TransportAddress}), never text to parse.
 *
 * Parent → child:
 * - requests, each with a numeric `id` the reply repeats ({@link RelayRequest}):
 *   `{id, type:'stats'}`, `{id, type:'allocations'}`, `{id, type:'end-allocation', allocationId}`,
 *   `{id, type:'revoke-user', name}`, `{id, type:'end-rest-user', userId}`;
 * - `{type:'stop'}`: stop the relay and exit 0 (as do SIGTERM, SIGINT and the IPC channel closing).
 *
 * Child → parent:
 * - `{type:'ready', udp:[{family, address, port}...], tcpPort, tlsPort}` once every socket is bound;
 * - `{type:'start-failed', message}` when start fails (the child then exits with code 1);
 * - `{type:'log', level, category, message}`: one log record, for the parent's logger;
 * - `{type:'allocation-start', at, allocation}` / `{type:'allocation-end', at, allocation}`: an
 *   allocation was created / ended (`at`: Unix ms), for the parent's webhooks; sent only when the
 *   relay's environment sets WEBHOOK_URL;
 * - replies ({@link RelayReply}): `{id, type, ...result}` with the request's `id` and `type`, e.g.
 *   `{id, type:'stats', stats}`; or `{id, type:'failed', request, message}` when it could not be done.
 */
import type { AllocationInfo, RelayAllocationEndData, RelayAllocationStartData, TransportAddress, TurnStats } from './relay.js';

export type { TransportAddress };

/** Each request type: its parameters and the fields of its successful reply. */
export interface RelayRequestMap {
  /** Counter snapshot. */
  stats: { params: Record<string, never>; result: { stats: TurnStats } };
  /** Live allocations (admin view). */
  allocations: { params: Record<string, never>; result: { allocations: AllocationInfo[] } };
  /** End one allocation; `ended` false when there is no such allocation. */
  'end-allocation': { params: { allocationId: string }; result: { ended: boolean } };
  /**
   * Remove static user `name` (of the relay's realm) from the users file and end its allocations,
   * in one step inside the relay. `removed`: it was in the file.
   */
  'revoke-user': { params: { name: string }; result: { removed: boolean; endedAllocations: number } };
  /** End every allocation whose TURN REST username is `<expiry>:<userId>` (one seat's, whatever the expiry). */
  'end-rest-user': { params: { userId: string }; result: { endedAllocations: number } };
}

/** A request type. */
export type RelayRequestType = keyof RelayRequestMap;

/** Parameters of request type `T`. */
export type RelayRequestParams<T extends RelayRequestType> = RelayRequestMap[T]['params'];

/** A request (parent → child). */
export type RelayRequest<T extends RelayRequestType = RelayRequestType> = { [K in T]: { id: number; type: K } & RelayRequestMap[K]['params'] }[T];

/** A successful reply to a request of type `T` (child → parent). */
export type RelayReply<T extends RelayRequestType = RelayRequestType> = { [K in T]: { id: number; type: K } & RelayRequestMap[K]['result'] }[T];

/** The child could not carry out request `id` (e.g. the users file is malformed or locked). */
export interface RelayRequestFailed {
  id: number;
  type: 'failed';
  request: RelayRequestType;
  message: string;
}

/** Sent by the relay child once listening. */
export interface RelayReadyMessage {
  type: 'ready';
  /** One entry per UDP listening socket. */
  udp: TransportAddress[];
  /** TCP port, or null without a TCP listener. */
  tcpPort: number | null;
  /** TLS port, or null without TLS. */
  tlsPort: number | null;
}

/** The relay could not start (it exits 1 next). */
export interface RelayStartFailedMessage {
  type: 'start-failed';
  message: string;
}

/** Log levels a record may carry (log4js names). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type RelayLogLevel = (typeof LOG_LEVELS)[number];

/** One log record of the child, written by the parent with its own logger at `level`. */
export interface RelayLogMessage {
  type: 'log';
  level: RelayLogLevel;
  /** The child's logger category (e.g. `turn`). */
  category: string;
  message: string;
}

/** An allocation was created (RFC 8656 §7.2). */
export interface RelayAllocationStartMessage {
  type: 'allocation-start';
  /** Unix ms. */
  at: number;
  allocation: RelayAllocationStartData;
}

/** An allocation ended, with its final counters. */
export interface RelayAllocationEndMessage {
  type: 'allocation-end';
  /** Unix ms. */
  at: number;
  allocation: RelayAllocationEndData;
}

/** Any message from the relay child. */
export type RelayChildMessage =
  | RelayReadyMessage
  | RelayStartFailedMessage
  | RelayLogMessage
  | RelayAllocationStartMessage
  | RelayAllocationEndMessage
  | RelayReply
  | RelayRequestFailed;

/** Any message to the relay child. */
export type RelayParentMessage = RelayRequest | { type: 'stop' };

const REQUEST_TYPES: ReadonlySet<string> = new Set<RelayRequestType>(['stats', 'allocations', 'end-allocation', 'revoke-user', 'end-rest-user']);

/** Whether `t` names a request type. */
export function isRelayRequestType(t: unknown): t is RelayRequestType {
  return typeof t === 'string' && REQUEST_TYPES.has(t);
}

/**
 * Narrow an untrusted IPC payload to a parent message (the child's check).
 * @returns false for anything malformed (the child ignores it).
 */
export function isRelayParentMessage(m: unknown): m is RelayParentMessage {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as Record<string, unknown>;
  if (o.type === 'stop') return true;
  if (!isRelayRequestType(o.type) || !Number.isSafeInteger(o.id)) return false;
  if (o.type === 'end-allocation') return typeof o.allocationId === 'string';
  if (o.type === 'revoke-user') return typeof o.name === 'string';
  if (o.type === 'end-rest-user') return typeof o.userId === 'string';
  return true;
}

/**
 * Narrow an IPC payload to a child message by its shape (the parent's check).
 * @returns false for anything malformed (the parent ignores it).
 */
export function isRelayChildMessage(m: unknown): m is RelayChildMessage {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as Record<string, unknown>;
  switch (o.type) {
    case 'ready':
      return Array.isArray(o.udp) && o.udp.every(isTransportAddress) && (o.tcpPort === null || typeof o.tcpPort === 'number') && (o.tlsPort === null || typeof o.tlsPort === 'number');
    case 'start-failed':
      return typeof o.message === 'string';
    case 'log':
      return (LOG_LEVELS as readonly unknown[]).includes(o.level) && typeof o.category === 'string' && typeof o.message === 'string';
    case 'failed':
      return Number.isSafeInteger(o.id) && isRelayRequestType(o.request) && typeof o.message === 'string';
    case 'allocation-start':
    case 'allocation-end':
      return Number.isFinite(o.at) && isAllocationData(o.allocation, o.type === 'allocation-end');
    default:
      return isRelayRequestType(o.type) && Number.isSafeInteger(o.id);
  }
}

function isTransportAddress(a: unknown): a is TransportAddress {
  if (typeof a !== 'object' || a === null) return false;
  const o = a as Record<string, unknown>;
  return (o.family === 4 || o.family === 6) && typeof o.address === 'string' && Number.isInteger(o.port) && (o.port as number) >= 0 && (o.port as number) <= 65535;
}

const TRANSPORTS: readonly unknown[] = ['udp', 'tcp', 'tls'];
const COUNTERS = ['packetsToPeer', 'bytesToPeer', 'packetsFromPeer', 'bytesFromPeer'] as const;

/** The shape of {@link RelayAllocationStartData} (`end` false) or {@link RelayAllocationEndData}. */
function isAllocationData(a: unknown, end: boolean): boolean {
  if (typeof a !== 'object' || a === null) return false;
  const o = a as Record<string, unknown>;
  const common =
    typeof o.allocationId === 'string' &&
    typeof o.username === 'string' &&
    TRANSPORTS.includes(o.transport) &&
    isTransportAddress(o.client) &&
    isTransportAddress(o.server) &&
    isTransportAddress(o.relayed) &&
    isTransportAddress(o.advertised);
  if (!common) return false;
  if (!end) return Number.isFinite(o.lifetimeS);
  const c = o.counters as Record<string, unknown> | null;
  return typeof o.reason === 'string' && Number.isFinite(o.durationMs) && typeof c === 'object' && c !== null && COUNTERS.every((k) => Number.isFinite(c[k]));
}
