/**
 * coturn's `turnserver` options (command line and `turnserver.conf`) and what each becomes here: a
 * TURN_* setting (contracts/config.ts), a relay extra (turn/main.ts `RelayExtras`), accepted as what
 * we always do, or not supported (a warning, never a failure: a coturn configuration keeps working).
 * README's "coturn's options" table lists the same.
 */
import { isIP } from 'node:net';
import type { RelayExtras } from '../main.js';
import { CliError } from './common.js';
import { peerSpecToCidrs } from './ipRanges.js';

/** What the options add up to, before validation by the settings schema. */
export interface Translation {
  /** Setting overrides, e.g. `TURN_PORT`. */
  env: Record<string, string>;
  /** Which option set each setting (for error messages). */
  origin: Record<string, string>;
  listen: string[];
  relayIps: string[];
  externalIps: string[];
  allowed: string[];
  denied: string[];
  users: Array<{ name: string; password: string; from: string }>;
  secrets: string[];
  useAuthSecret: boolean;
  extras: RelayExtras;
  warnings: string[];
}

/** A translation with nothing set yet. */
export function emptyTranslation(): Translation {
  return { env: {}, origin: {}, listen: [], relayIps: [], externalIps: [], allowed: [], denied: [], users: [], secrets: [], useAuthSecret: false, extras: {}, warnings: [] };
}

/** An option's value: its text, or `true` for a flag. */
type Value = string | true;
/** One coturn option: commander flags (first long name = the config-file key), help, what it does. */
export interface CoturnOption {
  flags: string;
  help: string;
  /** Repeatable (values collect into a list). */
  many?: boolean;
  apply?: (t: Translation, v: Value, name: string) => void;
  /** Accepted and ignored; with a reason it is logged as a warning, without one it is what we do anyway. */
  ignore?: string;
  /** Only on the command line (`-c`, `-n`). */
  cliOnly?: boolean;
}

const set = (key: string) => (t: Translation, v: Value, name: string) => {
  t.env[key] = String(v);
  t.origin[key] = name;
};
const str = (v: Value, name: string): string => {
  if (v === true || v === '') throw new CliError(`${name} needs a value`);
  return v;
};
const ip = (v: Value, name: string): string => {
  const s = str(v, name);
  if (isIP(s) === 0) throw new CliError(`${name}: ${JSON.stringify(s)} is not an IPv4 or IPv6 address`);
  return s;
};

