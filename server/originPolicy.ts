/**
 * Which web origins may use this server from a browser (`ALLOWED_ORIGINS`): checked on every
 * Socket.IO handshake (Engine.IO `allowRequest`, before any connection exists) and on every
 * `/api/*` request. Refusals are counted (`webrtc_origin_refused_total{surface}`).
 *
 * Rules:
 * - No `Origin` header: allowed. Browsers send Origin on every WebSocket handshake and on every
 *   cross-origin request, so a page of another site always names itself; requests without one come
 *   from non-browser clients (curl, the original demo's Node clients, monitoring) or are same-origin
 *   GETs (Socket.IO's first long-polling request), which no other site can make on a user's behalf
 *   with the user's page. `Origin: null` (sandboxed frames, file: pages) is a named origin and refused.
 * - `*`: any origin.
 * - `self` (the default): the page's own origin. The Origin's host name equals the host name of the
 *   request's `Host` header (and its port too, when the Host header names one: a proxy such as nginx
 *   with `proxy_set_header Host $host` passes the name without the port), over https (http only for
 *   localhost/loopback, where browsers allow WebRTC without TLS); plus https origins of the
 *   `ACME_DOMAIN` names, whatever the Host header says.
 * - Any other entry: that exact origin (`https://app.example.com`, `https://call.example.com:8443`).
 */
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from 'log4js';
import type { Registry } from 'prom-client';
import { pullCounter, type Sample } from '../common/pullMetrics.js';

/** Where a refused request arrived. */
export type OriginSurface = 'socketio' | 'api';

/** Distinct refused origins logged at warn level (after that: debug), so a flood cannot fill the log. */
const WARN_ORIGINS = 100;

/** The origin rule of one server (see the module comment). */
export class OriginPolicy {
  /** Refused requests, by surface. */
  readonly refused: Record<OriginSurface, number> = { socketio: 0, api: 0 };
  private readonly any: boolean;
  private readonly self: boolean;
  private readonly exact: Set<string>;
  private readonly publicNames: Set<string>;
  private readonly warned = new Set<string>();

  /**
   * @param entries     `ALLOWED_ORIGINS`: `self`, `*` or normalized origins (`new URL(x).origin`).
   * @param publicNames DNS names of this deployment (`ACME_DOMAIN`), allowed as https origins under `self`.
   * @param logger      refusals are logged (warn once per origin, then debug).
   */
  constructor(
    entries: readonly string[],
    publicNames: readonly string[] = [],
    private readonly logger?: Logger,
  ) {
    this.any = entries.includes('*');
    this.self = entries.includes('self');
    this.exact = new Set(entries.filter((e) => e !== '*' && e !== 'self'));
    this.publicNames = new Set(publicNames.map((n) => n.toLowerCase()));
  }

  /**
   * True when a request with this `Origin` and `Host` header may proceed.
   * @param origin the Origin header (undefined when absent).
   * @param host   the Host header.
   */
  allows(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined || this.any) return true;
    let u: URL;
    try {
      u = new URL(origin);
    } catch {
      return false;
    }
    if (u.origin === 'null' || (u.protocol !== 'https:' && u.protocol !== 'http:')) return false;
    if (this.exact.has(u.origin)) return true;
    if (!this.self) return false;
    const name = u.hostname.toLowerCase();
    if (u.protocol === 'http:' && !isLoopbackName(name)) return false;
    if (u.protocol === 'https:' && this.publicNames.has(name)) return true;
    return host !== undefined && sameHost(u, host);
  }

  /** Count and log a refusal. */
  private refuse(surface: OriginSurface, origin: string, host: string | undefined): void {
    this.refused[surface]++;
    const text = `${surface}: refused Origin ${JSON.stringify(origin.slice(0, 200))} (Host ${JSON.stringify((host ?? '').slice(0, 200))}); see ALLOWED_ORIGINS`;
    if (this.warned.size < WARN_ORIGINS && !this.warned.has(origin)) {
      this.warned.add(origin);
      this.logger?.warn(text);
    } else this.logger?.debug(text);
  }

  /** Engine.IO `allowRequest`: refuses a handshake from a foreign origin with 403 before a socket exists. */
  allowRequest(): (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) => void {
    return (req, callback) => {
      const { origin, host } = req.headers;
      if (this.allows(origin, host)) return callback(null, true);
      this.refuse('socketio', origin!, host);
      callback('origin not allowed', false);
    };
  }

  /** Express middleware for `/api`: 403 `{error:'origin not allowed'}` for a foreign origin. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const { origin, host } = req.headers;
      if (this.allows(origin, host)) return next();
      this.refuse('api', origin!, host);
      res.status(403).set('Cache-Control', 'no-store').json({ error: 'origin not allowed' });
    };
  }

  /** Registers `webrtc_origin_refused_total{surface}` (a metrics collector, see metrics.ts). */
  collector(): (registry: Registry) => void {
    return (registry) => {
      const refused = this.refused;
      pullCounter(registry, 'webrtc_origin_refused_total', 'Requests refused because of their Origin (ALLOWED_ORIGINS), by surface (socketio handshake, /api)', ['surface'], () =>
        Object.entries(refused).map(([surface, v]): Sample => [{ surface }, v]),
      );
    };
  }
}

/** True for `localhost` (and `*.localhost`) and loopback address literals. */
function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(name) || name === '[::1]';
}

/**
 * The origin's host name equals the Host header's, and so does its port when the Host header
 * names one (ports compared with the scheme's default filled in).
 */
function sameHost(origin: URL, host: string): boolean {
  let h: URL;
  try {
    h = new URL(`${origin.protocol}//${host}`);
  } catch {
    return false;
  }
  if (h.hostname.toLowerCase() !== origin.hostname.toLowerCase()) return false;
  if (!/:\d+$/.test(host)) return true;
  const dflt = origin.protocol === 'https:' ? '443' : '80';
  return (h.port || dflt) === (origin.port || dflt);
}
