/**
 * IPC between the web server (parent) and the relay child process (`turn/main.ts`, started with
 * `child_process.fork`). Messages are plain JSON objects with a `type`.
 *
 * Child → parent:
 * - `{ type: 'ready', udp: ['127.0.0.1:3478', ...], tcpPort: 3478, tlsPort: 5349 | null }` once every socket is bound.
 * - `{ type: 'stats', stats: TurnStats }` in answer to `{ type: 'stats' }`.
 * - `{ type: 'allocations', allocations: AllocationInfo[] }` in answer to `{ type: 'allocations' }`.
 * - `{ type: 'ended', id, ok }` in answer to `{ type: 'end-allocation', id }`.
 * - `{ type: 'error', message }` when start fails (the child then exits with code 1).
 *
 * Parent → child:
 * - `{ type: 'stats' }`, `{ type: 'allocations' }`, `{ type: 'end-allocation', id }`.
 * - `{ type: 'stop' }`: stop the relay and exit 0 (as do SIGTERM, SIGINT and the IPC channel closing).
 */
import type { AllocationInfo, TurnStats } from './relay.js';

/** Sent by the relay child once listening. */
export interface TurnReadyMessage {
  type: 'ready';
  /** UDP listening addresses as `ip:port` (IPv6 as `[ip]:port`). */
  udp: string[];
  tcpPort: number | null;
  tlsPort: number | null;
}

export interface TurnStatsMessage {
  type: 'stats';
  stats: TurnStats;
}

export interface TurnAllocationsMessage {
  type: 'allocations';
  allocations: AllocationInfo[];
}

export interface TurnEndedMessage {
  type: 'ended';
  id: string;
  ok: boolean;
}

export interface TurnErrorMessage {
  type: 'error';
  message: string;
}

/** Any message from the relay child. */
export type TurnChildMessage = TurnReadyMessage | TurnStatsMessage | TurnAllocationsMessage | TurnEndedMessage | TurnErrorMessage;

/** Any message to the relay child. */
export type TurnParentMessage = { type: 'stats' } | { type: 'allocations' } | { type: 'end-allocation'; id: string } | { type: 'stop' };

/** Narrow an unknown IPC payload to a parent message. */
export function isTurnParentMessage(m: unknown): m is TurnParentMessage {
  if (typeof m !== 'object' || m === null) return false;
  const t = (m as { type?: unknown }).type;
  if (t === 'end-allocation') return typeof (m as { id?: unknown }).id === 'string';
  return t === 'stats' || t === 'allocations' || t === 'stop';
}
