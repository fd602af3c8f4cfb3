/**
 * All configuration, in one place: environment variables (optionally from a `.env` file in the
 * working directory), validated at start with zod. Every variable is documented in
 * `.env.example` and README.md. Both the web server (`server/main.ts`) and the standalone relay
 * (`turn/main.ts`) load their settings from here.
 */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

const ipAddress = z.string().refine((v) => isIP(v) !== 0, { message: 'must be an IPv4 or IPv6 address' });

/** True for an IPv4 loopback address (127.0.0.0/8), `::1` or an IPv4-mapped loopback (`::ffff:127.x.y.z`). */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return isIP(a) === 6 && /^(0{0,4}:){1,7}0{0,3}1$|^::1$/.test(a);
}

/** A comma-separated list; empty entries are dropped. */
const csv = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

const cidr = z.string().refine(
  (v) => {
    const [addr, bits, ...rest] = v.split('/');
    if (rest.length > 0 || addr === undefined) return false;
    const family = isIP(addr);
    if (family === 0) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return Number.isInteger(n) && n >= 0 && n <= (family === 4 ? 32 : 128);
  },
  { message: 'must be a CIDR like 127.0.0.0/8 or an address' },
);

/**
 * An entry of ALLOWED_ORIGINS: `self`, `*`, or an origin as browsers send it (`scheme://host[:port]`,
 * nothing after), normalized (lower case, no default port).
 */
const originEntry = z
  .string()
  .transform((v, ctx) => {
    if (v === 'self' || v === '*') return v;
    let u: URL | undefined;
    try {
      u = new URL(v);
    } catch {
      u = undefined;
    }
    if (!u || !['http:', 'https:'].includes(u.protocol) || u.pathname !== '/' || u.search || u.hash || u.username || u.password) {
      ctx.addIssue({ code: 'custom', message: `must be self, * or origins like https://call.example.com (scheme, host, optional port; no path): ${JSON.stringify(v.slice(0, 80))}` });
      return z.NEVER;
    }
    return u.origin;
  });

/** A DNS name a public CA can issue for over HTTP-01: no wildcard, no IP literal, at least two labels. */
const acmeName = z
  .string()
  .transform((v) => v.toLowerCase().replace(/\.$/, ''))
  .refine((v) => /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/.test(v), {
    message: 'must be DNS names like call.example.com (no wildcards, no IP addresses)',
  });

/** Let's Encrypt's production ACME directory (RFC 8555 §7.1.1), the default of ACME_DIRECTORY. */
export const LETSENCRYPT_PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory';
/** Let's Encrypt's staging directory: untrusted certificates, generous rate limits (for trying a setup). */
export const LETSENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';

const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'off']);

