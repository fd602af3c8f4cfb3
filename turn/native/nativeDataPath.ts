/**
 * Typed wrapper of the native TURN data path (turn/native/src, an N-API addon built at install by
 * scripts/build-native.mjs). Loading never throws: {@link loadNativeAddon} returns the addon or a
 * one-line reason, so the relay can fall back to its JavaScript data path and log why.
 *
 * What the addon does (RFC 8656 §10–§12, the same rules and drop reasons as the JavaScript data path, turn/jsDataPath.ts):
 * listener sockets relay ChannelData and Send indications of known clients natively and hand STUN
 * requests to JavaScript; relay sockets (one per allocation) relay permitted peers' datagrams to
 * the client as ChannelData or Data indications. Threads, tables and the call order are described
 * in turn/native/README.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A STUN request from a UDP client, for the control plane. */
export interface NativeStunPacket {
  kind: 'stun';
  /** Worker thread that received it: create the client's allocation on the same worker. */
  worker: number;
  /** Listener group (see {@link NativeDataPath.addListener}) it arrived on. */
  group: number;
  /** Client IP and port. */
  address: string;
  port: number;
  /** The whole datagram (already validated as STUN: header, attribute lengths, FINGERPRINT). */
  data: Buffer;
}

/** Peer data framed for a TCP/TLS client (ChannelData padded to 4 bytes, or a Data indication): write it to the stream as is. */
export interface NativeToClientPacket {
  kind: 'toClient';
  worker: number;
  /** Allocation handle. */
  handle: number;
  data: Buffer;
}

export type NativePacket = NativeStunPacket | NativeToClientPacket;

/** Global counters; `dropped` by reason (names shared with the JavaScript path, see README). */
export interface NativeStats {
  c2pPackets: number;
  c2pBytes: number;
  c2pChannel: number;
  p2cPackets: number;
  p2cBytes: number;
  p2cChannel: number;
  /** STUN requests handed to JavaScript (peer data for stream clients counts as p2c). */
  toJs: number;
  /** Binding indications from clients (keepalives): not relayed, not an error. */
  ignored: number;
  /** Live allocations. */
  allocations: number;
  dropped: Record<string, number>;
}

/** Per-allocation counters (payload bytes; `dropped*` = over the bandwidth limit). */
export interface NativeAllocationCounters {
  packetsToPeer: number;
  bytesToPeer: number;
  packetsFromPeer: number;
  bytesFromPeer: number;
  droppedToPeer: number;
  droppedFromPeer: number;
}

/** Relay-wide rules (see turn/policy/peerAddress.ts and the hairpin rule in turn/README.md). */
export interface NativePolicy {
  /** Relay port range, inclusive. */
  minPort: number;
  maxPort: number;
  /** UDP/TCP/TLS listening ports: never a destination on an own address. */
  listeningPorts: number[];
  /** Local IPs the relay sockets bind to. */
  localRelayIps: string[];
  /** External IP that is not a local address (1:1 NAT without hairpin), if any. */
  hairpinIp?: string;
  /** Relay IP for a hairpin to a port no allocation holds (`relayIp` or the first local relay IP). */
  hairpinFallbackIp?: string;
}

/** Sizes (defaults are what the relay uses) and the one rule list JavaScript passes down. */
export interface NativeDataPathOptions {
  /**
   * Comprehension-required attribute types (0x0000–0x7FFF) the relay understands (RFC 8489 §7.3.1):
   * a Send indication with any other one is dropped as `unknown_attribute`. The relay passes
   * `KNOWN_REQUIRED` (turn/handlers/context.ts), so the list exists once.
   */
  knownRequired: readonly number[];
  /** Worker threads (default: CPUs, at most 8). */
  threads?: number;
  /** Datagrams per recvmmsg/sendmmsg (1–256, default 32). */
  batch?: number;
  /** Receive buffer per datagram, bytes (64–65536, default 65536); longer datagrams are dropped as `truncated`. */
  maxDatagram?: number;
  /** Hand-off queue to JavaScript per worker: entries and bytes (default 1024, 512 KiB); overflow is dropped as `js_queue_full`. */
  handoffEntries?: number;
  handoffBytes?: number;
  /** Allocations per worker (default 65536). */
  maxAllocationsPerWorker?: number;
}

