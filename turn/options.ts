/**
 * Options of {@link createTurnServer}, with defaults. All lifetimes are in SECONDS.
 */
import type { RelayAllocationEndData, RelayAllocationStartData } from '../contracts/relay.js';
import type { DataPathChoice } from './chooseDataPath.js';
import type { TurnLogger } from './logger.js';

/** TLS material: PEM text or a path to a PEM file, for each. */
export interface TurnTlsOptions {
  cert: string;
  key: string;
}

/**
 * Told when an allocation is created and when it ends (then with its final counters, read from the
 * data path before it forgets them). Called synchronously on the relay's event loop: keep it cheap
 * (e.g. queue a message); an exception is caught and counted as an internal error.
 */
export interface AllocationEventListener {
  /** @param atMs  Unix ms. */
  started?(allocation: RelayAllocationStartData, atMs: number): void;
  /** @param atMs  Unix ms. */
  ended?(allocation: RelayAllocationEndData, atMs: number): void;
}

/** Options of the relay. Only `realm` and one credential source are needed in practice. */
export interface TurnServerOptions {
  /** Realm of the long-term credentials (RFC 8489 §14.9), e.g. 'example.org'. */
  realm: string;
  /** TURN REST shared secrets (newest first; all are accepted), or a getter called per authentication. */
  secrets?: readonly string[] | (() => readonly string[]);
  /** Path of the static users file (see `auth/userStore.ts`); polled for changes. Missing file = no static users. */
  usersFile?: string;
  /** Poll interval of the users file, ms. Default 250 (edits by `turnadmin` apply well within a second). */
  usersFilePollMs?: number;
  /**
   * Listening address(es) for UDP and TCP (and TLS). Default `'0.0.0.0'`. For a wildcard IPv4
   * address the relay binds one UDP socket per local IPv4 interface address (like coturn), so it
   * always knows which address a datagram arrived on; TCP listens on the wildcard (the accepted
   * socket knows its local address). '::' does the same for IPv6 interface addresses.
   */
  listen?: string | readonly string[];
  /** UDP and TCP port. Default 3478 (tests: a free port; 0 picks one per socket, see `addresses()`). */
  port?: number;
  /** TLS port (only with `tls`). Default 5349. */
  tlsPort?: number;
  /** Certificate and key for TURN over TLS; no TLS listener without them. */
  tls?: TurnTlsOptions;
  /** Relay port range, inclusive. Default 49152–65535. */
  minPort?: number;
  maxPort?: number;
  /** Local IP the relay sockets bind to. Default: the address the client's request arrived on. */
  relayIp?: string;
  /** Public IP advertised in XOR-RELAYED-ADDRESS (1:1 NAT, e.g. a cloud VM). Default: the relay IP. */
  externalIp?: string;
  /** Peer CIDRs allowed even when the default policy refuses them (e.g. `['127.0.0.0/8']` in tests). */
  allowedPeers?: readonly string[];
  /** Peer CIDRs refused on top of the default ranges (coturn `denied-peer-ip`); `allowedPeers` wins. */
  deniedPeers?: readonly string[];
  /** Allocation lifetime when the client asks for less (and the minimum), s. Default 600 (RFC 8656 §7.2). */
  defaultLifetime?: number;
  /** Largest allocation lifetime granted, s. Default 3600. */
  maxLifetime?: number;
  /** Permission lifetime, s. Default 300 (RFC 8656 §9). */
  permissionLifetime?: number;
  /** Channel binding lifetime, s. Default 600 (RFC 8656 §12). */
  channelLifetime?: number;
  /** Nonce lifetime, s. Default 600. */
  nonceLifetime?: number;
  /**
   * Channel numbers accepted by ChannelBind: 'rfc5766' = 0x4000–0x7FFF (default: the range coturn
   * accepts and coturn's `turnutils_uclient` picks from), 'rfc8656' = 0x4000–0x4FFF (strict RFC 8656 §12;
   * browsers stay inside it anyway).
   */
  channelRange?: 'rfc8656' | 'rfc5766';
  /** Most allocations per username (486 beyond). 0 = unlimited. Default 100. */
  userQuota?: number;
  /** Most allocations in total (508 beyond). 0 = unlimited. Default 2000. */
  totalQuota?: number;
  /**
   * Static long-term-credential users besides the users file (coturn `--user NAME:PASSWORD`), fixed for
   * the life of the relay. `key` is the hex MD5 long-term key (RFC 8489 §9.2.2).
   */
  staticUsers?: ReadonlyArray<{ name: string; key: string }>;
  /** Accept TURN REST usernames (`secrets` and the users file's secrets). Default true; false = static users only. */
  restCredentials?: boolean;
  /** Listen on UDP (default true) and TCP (default true); TLS follows `tls`. */
  udp?: boolean;
  tcp?: boolean;
  /** Unauthenticated requests (Binding, requests without valid credentials) per source IP: bucket size. Default 400. */
  unauthBurst?: number;
  /** Refill rate of that bucket, requests per second. Default 200. */
  unauthPerSecond?: number;
  /** Most simultaneous TCP+TLS connections. Default 2000. */
  maxConnections?: number;
  /** A TCP/TLS connection without an allocation is closed after this many seconds. Default 60. */
  streamIdleTimeout?: number;
  /** Bytes queued to one TCP/TLS client beyond which relayed data is dropped. Default 1 MiB. */
  streamMaxBuffered?: number;
  /** Period of the expiry sweep, ms. Default 1000 (tests use less). */
  sweepIntervalMs?: number;
  /**
   * Which data path relays packets: 'native' (the N-API addon in turn/native: worker threads,
   * recvmmsg/sendmmsg), 'js' (Node's dgram sockets) or 'auto' (default: native when the addon
   * loads, else the JavaScript path, with one logged line saying why). 'native' without a usable
   * addon makes the constructor throw.
   */
  dataPath?: DataPathChoice;
  /** Native worker threads; 0 (default) = one per CPU, at most 8. Allocations are pinned to one thread. */
  relayThreads?: number;
  /**
   * Bandwidth limit per allocation (coturn's `--max-bps`): bytes per second of relayed payload,
   * client → peer and peer → client each on its own; datagrams over it are dropped and counted
   * (`over_bandwidth`). 0 (default) = no limit.
   */
  maxBps?: number;
  /** SOFTWARE attribute in responses; empty string = none. Default none. */
  software?: string;
  /** Logger (log4js logger works). Default: no output. */
  logger?: TurnLogger;
  /** Allocation start/end notifications (e.g. for webhooks). Default none. */
  allocationEvents?: AllocationEventListener;
}