/** The schema of the environment. Keys are variable names; defaults are the documented ones. */
export const EnvSchema = z
  .object({
    // Web server
    /** HTTPS (and plain-HTTP) listening address; `::` = every IPv6 and IPv4 address (dual-stack). */
    HTTPS_HOST: z.string().default('::'),
    HTTPS_PORT: port.default(8443),
    TLS_CERT: z.string().optional(),
    TLS_KEY: z.string().optional(),
    CERTS_DIR: z.string().default('certs'),
    DATA_DIR: z.string().default('data'),
    LOG_LEVEL: logLevel.default('info'),
    LOG_DIR: z.string().default('logs'),
    /** Path to a log4js JSON configuration that replaces the default one (stdout + rotating file). */
    LOG_CONFIG: z.string().optional(),
    /** Seat grace period for a disconnected member that uses a session token, ms. */
    SEAT_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(15_000),
    /**
     * Join attempts per client address (a token bucket): size, and refill per minute. The defaults
     * let people behind one address mistype passcodes and rejoin freely, and stop a script trying
     * room numbers one after another. JOIN_RATE_BURST=0 turns the limit off.
     */
    JOIN_RATE_BURST: z.coerce.number().int().min(0).max(1_000_000).default(60),
    JOIN_RATE_PER_MIN: z.coerce.number().positive().max(1_000_000).default(30),
    /**
     * Which peers are trusted reverse proxies whose X-Forwarded-For names the client address:
     * `loopback` (default: a proxy on the same host), `off` (never read X-Forwarded-For), or
     * addresses/CIDRs, comma-separated (`loopback` may be one of them).
     */
    TRUST_PROXY: csv
      .pipe(
        z
          .array(z.string().refine((v) => v === 'off' || v === 'loopback' || cidr.safeParse(v).success, { message: 'must be off, loopback, or addresses/CIDRs like 10.0.0.0/8' }))
          .min(1, 'names nothing (use off)'),
      )
      .refine((v) => !v.includes('off') || v.length === 1, { message: 'off cannot be combined with other entries' })
      .default(['loopback']),
    /**
     * Origins allowed to open Socket.IO connections and call /api/* from a browser: `self` (the
     * page's own origin: the Origin's host equals the request's Host header, plus the ACME_DOMAIN
     * names), `*` (any), or origins like https://app.example.com, comma-separated. Requests
     * without an Origin header (non-browser clients, same-origin GETs) are not refused.
     */
    ALLOWED_ORIGINS: csv
      .pipe(z.array(originEntry).min(1, 'names nothing (use self or *)'))
      .default(['self']),
    /** Bearer token required by GET /metrics (unset: /metrics is open). */
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').max(256).optional(),
    /** Bearer token of the admin API under /api/admin (unset: the admin API is disabled, 404). */
    ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').max(256).optional(),

    // Trusted certificate from an ACME CA (Let's Encrypt), HTTP-01 challenges on HTTP_PORT
    /** Names to obtain a certificate for, comma-separated (the first is the subject's common name). */
    ACME_DOMAIN: csv.pipe(z.array(acmeName).max(100, 'at most 100 names')).optional(),
    /** Contact address of the ACME account (optional). */
    ACME_EMAIL: z.email('must be an e-mail address').optional(),
    /** ACME directory URL (RFC 8555 §7.1.1). */
    ACME_DIRECTORY: z.url({ protocol: /^https$/, message: 'must be an https:// URL' }).default(LETSENCRYPT_PRODUCTION),
    /**
     * Plain-HTTP listener: ACME HTTP-01 challenges, everything else redirected to HTTPS. `off`
     * disables it; unset: 80 when ACME_DOMAIN is set, otherwise off.
     */
    HTTP_PORT: z.union([z.literal('off'), port]).optional(),
    /**
     * Plain-HTTP listener for a TLS-terminating reverse proxy on the same host (nginx): the same
     * pages, API and Socket.IO signaling as HTTPS, without TLS. Unset: off.
     */
    PROXY_HTTP_PORT: port.optional(),
    /** Its address: loopback only unless PROXY_HTTP_ALLOW_REMOTE (plain HTTP must never face the internet). */
    PROXY_HTTP_HOST: ipAddress.default('127.0.0.1'),
    /** Allow a non-loopback PROXY_HTTP_HOST (a proxy on another host of a private network you trust). */
    PROXY_HTTP_ALLOW_REMOTE: bool.default(false),

    // Webhooks: signed JSON events POSTed to the operator (README "Webhooks")
    /** Receiver of the events (http:// or https://); unset: no webhooks. */
    WEBHOOK_URL: z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).optional(),
    /** Key of the HMAC-SHA256 signature of every body (required with WEBHOOK_URL). */
    WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').max(256).optional(),
    /** PEM file of CA certificates trusted for an https:// WEBHOOK_URL besides the system's (e.g. a self-signed receiver). */
    WEBHOOK_CA: z.string().optional(),
    /** Events waiting for delivery (and retry) at most; a new event beyond it is dropped and counted. */
    WEBHOOK_QUEUE_SIZE: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
    /** Tries per event (first attempt included) before it is dropped and counted. */
    WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(8),
    /** Time one request may take (connect, send, response headers), ms. */
    WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5000),

    // Scale-out of signaling (several server nodes sharing one Redis)
    /** Redis URL (`redis://[user:pass@]host:port[/db]`, `rediss://` for TLS). Unset: rooms stay in-process. */
    REDIS_URL: z
      .string()
      .refine((v) => /^rediss?:\/\/[^\s]+$/.test(v), { message: 'must be a redis:// or rediss:// URL' })
      .optional(),
    /** Prefix of every Redis key and Socket.IO adapter channel (several deployments can share one Redis). */
    REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . : -').default('webrtc-call'),
    /** A node that has not refreshed its heartbeat key for this long is dead: its seats are reclaimed, ms. */
    CLUSTER_NODE_TTL_MS: z.coerce.number().int().min(300).max(600_000).default(10_000),

    // Relay
    TURN_ENABLED: bool.default(true),
    TURN_REALM: z.string().min(1).max(127).default('webrtc-call'),
    /**
     * TURN REST shared secrets, newest first. Fixed for the life of the process (the environment is
     * not ours to edit): `turnadmin` adds newer ones to the users file and can remove those, not these.
     */
    TURN_SECRET: csv.optional(),
    TURN_USERS_FILE: z.string().optional(),
    /** Relay listening addresses, comma-separated (`0.0.0.0` = every IPv4 address, `::` = every IPv6 address). */
    TURN_LISTEN: csv.pipe(z.array(ipAddress).min(1, 'names no address')).default(['0.0.0.0']),
    TURN_PORT: port.default(3478),
    TURN_TLS_PORT: port.default(5349),
    TURN_TLS_CERT: z.string().optional(),
    TURN_TLS_KEY: z.string().optional(),
    TURN_MIN_PORT: z.coerce.number().int().min(1024).max(65535).default(49152),
    TURN_MAX_PORT: z.coerce.number().int().min(1024).max(65535).default(65535),
    TURN_RELAY_IP: ipAddress.optional(),
    TURN_EXTERNAL_IP: ipAddress.optional(),
    TURN_ALLOWED_PEERS: csv.pipe(z.array(cidr)).default([]),
    /** Peer CIDRs refused in addition to the default ranges (TURN_ALLOWED_PEERS wins over both, as in coturn). */
    TURN_DENIED_PEERS: csv.pipe(z.array(cidr)).default([]),
    TURN_MAX_LIFETIME: z.coerce.number().int().min(600).max(86_400).default(3600),
    /**
     * Allocations per username (486 beyond) and in total (508 beyond); 0 = unlimited. 100 per user lets
     * coturn's `turnutils_uclient -m 50` (two allocations per client) run under one name; the total
     * bounds relay sockets and memory.
     */
    TURN_USER_QUOTA: z.coerce.number().int().min(0).default(100),
    TURN_TOTAL_QUOTA: z.coerce.number().int().min(0).default(2000),
    /** Bandwidth limit per allocation, bytes per second, each direction (coturn `max-bps`); 0 = none. */
    TURN_MAX_BPS: z.coerce.number().int().min(0).default(0),
    /** Allocation lifetime granted when a client asks for less, s (RFC 8656 default 600; tests shorten it). */
    TURN_DEFAULT_LIFETIME: z.coerce.number().int().min(1).max(3600).default(600),
    /** Permission lifetime, s (RFC 8656: 300). */
    TURN_PERMISSION_LIFETIME: z.coerce.number().int().min(1).max(3600).default(300),
    /** Channel binding lifetime, s (RFC 8656: 600). */
    TURN_CHANNEL_LIFETIME: z.coerce.number().int().min(1).max(3600).default(600),
    /** Nonce lifetime, s. */
    TURN_NONCE_LIFETIME: z.coerce.number().int().min(1).max(86_400).default(600),
    /** Unauthenticated requests per source IP: token bucket size and refill per second. */
    TURN_UNAUTH_BURST: positiveInt.default(400),
    TURN_UNAUTH_RATE: positiveInt.default(200),
    /**
     * ChannelBind numbers: rfc5766 = 0x4000–0x7FFF (default, as coturn: its turnutils_uclient picks
     * from the whole range); rfc8656 = 0x4000–0x4FFF only (strict RFC 8656 §12).
     */
    TURN_CHANNEL_RANGE: z.enum(['rfc8656', 'rfc5766']).default('rfc5766'),
    /** Port of the standalone relay's Prometheus listener (`/metrics`, `/` = health); unset = none. */
    TURN_METRICS_PORT: port.optional(),
    /** Data path: native (the N-API addon, worker threads), js (Node's dgram), auto = native when the addon loads. */
    TURN_DATA_PATH: z.enum(['js', 'native', 'auto']).default('auto'),
    /** Native data path worker threads (coturn's --relay-threads); 0 = one per CPU, at most 8. */
    TURN_RELAY_THREADS: z.coerce.number().int().min(0).max(64).default(0),
    TURN_PUBLIC_HOST: z.string().optional(),
    /**
     * Lifetime of the TURN REST credentials handed to a seated member (with `joined` and on renewal
     * over signaling) and to testers (`/api/ice-servers`), s. Short: credentials are renewed while a
     * call lasts, and an allocation keeps working past its credentials' expiry.
     */
    TURN_CREDENTIAL_TTL: z.coerce.number().int().min(1).max(7 * 86_400).default(600),
    /**
     * Tester token of `GET /api/ice-servers` (`Authorization: Bearer`; the trickle-ICE page takes
     * it from `#token=` or its token field). Never in a query string: URLs are logged. Unset: the
     * endpoint refuses (403) — credentials go only to seated members, over signaling.
     */
    ICE_TOKEN: z.string().min(16, 'must be at least 16 characters').max(256).optional(),
    /** Comma-separated ICE server URLs to hand out instead of the embedded relay's (e.g. an external coturn). */
    TURN_URLS: csv.optional(),
  })
  .superRefine((env, ctx) => {
    if ((env.TLS_CERT === undefined) !== (env.TLS_KEY === undefined)) {
      ctx.addIssue({ code: 'custom', path: [env.TLS_CERT ? 'TLS_KEY' : 'TLS_CERT'], message: 'TLS_CERT and TLS_KEY must be set together' });
    }
    if ((env.TURN_TLS_CERT === undefined) !== (env.TURN_TLS_KEY === undefined)) {
      ctx.addIssue({ code: 'custom', path: [env.TURN_TLS_CERT ? 'TURN_TLS_KEY' : 'TURN_TLS_CERT'], message: 'TURN_TLS_CERT and TURN_TLS_KEY must be set together' });
    }
    if (env.ACME_DOMAIN && env.TLS_CERT) {
      ctx.addIssue({ code: 'custom', path: ['ACME_DOMAIN'], message: 'ACME_DOMAIN and TLS_CERT/TLS_KEY are alternatives: set one of them' });
    }
    if (env.WEBHOOK_URL && !env.WEBHOOK_SECRET) ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRET'], message: 'must be set with WEBHOOK_URL (every event is signed)' });
    if (env.ACME_DOMAIN?.length === 0) ctx.addIssue({ code: 'custom', path: ['ACME_DOMAIN'], message: 'names no domain' });
    if (!env.PROXY_HTTP_ALLOW_REMOTE && !isLoopbackAddress(env.PROXY_HTTP_HOST)) {
      ctx.addIssue({
        code: 'custom',
        path: ['PROXY_HTTP_HOST'],
        message: 'must be a loopback address (127.0.0.0/8 or ::1): the proxy listener speaks plain HTTP and trusts X-Forwarded-Proto; set PROXY_HTTP_ALLOW_REMOTE=true only for a proxy on a private network',
      });
    }
    if (env.TURN_MIN_PORT > env.TURN_MAX_PORT) {
      ctx.addIssue({ code: 'custom', path: ['TURN_MIN_PORT'], message: `must not exceed TURN_MAX_PORT (${env.TURN_MAX_PORT})` });
    }
  })
  .transform(({ HTTP_PORT, ...env }) => ({
    ...env,
    /** Resolved plain-HTTP port: a number, or undefined for no listener. */
    HTTP_PORT: HTTP_PORT === 'off' ? undefined : (HTTP_PORT ?? (env.ACME_DOMAIN ? 80 : undefined)),
  }));