/** Every option of coturn's turnserver 4.6 we know, in README order. */
export const COTURN_OPTIONS: CoturnOption[] = [
  { flags: '-n', help: 'do not read a configuration file', cliOnly: true },
  { flags: '-c <file>', help: 'configuration file (turnserver.conf syntax)', cliOnly: true },
  { flags: '-a, --lt-cred-mech', help: 'long-term credentials (always on here)' },
  { flags: '-z, --no-auth', help: 'anonymous access', ignore: 'an open relay is never offered: credentials stay required' },
  { flags: '-f, --fingerprint', help: 'FINGERPRINT in responses (always on here)' },
  { flags: '-r, --realm <realm>', help: 'realm (TURN_REALM)', apply: set('TURN_REALM') },
  {
    flags: '-u, --user <name:password>',
    help: 'static user NAME:PASSWORD or NAME:0x<key from turnadmin -k>, repeatable (kept in memory; turnadmin manages the users file)',
    many: true,
    apply: (t, v, name) => {
      const s = str(v, name);
      const i = s.indexOf(':');
      if (i <= 0 || i === s.length - 1) throw new CliError(`${name}: expected NAME:PASSWORD, got ${JSON.stringify(s)}`);
      t.users.push({ name: s.slice(0, i), password: s.slice(i + 1), from: name });
    },
  },
  { flags: '--use-auth-secret', help: 'TURN REST credentials (secrets: --static-auth-secret, else the secret set)', apply: (t) => (t.useAuthSecret = true) },
  { flags: '--static-auth-secret <secret>', help: 'TURN REST shared secret, repeatable (TURN_SECRET)', many: true, apply: (t, v, name) => t.secrets.push(str(v, name)) },
  { flags: '-L, --listening-ip <ip>', help: 'listening address, repeatable (TURN_LISTEN; default 0.0.0.0)', many: true, apply: (t, v, name) => t.listen.push(ip(v, name)) },
  { flags: '-p, --listening-port <port>', help: 'UDP and TCP port (TURN_PORT)', apply: set('TURN_PORT') },
  { flags: '--tls-listening-port <port>', help: 'TLS port (TURN_TLS_PORT)', apply: set('TURN_TLS_PORT') },
  { flags: '-E, --relay-ip <ip>', help: 'local address of relay sockets (TURN_RELAY_IP; one)', many: true, apply: (t, v, name) => t.relayIps.push(ip(v, name)) },
  { flags: '-X, --external-ip <public[/private]>', help: 'public address advertised (TURN_EXTERNAL_IP; /PRIVATE sets TURN_RELAY_IP; one)', many: true, apply: (t, v, name) => t.externalIps.push(str(v, name)) },
  { flags: '--min-port <port>', help: 'lowest relay port (TURN_MIN_PORT)', apply: set('TURN_MIN_PORT') },
  { flags: '--max-port <port>', help: 'highest relay port (TURN_MAX_PORT)', apply: set('TURN_MAX_PORT') },
  { flags: '--cert <file>', help: 'TLS certificate, PEM (TURN_TLS_CERT)', apply: set('TURN_TLS_CERT') },
  { flags: '--pkey <file>', help: 'TLS private key, PEM (TURN_TLS_KEY)', apply: set('TURN_TLS_KEY') },
  { flags: '--no-tls', help: 'no TLS listener', apply: (t) => (t.extras.tls = false) },
  { flags: '--no-udp', help: 'no UDP listener', apply: (t) => (t.extras.udp = false) },
  { flags: '--no-tcp', help: 'no TCP listener', apply: (t) => (t.extras.tcp = false) },
  { flags: '--no-dtls', help: 'no DTLS listener (there is none here)' },
  { flags: '--denied-peer-ip <ip[-ip]>', help: 'refuse these peers, repeatable (TURN_DENIED_PEERS)', many: true, apply: (t, v, name) => t.denied.push(...peerSpecToCidrs(str(v, name))) },
  { flags: '--allowed-peer-ip <ip[-ip]>', help: 'allow these peers even if refused otherwise, repeatable (TURN_ALLOWED_PEERS)', many: true, apply: (t, v, name) => t.allowed.push(...peerSpecToCidrs(str(v, name))) },
  { flags: '--allow-loopback-peers', help: 'allow 127.0.0.0/8 and ::1 as peers (TURN_ALLOWED_PEERS)', apply: (t) => t.allowed.push('127.0.0.0/8', '::1/128') },
  { flags: '--no-loopback-peers', help: 'refuse loopback peers (the default here)' },
  { flags: '--no-multicast-peers', help: 'refuse multicast peers (the default here)' },
  { flags: '-q, --user-quota <n>', help: 'allocations per user, 0 = unlimited (TURN_USER_QUOTA)', apply: set('TURN_USER_QUOTA') },
  { flags: '-Q, --total-quota <n>', help: 'allocations in total, 0 = unlimited (TURN_TOTAL_QUOTA)', apply: set('TURN_TOTAL_QUOTA') },
  { flags: '-s, --max-bps <bytes>', help: 'bandwidth per allocation, bytes/s (TURN_MAX_BPS)', apply: set('TURN_MAX_BPS') },
  { flags: '--max-allocate-lifetime <s>', help: 'longest allocation lifetime (TURN_MAX_LIFETIME)', apply: set('TURN_MAX_LIFETIME') },
  { flags: '--channel-lifetime <s>', help: 'channel binding lifetime (TURN_CHANNEL_LIFETIME)', apply: set('TURN_CHANNEL_LIFETIME') },
  { flags: '--permission-lifetime <s>', help: 'permission lifetime (TURN_PERMISSION_LIFETIME)', apply: set('TURN_PERMISSION_LIFETIME') },
  {
    flags: '--stale-nonce [s]',
    help: 'nonce lifetime, default 600 (TURN_NONCE_LIFETIME; 0 = a day)',
    apply: (t, v, name) => set('TURN_NONCE_LIFETIME')(t, v === true ? '600' : v === '0' ? '86400' : v, name),
  },
  { flags: '-b, --userdb <file>', help: 'users file (TURN_USERS_FILE; our JSON file written by turnadmin, not an SQLite database)', apply: set('TURN_USERS_FILE') },
  { flags: '--db <file>', help: 'same as --userdb', apply: set('TURN_USERS_FILE') },
  { flags: '-l, --log-file <file>', help: 'also log to this file; stdout or - for the console only', apply: (t, v, name) => (t.extras.logFile = str(v, name)) },
  { flags: '-v, --verbose', help: 'verbose log (LOG_LEVEL=debug)', apply: (t, _v, name) => set('LOG_LEVEL')(t, 'debug', name) },
  { flags: '-V, --Verbose', help: 'very verbose log (LOG_LEVEL=trace)', apply: (t, _v, name) => set('LOG_LEVEL')(t, 'trace', name) },
  { flags: '--prometheus', help: 'Prometheus metrics on port 9641 (TURN_METRICS_PORT)', apply: (t, _v, name) => set('TURN_METRICS_PORT')(t, '9641', name) },
  { flags: '--prometheus-port <port>', help: 'Prometheus port (TURN_METRICS_PORT)', apply: set('TURN_METRICS_PORT') },
  { flags: '--no-cli', help: 'no telnet CLI (there is none here)' },
  { flags: '--no-software-attribute', help: 'no SOFTWARE attribute (never sent here)' },
  { flags: '--simple-log', help: 'no log file name decoration (none here)' },
  { flags: '--no-stdout-log', help: 'no console log', ignore: 'the console log stays (systemd collects it)' },
  { flags: '--syslog', help: 'log to syslog', ignore: 'log to the console (journald) or --log-file' },
  { flags: '-o, --daemon', help: 'detach', ignore: 'runs in the foreground; use deploy/webrtc-turn.service' },
  { flags: '--pidfile <file>', help: 'pid file', ignore: 'no pid file (systemd tracks the process)' },
  { flags: '-m, --relay-threads <n>', help: 'relay threads', ignore: 'one process; see TURN_DATA_PATH' },
  { flags: '-e, --psql-userdb <conn>', help: 'PostgreSQL user database', ignore: 'users live in the users file (turnadmin)' },
  { flags: '--sql-userdb <conn>', help: 'PostgreSQL user database', ignore: 'users live in the users file (turnadmin)' },
  { flags: '-M, --mysql-userdb <conn>', help: 'MySQL user database', ignore: 'users live in the users file (turnadmin)' },
  { flags: '-N, --redis-userdb <conn>', help: 'Redis user database', ignore: 'users live in the users file (turnadmin)' },
  { flags: '-O, --redis-statsdb <conn>', help: 'Redis statistics', ignore: 'use --prometheus / TURN_METRICS_PORT' },
  { flags: '-J, --mongo-userdb <conn>', help: 'MongoDB user database', ignore: 'users live in the users file (turnadmin)' },
  { flags: '-C, --rest-api-separator <c>', help: 'REST username separator', ignore: 'the separator is always ":"' },
  { flags: '-B, --bps-capacity <bytes>', help: 'total bandwidth', ignore: 'not implemented; use TURN_MAX_BPS per allocation' },
  { flags: '-d, --listening-device <dev>', help: 'bind to a device', ignore: 'use --listening-ip' },
  { flags: '-i, --relay-device <dev>', help: 'bind relay sockets to a device', ignore: 'use --relay-ip' },
  { flags: '-S, --stun-only', help: 'STUN only', ignore: 'TURN stays on' },
  { flags: '--no-stun', help: 'TURN only', ignore: 'STUN Binding stays on' },
  { flags: '--secure-stun', help: 'authenticated Binding', ignore: 'Binding stays unauthenticated (rate-limited per IP)' },
  { flags: '--oauth', help: 'OAuth (RFC 7635)', ignore: 'not implemented' },
  { flags: '--server-name <name>', help: 'OAuth server name', ignore: 'OAuth is not implemented' },
  { flags: '--mobility', help: 'ICE mobility', ignore: 'not implemented' },
  { flags: '--check-origin-consistency', help: 'ORIGIN checks', ignore: 'not implemented' },
  { flags: '--no-udp-relay', help: 'TCP relay only', ignore: 'relayed transport is always UDP (RFC 6062 TCP relay is not implemented)' },
  { flags: '--no-tcp-relay', help: 'UDP relay only (the only kind here)' },
  { flags: '--server-relay', help: 'no permission checks', ignore: 'permissions are always enforced' },
  { flags: '--alternate-server <ip:port>', help: 'ALTERNATE-SERVER redirect', ignore: 'not implemented', many: true },
  { flags: '--tls-alternate-server <ip:port>', help: 'ALTERNATE-SERVER redirect (TLS)', ignore: 'not implemented', many: true },
  { flags: '--aux-server <ip:port>', help: 'auxiliary listener', ignore: 'use --listening-ip', many: true },
  { flags: '--udp-self-balance', help: 'UDP balancing', ignore: 'not implemented' },
  { flags: '--alt-listening-port <port>', help: 'RFC 5780 port', ignore: 'RFC 5780 NAT discovery is not implemented' },
  { flags: '--alt-tls-listening-port <port>', help: 'RFC 5780 TLS port', ignore: 'RFC 5780 NAT discovery is not implemented' },
  { flags: '--tcp-proxy-port <port>', help: 'PROXY protocol port', ignore: 'not implemented' },
  { flags: '--no-rfc5780', help: 'no NAT discovery (none here)' },
  { flags: '--no-stun-backward-compatibility', help: 'no RFC 3489 Binding', ignore: 'old Binding requests are answered' },
  { flags: '--response-origin-only-with-rfc5780', help: 'RESPONSE-ORIGIN rule (never sent here)' },
  { flags: '--log-binding', help: 'log Binding requests', ignore: 'Binding requests are counted, not logged' },
  { flags: '--new-log-timestamp', help: 'ISO timestamps (always here)' },
  { flags: '--new-log-timestamp-format <fmt>', help: 'timestamp format', ignore: 'ISO 8601 timestamps' },
  { flags: '--syslog-facility <f>', help: 'syslog facility', ignore: 'no syslog' },
  { flags: '--pkey-pwd <pw>', help: 'encrypted key password', ignore: 'use an unencrypted key file (mode 0600)' },
  { flags: '--cipher-list <list>', help: 'TLS ciphers', ignore: "Node's default TLS ciphers (TLS 1.2+)" },
  { flags: '--CA-file <file>', help: 'client certificates', ignore: 'client certificates are not checked' },
  { flags: '--ec-curve-name <name>', help: 'EC curve', ignore: "Node's default curves" },
  { flags: '--dh566', help: 'DH key size', ignore: 'ECDHE only' },
  { flags: '--dh1066', help: 'DH key size', ignore: 'ECDHE only' },
  { flags: '--dh-file <file>', help: 'DH parameters', ignore: 'ECDHE only' },
  { flags: '--no-tlsv1', help: 'no TLS 1.0 (never offered here)' },
  { flags: '--no-tlsv1_1', help: 'no TLS 1.1 (never offered here)' },
  { flags: '--no-tlsv1_2', help: 'no TLS 1.2', ignore: 'TLS 1.2 stays on (TLS 1.3 preferred)' },
  { flags: '--max-allocate-timeout <s>', help: 'allocation set-up timeout', ignore: 'fixed (60 s idle limit for TCP/TLS)' },
  { flags: '--acme-redirect <url>', help: 'ACME redirect', ignore: 'not needed: the relay has no HTTP listener' },
  { flags: '--proc-user <user>', help: 'drop privileges', ignore: 'run as a user (deploy/webrtc-turn.service uses capabilities)' },
  { flags: '--proc-group <group>', help: 'drop privileges', ignore: 'run as a user (deploy/webrtc-turn.service uses capabilities)' },
  { flags: '-K, --keep-address-family', help: 'address family rule', ignore: 'RFC 6156 default (IPv4 unless REQUESTED-ADDRESS-FAMILY)' },
  { flags: '-A, --allocation-default-address-family <f>', help: 'address family rule', ignore: 'RFC 6156 default (IPv4 unless REQUESTED-ADDRESS-FAMILY)' },
  { flags: '--cli-ip <ip>', help: 'telnet CLI', ignore: 'no telnet CLI; use the admin API or turnadmin' },
  { flags: '--cli-port <port>', help: 'telnet CLI', ignore: 'no telnet CLI; use the admin API or turnadmin' },
  { flags: '--cli-password <pw>', help: 'telnet CLI', ignore: 'no telnet CLI; use the admin API or turnadmin' },
  { flags: '--cli-max-output-sessions <n>', help: 'telnet CLI', ignore: 'no telnet CLI' },
  { flags: '--web-admin', help: 'web admin', ignore: 'the web server has an admin API (ADMIN_TOKEN)' },
  { flags: '--web-admin-ip <ip>', help: 'web admin', ignore: 'the web server has an admin API (ADMIN_TOKEN)' },
  { flags: '--web-admin-port <port>', help: 'web admin', ignore: 'the web server has an admin API (ADMIN_TOKEN)' },
  { flags: '--web-admin-listen-on-workers', help: 'web admin', ignore: 'no web admin' },
  { flags: '--no-auth-pings', help: 'database pings (no database here)' },
  { flags: '--no-dynamic-ip-list', help: 'database peer lists (no database here)' },
  { flags: '--no-dynamic-realms', help: 'database realms (no database here)' },
  { flags: '--secret-key-file <file>', help: 'MySQL password key', ignore: 'no database' },
  { flags: '--ne <n>', help: 'network engine', ignore: 'not applicable' },
  { flags: '--prometheus-username-labels', help: 'per-user labels', ignore: 'metrics have no per-user labels' },
];

/** The config-file key (first long name without dashes) of an option, e.g. `listening-port`. */
export function configKey(o: CoturnOption): string | undefined {
  return /--([A-Za-z0-9_-]+)/.exec(o.flags)?.[1];
}

/**
 * Apply one option's value(s) to `t`.
 * @param name  how the user spelled it (for messages), e.g. `--listening-port` or `turnserver.conf:12 listening-port`.
 * @throws CliError on a bad value.
 */
export function applyOption(t: Translation, o: CoturnOption, value: Value | Value[], name: string): void {
  const values = Array.isArray(value) ? value : [value];
  if (o.ignore) {
    t.warnings.push(`${name}: not supported (${o.ignore}); ignored`);
    return;
  }
  for (const v of values) o.apply?.(t, v, name);
}