/** Options with defaults applied. */
export interface ResolvedTurnOptions {
  realm: string;
  secrets: () => readonly string[];
  usersFile: string | undefined;
  usersFilePollMs: number;
  listen: string[];
  port: number;
  tlsPort: number;
  tls: TurnTlsOptions | undefined;
  minPort: number;
  maxPort: number;
  relayIp: string | undefined;
  externalIp: string | undefined;
  allowedPeers: string[];
  deniedPeers: string[];
  defaultLifetime: number;
  maxLifetime: number;
  permissionLifetime: number;
  channelLifetime: number;
  nonceLifetime: number;
  channelRange: 'rfc8656' | 'rfc5766';
  userQuota: number;
  totalQuota: number;
  staticUsers: Array<{ name: string; key: string }>;
  restCredentials: boolean;
  udp: boolean;
  tcp: boolean;
  unauthBurst: number;
  unauthPerSecond: number;
  maxConnections: number;
  streamIdleTimeout: number;
  streamMaxBuffered: number;
  sweepIntervalMs: number;
  dataPath: DataPathChoice;
  relayThreads: number;
  maxBps: number;
  software: string;
  logger: TurnLogger;
}

/**
 * Apply defaults and check ranges.
 * @throws RangeError on an invalid value (empty realm, bad port range, lifetimes <= 0, max < default,
 *         unknown dataPath, negative maxBps).
 */
