/**
 * ICE server configuration from the server's `GET /api/ice-servers`
 * (`{ iceServers: RTCIceServer[], ttl }`, fresh TURN REST credentials for the embedded relay).
 */
import { parseIceServersResponse } from '../../contracts/http.js';

/** Result of {@link fetchIceServers}: the servers, and a warning sentence when none could be fetched. */
export interface IceServersResult {
  iceServers: RTCIceServer[];
  /** Seconds the credentials stay valid (0 when unknown). */
  ttl: number;
  warning?: string;
}

/**
 * Fetch the ICE servers. Never throws: on any failure (network, HTTP status, bad JSON, timeout of
 * `timeoutMs`, default 5 000 ms) returns no servers and a warning, so a call on the same network
 * can still work with host candidates.
 */
export async function fetchIceServers(url = '/api/ice-servers', timeoutMs = 5000): Promise<IceServersResult> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  try {
    const res = await fetch(url, { cache: 'no-store', signal: ctrl.signal, headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return parseIceServersResponse(await res.json());
  } catch (err) {
    const why = err instanceof Error ? (err.name === 'AbortError' ? 'timed out' : err.message) : String(err);
    return {
      iceServers: [],
      ttl: 0,
      warning: `Could not get the relay (TURN) settings (${why}). Calls work only when both people can reach each other directly.`,
    };
  } finally {
    clearTimeout(timer);
  }
}
