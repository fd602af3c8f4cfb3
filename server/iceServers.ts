/**
 * `GET /api/ice-servers`: the `RTCIceServer` list a browser should use, with fresh TURN REST
 * credentials (draft-uberti-behave-turn-rest-00) minted with the newest secret of the shared secret
 * set (`turn/auth/secretStore.ts`, the same set the relay and `turnadmin` read). The secret itself
 * never leaves the server.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { makeRestCredential } from '../turn/index.js';
import { hostForUrl } from '../common/hostPort.js';
import type { Env } from '../contracts/config.js';
import type { IceServer, IceServersResponse } from '../contracts/http.js';

export type { IceServer, IceServersResponse };

/** Where the embedded relay listens, as reported by its `ready` message. */
export interface RelayEndpoints {
  /** STUN/TURN port for UDP and TCP. */
  port: number;
  /** False when the relay has no TCP listener (no `?transport=tcp` URL); default true. */
  tcp?: boolean;
  /** TURN over TLS port; undefined when the relay has no TLS listener. */
  tlsPort?: number;
}

const DNS_NAME = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Validate a host name or IP literal (IPv6 with or without brackets, no zone id).
 * @returns the bare host (lower-case; IPv6 without brackets), or undefined when invalid.
 */
export function normalizeHost(host: string): string | undefined {
  let h = host.trim();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.includes('%')) return undefined; // IPv6 zone ids are meaningless to a remote browser
  if (isIP(h) !== 0) return h.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (!DNS_NAME.test(h)) return undefined;
  // All-numeric dotted names that are not valid IPv4 (e.g. 999.1.1.1) are garbage.
  if (/^[\d.]+$/.test(h)) return undefined;
  return h.toLowerCase();
}

/**
 * Host name from an HTTP `Host` header (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`).
 * @returns the validated bare host, or undefined when the header is missing or malformed.
 */
export function hostFromHeader(header: string | undefined): string | undefined {
  if (header === undefined || header.length === 0 || header.length > 300) return undefined;
  let host: string;
  let rest: string;
  if (header.startsWith('[')) {
    const end = header.indexOf(']');
    if (end < 0) return undefined;
    host = header.slice(1, end);
    if (isIP(host) !== 6 || host.includes('%')) return undefined;
    rest = header.slice(end + 1);
  } else {
    const colon = header.indexOf(':');
    if (colon >= 0 && header.indexOf(':', colon + 1) >= 0) return undefined; // bare IPv6 is not a valid Host
    host = colon >= 0 ? header.slice(0, colon) : header;
    rest = colon >= 0 ? header.slice(colon) : '';
  }
  if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
  return normalizeHost(host);
}

/**
 * Check `TURN_URLS` entries: each must be a `stun:`, `turn:` or `turns:` URI (RFC 7064/7065).
 * @returns an error message naming the bad entry, or undefined when all are valid.
 */
export function validateTurnUrls(urls: string[]): string | undefined {
  for (const u of urls) {
    if (!/^(stun|stuns|turn|turns):[^\s?]+(\?transport=(udp|tcp))?$/i.test(u)) return `not a stun:/turn:/turns: URI: ${u}`;
  }
  return undefined;
}

/** Inputs of {@link buildIceServers}. */
export interface BuildIceServersInput {
  config: Pick<Env, 'TURN_ENABLED' | 'TURN_PUBLIC_HOST' | 'TURN_URLS' | 'TURN_CREDENTIAL_TTL'> & Partial<Pick<Env, 'TURN_PORT' | 'TURN_TLS_PORT'>>;
  /** Host the page was loaded from (validated by {@link hostFromHeader}); used when TURN_PUBLIC_HOST is unset. */
  requestHost: string;
  /** Relay endpoints when the embedded relay is enabled (and ready); undefined otherwise. */
  relay: RelayEndpoints | undefined;
  /** Shared secret to mint the credential with (the newest of the secret set). */
  secret: string;
  /** Opaque user id for the REST username (default: 12 random hex characters). */
  userId?: string;
  /** Current time in unix seconds (tests). */
  nowS?: number;
}