/** Parameters of {@link NativeDataPath.createAllocation}. */
export interface NativeAllocationParams {
  /** Relay socket from {@link NativeDataPath.bindRelay} (the allocation owns it from now on). */
  socket: number;
  /** Worker of the client's Allocate ({@link NativeStunPacket.worker}); -1 = round robin (TCP/TLS clients). */
  worker: number;
  /** true for a TCP/TLS client: peer data comes back as {@link NativeToClientPacket}. */
  stream: boolean;
  /** UDP client: listener group, IP and port of its five-tuple. */
  group?: number;
  clientIp?: string;
  clientPort?: number;
  /** 12 bytes: transaction id of this allocation's Data indications. */
  transactionId: Buffer;
  /** Bandwidth limit per direction, bytes per second (0 = none; coturn's --max-bps). */
  maxBps?: number;
}

/** The raw addon (argument order of turn/native/src/addon.cc). */
interface NativeAddon {
  dropReasons: string[];
  create(options: NativeDataPathOptions, onPackets: (packets: NativePacket[]) => void): object;
  info(dp: object): { workers: number; batch: number; maxDatagram: number };
  addListener(dp: object, ip: string, port: number): { group: number; port: number } | { error: string };
  setPolicy(dp: object, policy: NativePolicy): void;
  start(dp: object): string | undefined;
  stop(dp: object): void;
  send(dp: object, group: number, ip: string, port: number, buf: Buffer): string | undefined;
  bindRelay(dp: object, ip: string, port: number): { socket: number; port: number } | { error: string };
  closeRelay(dp: object, socket: number): boolean;
  createAllocation(dp: object, params: NativeAllocationParams): number | string;
  endAllocation(dp: object, handle: number): boolean;
  installPermission(dp: object, handle: number, ip: string, own: boolean): boolean;
  removePermission(dp: object, handle: number, ip: string): boolean;
  bindChannel(dp: object, handle: number, channel: number, peerIp: string, peerPort: number, sendIp: string, sendPort: number): boolean;
  unbindChannel(dp: object, handle: number, channel: number): boolean;
  setBandwidth(dp: object, handle: number, bytesPerSecond: number): boolean;
  relayFromClient(dp: object, handle: number, buf: Buffer): string | undefined;
  sendToPeer(dp: object, handle: number, peerIp: string, peerPort: number, buf: Buffer): string | undefined;
  allocationCounters(dp: object, handle: number): NativeAllocationCounters | undefined;
  stats(dp: object): NativeStats;
}

const EXPECTED = ['create', 'info', 'addListener', 'setPolicy', 'start', 'stop', 'send', 'bindRelay', 'closeRelay', 'createAllocation', 'endAllocation', 'installPermission', 'removePermission', 'bindChannel', 'unbindChannel', 'setBandwidth', 'relayFromClient', 'sendToPeer', 'allocationCounters', 'stats'] as const;

/** Where the addon is looked for: `TURN_NATIVE_ADDON` if set, else the node-gyp output next to the sources (from turn/native or dist/turn/native). */
export function nativeAddonPath(): string {
  const fromEnv = process.env.TURN_NATIVE_ADDON;
  if (fromEnv) return fromEnv;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'build', 'Release', 'turn_native.node'), join(here, '..', '..', '..', 'turn', 'native', 'build', 'Release', 'turn_native.node')];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

/**
 * The line the install-time build printed (scripts/build-native.mjs writes it to
 * turn/native/build-result.txt, two folders above build/Release/turn_native.node), without its
 * `native data path: ` prefix and the advice that follows the reason; undefined when absent.
 */