export type Env = z.infer<typeof EnvSchema>;

/** Thrown by {@link loadConfig} when a variable is invalid; `message` names every bad variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Parse and validate the environment.
 *
 * @param env  variables to read (default `process.env`); a `.env` file in the working directory is
 *             loaded first when `env` is `process.env` (existing variables win).
 * @returns    typed settings with defaults applied; relative paths resolved against the working directory.
 * @throws ConfigError naming each invalid variable and why, e.g. `HTTPS_PORT: Too big: expected number to be <=65535`.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Env {
  if (env === process.env && existsSync('.env')) process.loadEnvFile('.env');
  // Treat empty strings as unset, as shells and .env files commonly leave them.
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') cleaned[k] = v;
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(environment)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}\nSee .env.example for every setting.`);
  }
  const c = parsed.data;
  const abs = (p: string) => path.resolve(p);
  return {
    ...c,
    CERTS_DIR: abs(c.CERTS_DIR),
    DATA_DIR: abs(c.DATA_DIR),
    LOG_DIR: abs(c.LOG_DIR),
    LOG_CONFIG: c.LOG_CONFIG && abs(c.LOG_CONFIG),
    TLS_CERT: c.TLS_CERT && abs(c.TLS_CERT),
    TLS_KEY: c.TLS_KEY && abs(c.TLS_KEY),
    TURN_TLS_CERT: c.TURN_TLS_CERT && abs(c.TURN_TLS_CERT),
    TURN_TLS_KEY: c.TURN_TLS_KEY && abs(c.TURN_TLS_KEY),
    WEBHOOK_CA: c.WEBHOOK_CA && abs(c.WEBHOOK_CA),
    TURN_USERS_FILE: abs(c.TURN_USERS_FILE ?? path.join(c.DATA_DIR, 'turn-users.json')),
  };
}