/**
 * Build the ICE server list.
 * - `TURN_URLS` set: those URLs (stun: entries without credentials, turn:/turns: with);
 *   `TURN_PUBLIC_HOST` is then ignored (see {@link iceServerWarnings}).
 * - else embedded relay enabled: `stun:HOST:PORT` plus `turn:HOST:PORT?transport=udp|tcp` and,
 *   when the relay has TLS, `turns:HOST:TLSPORT?transport=tcp`, with REST credentials; HOST is
 *   `TURN_PUBLIC_HOST`, else the page's host.
 * - else relay disabled with `TURN_PUBLIC_HOST` (a relay on a host of its own, same TURN_PORT and
 *   TURN_TLS_PORT there): `stun:`, `turn:` udp/tcp and `turns:` URLs for that host.
 * - else: an empty list (host candidates only).
 * @throws RangeError from makeRestCredential when the ttl is not a positive integer.
 */
export function buildIceServers(input: BuildIceServersInput): IceServersResponse {
  const { config } = input;
  let { relay } = input;
  const ttl = config.TURN_CREDENTIAL_TTL;
  const mint = () => makeRestCredential(input.secret, input.userId ?? randomBytes(6).toString('hex'), ttl, input.nowS);
  if (config.TURN_URLS && config.TURN_URLS.length > 0) {
    const stun = config.TURN_URLS.filter((u) => /^stuns?:/i.test(u));
    const turn = config.TURN_URLS.filter((u) => /^turns?:/i.test(u));
    const iceServers: IceServer[] = [];
    if (stun.length > 0) iceServers.push({ urls: stun });
    if (turn.length > 0) {
      const c = mint();
      iceServers.push({ urls: turn, username: c.username, credential: c.password });
    }
    return { iceServers, ttl };
  }
  const publicHost = config.TURN_PUBLIC_HOST ? (normalizeHost(config.TURN_PUBLIC_HOST) ?? config.TURN_PUBLIC_HOST) : undefined;
  if (!config.TURN_ENABLED) {
    if (!publicHost) return { iceServers: [], ttl };
    // A separate relay host always listens on TLS (its own or a configured certificate).
    relay = { port: config.TURN_PORT ?? 3478, tlsPort: config.TURN_TLS_PORT ?? 5349 };
  }
  if (!relay) return { iceServers: [], ttl };
  const host = hostForUrl(publicHost ?? input.requestHost);
  const c = mint();
  const turnUrls = [`turn:${host}:${relay.port}?transport=udp`];
  if (relay.tcp !== false) turnUrls.push(`turn:${host}:${relay.port}?transport=tcp`);
  if (relay.tlsPort) turnUrls.push(`turns:${host}:${relay.tlsPort}?transport=tcp`);
  return {
    iceServers: [{ urls: [`stun:${host}:${relay.port}`] }, { urls: turnUrls, username: c.username, credential: c.password }],
    ttl,
  };
}

/**
 * Settings that are ignored, or that leave browsers without a relay, in words for the start-up log.
 * @returns one sentence per finding (empty when all is well).
 */
export function iceServerWarnings(config: Pick<Env, 'TURN_ENABLED' | 'TURN_PUBLIC_HOST' | 'TURN_URLS'>): string[] {
  const out: string[] = [];
  const urls = (config.TURN_URLS?.length ?? 0) > 0;
  if (urls && config.TURN_PUBLIC_HOST) out.push('TURN_PUBLIC_HOST ignored: TURN_URLS lists the ICE server URLs handed out');
  if (urls && config.TURN_ENABLED) out.push('TURN_URLS set: browsers get those URLs, not the embedded relay (which still runs; TURN_ENABLED=false stops it)');
  if (!urls && !config.TURN_ENABLED && !config.TURN_PUBLIC_HOST) {
    out.push('no STUN/TURN servers handed out: TURN_ENABLED=false and neither TURN_PUBLIC_HOST (a relay host of ours) nor TURN_URLS is set');
  }
  return out;
}