function buildResult(addonPath: string): string | undefined {
  try {
    const line = readFileSync(join(dirname(addonPath), '..', '..', 'build-result.txt'), 'utf8').split('\n')[0]!.trim();
    return line.replace(/^native data path: /, '').replace('; the relay will use the JavaScript data path', '') || undefined;
  } catch {
    return undefined;
  }
}

let cached: { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string } | undefined;

/**
 * Load the addon once (cached; `TURN_NATIVE_ADDON` is read at the first call).
 * @returns `{ ok: true }` or `{ ok: false, reason }` with a one-line reason; never throws.
 */
export function loadNativeAddon(): { ok: true; path: string } | { ok: false; reason: string } {
  cached ??= loadUncached();
  return cached.ok ? { ok: true, path: cached.path } : cached;
}

function loadUncached(): { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `native data path is Linux-only (platform ${process.platform})` };
  const path = nativeAddonPath();
  if (!existsSync(path)) return { ok: false, reason: `native addon not built (${buildResult(path) ?? `${path} missing; see the build line of npm ci, or run npm run build:native`})` };
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    const missing = EXPECTED.filter((f) => typeof (addon as unknown as Record<string, unknown>)[f] !== 'function');
    if (missing.length > 0) return { ok: false, reason: `native addon at ${path} is stale (no ${missing.join(', ')}); rebuild with npm run build:native` };
    return { ok: true, addon, path };
  } catch (err) {
    return { ok: false, reason: `native addon failed to load (${(err as Error).message.split('\n')[0]})` };
  }
}

/**
 * Create a native data path (not started).
 * @param onPackets called on the JavaScript thread with batches of STUN requests and stream-client data.
 * @returns the data path, or `{ reason }` when the addon is unavailable.
 * @throws TypeError on invalid options.
 */
export function createNativeDataPath(options: NativeDataPathOptions, onPackets: (packets: NativePacket[]) => void): NativeDataPath | { reason: string } {
  cached ??= loadUncached();
  if (!cached.ok) return { reason: cached.reason };
  return new NativeDataPath(cached.addon, options, onPackets);
}

/**
 * One native data path. Call order: {@link addListener} (each local address) → {@link setPolicy} →
 * {@link start}; per allocation {@link bindRelay} → {@link createAllocation} → permissions and
 * channels as the control plane installs/expires them → {@link endAllocation}; finally {@link stop}.
 * All methods are synchronous and cheap (they take one worker's lock briefly).
 */
export class NativeDataPath {
  private readonly dp: object;
  /** Drop reasons the addon can count (for documentation and stats). */
  readonly dropReasons: readonly string[];

  constructor(
    private readonly addon: NativeAddon,
    options: NativeDataPathOptions,
    onPackets: (packets: NativePacket[]) => void,
  ) {
    this.dp = addon.create(options, onPackets);
    this.dropReasons = addon.dropReasons;
  }

  /** Worker threads, batch size and receive buffer size in use. */
  info(): { workers: number; batch: number; maxDatagram: number } {
    return this.addon.info(this.dp);
  }

  /**
   * Bind one UDP listener socket per worker on `ip`:`port` (SO_REUSEPORT; the kernel pins each
   * client five-tuple to one worker). Port 0 picks a free port for all of them.
   * @returns the group index and port, or `{ error }` with an errno code (EADDRINUSE...).
   */
  addListener(ip: string, port: number): { group: number; port: number } | { error: string } {
    return this.addon.addListener(this.dp, ip, port);
  }

  /** Replace the relay-wide rules (own-address port rule, hairpin). @throws TypeError on a bad IP. */
  setPolicy(policy: NativePolicy): void {
    this.addon.setPolicy(this.dp, policy);
  }

  /** Start the workers. @returns undefined, or an errno code. */
  start(): string | undefined {
    return this.addon.start(this.dp);
  }

  /** Stop and join the workers; close every listener, relay and held socket. Idempotent. */
  stop(): void {
    this.addon.stop(this.dp);
  }