export function resolveOptions(o: TurnServerOptions, logger: TurnLogger): ResolvedTurnOptions {
  const secrets = typeof o.secrets === 'function' ? o.secrets : ((list: readonly string[]) => () => list)([...(o.secrets ?? [])]);
  const restCredentials = o.restCredentials ?? true;
  const r: ResolvedTurnOptions = {
    realm: o.realm,
    secrets: restCredentials ? secrets : () => [],
    usersFile: o.usersFile,
    usersFilePollMs: o.usersFilePollMs ?? 250,
    listen: o.listen === undefined ? ['0.0.0.0'] : typeof o.listen === 'string' ? [o.listen] : [...o.listen],
    port: o.port ?? 3478,
    tlsPort: o.tlsPort ?? 5349,
    tls: o.tls,
    minPort: o.minPort ?? 49152,
    maxPort: o.maxPort ?? 65535,
    relayIp: o.relayIp,
    externalIp: o.externalIp,
    allowedPeers: [...(o.allowedPeers ?? [])],
    deniedPeers: [...(o.deniedPeers ?? [])],
    defaultLifetime: o.defaultLifetime ?? 600,
    maxLifetime: o.maxLifetime ?? 3600,
    permissionLifetime: o.permissionLifetime ?? 300,
    channelLifetime: o.channelLifetime ?? 600,
    nonceLifetime: o.nonceLifetime ?? 600,
    channelRange: o.channelRange ?? 'rfc5766',
    userQuota: o.userQuota ?? 100,
    totalQuota: o.totalQuota ?? 2000,
    staticUsers: [...(o.staticUsers ?? [])],
    restCredentials,
    udp: o.udp ?? true,
    tcp: o.tcp ?? true,
    unauthBurst: o.unauthBurst ?? 400,
    unauthPerSecond: o.unauthPerSecond ?? 200,
    maxConnections: o.maxConnections ?? 2000,
    streamIdleTimeout: o.streamIdleTimeout ?? 60,
    streamMaxBuffered: o.streamMaxBuffered ?? 1024 * 1024,
    sweepIntervalMs: o.sweepIntervalMs ?? 1000,
    dataPath: o.dataPath ?? 'auto',
    relayThreads: o.relayThreads ?? 0,
    maxBps: o.maxBps ?? 0,
    software: o.software ?? '',
    logger,
  };
  if (!r.realm || r.realm.length > 127) throw new RangeError('realm must be 1–127 characters');
  if (r.listen.length === 0) throw new RangeError('at least one listening address is needed');
  for (const [name, v] of [
    ['defaultLifetime', r.defaultLifetime],
    ['maxLifetime', r.maxLifetime],
    ['permissionLifetime', r.permissionLifetime],
    ['channelLifetime', r.channelLifetime],
    ['nonceLifetime', r.nonceLifetime],
  ] as const) {
    if (!(v > 0)) throw new RangeError(`${name} must be > 0 seconds, got ${v}`);
  }
  if (r.maxLifetime < r.defaultLifetime) throw new RangeError(`maxLifetime (${r.maxLifetime}) must be >= defaultLifetime (${r.defaultLifetime})`);
  if (r.minPort > r.maxPort) throw new RangeError(`minPort ${r.minPort} > maxPort ${r.maxPort}`);
  if (!r.udp && !r.tcp && !r.tls) throw new RangeError('no listener: UDP, TCP and TLS are all off');
  for (const u of r.staticUsers) if (!/^[0-9a-fA-F]{32}$/.test(u.key)) throw new RangeError(`static user ${u.name}: key must be 32 hex characters`);
  if (!['native', 'js', 'auto'].includes(r.dataPath)) throw new RangeError(`dataPath must be native, js or auto, got ${String(r.dataPath)}`);
  if (!Number.isInteger(r.relayThreads) || r.relayThreads < 0 || r.relayThreads > 64) throw new RangeError(`relayThreads must be an integer 0–64, got ${r.relayThreads}`);
  if (!Number.isInteger(r.maxBps) || r.maxBps < 0) throw new RangeError(`maxBps must be an integer >= 0 (bytes per second), got ${r.maxBps}`);
  return r;
}
