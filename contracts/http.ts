/**
 * Bodies of the HTTP API, shared by the server (`server/app.ts`, `server/admin.ts`) and the pages
 * (`client/src/`). Every `/api/*` error is `{ error: string }` with a 4xx/5xx status.
 */
import type { AllocationInfo, TurnStats } from './relay.js';

/** One entry of `RTCConfiguration.iceServers`. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** Body of `GET /api/ice-servers`. */
export interface IceServersResponse {
  iceServers: IceServer[];
  /** Seconds the credentials stay valid (`TURN_CREDENTIAL_TTL`). */
  ttl: number;
}

/** Body of every `/api/*` error response. */
export interface ApiError {
  error: string;
  /** Stable machine-readable code, where a client acts on it (e.g. {@link IceServersRefusal}). */
  code?: string;
}

/**
 * Why `GET /api/ice-servers` gave no credentials: `ice-token-unset` (403: no `ICE_TOKEN` is
 * configured, the endpoint serves nobody), `token-required` (401: no `Authorization: Bearer`),
 * `wrong-token` (401).
 */
export type IceServersRefusal = 'ice-token-unset' | 'token-required' | 'wrong-token';

/** Body of a refused `GET /api/ice-servers`. */
export interface IceServersRefusedResponse extends ApiError {
  code: IceServersRefusal;
}

/** Body of `GET /healthz`. */
export interface HealthResponse {
  status: 'ok';
}

/** Body of `GET /readyz` (200 when ready, 503 otherwise). */
export interface ReadinessResponse {
  status: 'ready' | 'not-ready';
  checks: { https: boolean; signaling: boolean; relay: boolean | 'disabled' };
}

/** One seated member in `GET /api/admin/rooms`. */
export interface AdminRoomMember {
  socketId: string;
  polite: boolean;
  connected: boolean;
  /** ISO time. */
  joinedAt: string;
  /** ISO time until which a disconnected member's seat is held. */
  heldUntil?: string;
}

/** Body of `GET /api/admin/rooms`. */
export interface AdminRoomsResponse {
  rooms: Array<{ room: string; members: AdminRoomMember[] }>;
  sockets: number;
}

/** Body of `GET /api/admin/relay`. */
export interface AdminRelayResponse {
  enabled: boolean;
  status: unknown;
  stats: TurnStats | null;
}

/** Body of `GET /api/admin/relay/allocations`. */
export interface AdminAllocationsResponse {
  allocations: AllocationInfo[];
}

/** Body of `DELETE /api/admin/relay/rest-users/:userId` (the allocations of one seat's TURN REST user id). */
export interface AdminEndRestUserResponse {
  endedAllocations: number;
}

/** Body of `DELETE /api/admin/relay/users/:name`. */
export interface AdminRevokeUserResponse {
  removed: boolean;
  endedAllocations: number;
}

function isIceServer(v: unknown): v is IceServer {
  if (typeof v !== 'object' || v === null) return false;
  const { urls, username, credential } = v as Record<string, unknown>;
  const urlsOk = typeof urls === 'string' || (Array.isArray(urls) && urls.every((u) => typeof u === 'string'));
  return urlsOk && (username === undefined || typeof username === 'string') && (credential === undefined || typeof credential === 'string');
}

/**
 * Check an untrusted `GET /api/ice-servers` body (as parsed from JSON).
 * Entries that are not ICE servers are dropped; a string `urls` becomes a one-element list.
 * @throws TypeError when the body has no `iceServers` array.
 */
export function parseIceServersResponse(body: unknown): IceServersResponse {
  const b = (typeof body === 'object' && body !== null ? body : {}) as { iceServers?: unknown; ttl?: unknown };
  if (!Array.isArray(b.iceServers)) throw new TypeError('no iceServers in the answer');
  const iceServers = b.iceServers.filter(isIceServer).map((s) => ({ ...s, urls: typeof s.urls === 'string' ? [s.urls] : s.urls }));
  return { iceServers, ttl: typeof b.ttl === 'number' && b.ttl >= 0 ? b.ttl : 0 };
}