  /** Send a datagram (a STUN response) from listener `group` to a UDP client. @returns undefined or an errno code. */
  send(group: number, ip: string, port: number, data: Buffer): string | undefined {
    return this.addon.send(this.dp, group, ip, port, data);
  }

  /** Bind a relay socket on `ip`:`port` (0 = any). @returns its id and port, or `{ error }` (EADDRINUSE, EACCES...: try another port). */
  bindRelay(ip: string, port: number): { socket: number; port: number } | { error: string } {
    return this.addon.bindRelay(this.dp, ip, port);
  }

  /** Close a relay socket that no allocation owns (e.g. an expired EVEN-PORT reservation). @returns false when unknown. */
  closeRelay(socket: number): boolean {
    return this.addon.closeRelay(this.dp, socket);
  }

  /**
   * Start relaying for a new allocation.
   * @returns a handle (> 0), or a reason: bad_socket | bad_worker_or_group | allocation_limit | client_in_use | epoll_failed.
   * @throws TypeError on missing parameters.
   */
  createAllocation(params: NativeAllocationParams): number | string {
    return this.addon.createAllocation(this.dp, params);
  }

  /** End an allocation now (its relay socket closes). @returns false when unknown or already ended. */
  endAllocation(handle: number): boolean {
    return this.addon.endAllocation(this.dp, handle);
  }

  /** Install or refresh a permission (by IP, RFC 8656 §9); `own`: one of the relay's addresses (port rule applies). */
  installPermission(handle: number, ip: string, own: boolean): boolean {
    return this.addon.installPermission(this.dp, handle, ip, own);
  }

  /** Remove an expired permission. */
  removePermission(handle: number, ip: string): boolean {
    return this.addon.removePermission(this.dp, handle, ip);
  }

  /**
   * Bind (or refresh) channel `channel` to peer `peerIp`:`peerPort` (RFC 8656 §11); data goes to
   * `sendIp`:`sendPort` (the peer, or the local relay address for a hairpin). A previous binding of
   * the number or of the peer is replaced (the control plane has already refused conflicts).
   */
  bindChannel(handle: number, channel: number, peerIp: string, peerPort: number, sendIp = peerIp, sendPort = peerPort): boolean {
    return this.addon.bindChannel(this.dp, handle, channel, peerIp, peerPort, sendIp, sendPort);
  }

  /** Remove an expired channel binding. */
  unbindChannel(handle: number, channel: number): boolean {
    return this.addon.unbindChannel(this.dp, handle, channel);
  }

  /** Bandwidth limit per direction, bytes per second (0 = none). */
  setBandwidth(handle: number, bytesPerSecond: number): boolean {
    return this.addon.setBandwidth(this.dp, handle, bytesPerSecond);
  }

  /**
   * ChannelData (padding allowed) or a Send indication from a TCP/TLS client, relayed under the
   * same rules as on UDP. @returns undefined when relayed, else the drop reason (already counted).
   */
  relayFromClient(handle: number, frame: Buffer): string | undefined {
    return this.addon.relayFromClient(this.dp, handle, frame);
  }

  /**
   * The DATA of a Send indication from a TCP/TLS client, already decoded and checked by JavaScript
   * (RFC 8656 §10.2): relayed to `peerIp`:`peerPort` under the permission, own-address and
   * bandwidth rules. @returns undefined when relayed, else the drop reason (already counted).
   */
  sendToPeer(handle: number, peerIp: string, peerPort: number, data: Buffer): string | undefined {
    return this.addon.sendToPeer(this.dp, handle, peerIp, peerPort, data);
  }

  /** Counters of one allocation, or undefined when ended. */
  allocationCounters(handle: number): NativeAllocationCounters | undefined {
    return this.addon.allocationCounters(this.dp, handle);
  }

  /** Global counters (summed over workers). */
  stats(): NativeStats {
    return this.addon.stats(this.dp);
  }
}
