/**
 * The STUN/TURN relay (RFC 8489, RFC 8656) over UDP, TCP and TLS: lifecycle (start/stop), the
 * listeners, and demultiplexing of what arrives on them — ChannelData goes to the data path
 * (`dataPath.ts`), STUN messages to the method handlers (`handlers/registry.ts`). The data path
 * (native or JavaScript, `chooseDataPath.ts`) owns the UDP sockets and hands STUN up.
 *
 * Robustness rules: every socket handler is wrapped (an exception is counted as `internalErrors`,
 * never thrown out); malformed input is dropped and counted by reason; unauthenticated requests
 * cost no memory beyond a bounded per-IP token bucket.
 */
import { readFileSync } from 'node:fs';
import type { AllocationInfo, RelayAllocationData, TransportAddress } from '../contracts/relay.js';
import { KeyedRateLimiter } from '../common/tokenBucket.js';
import type { Allocation } from './allocation/allocation.js';
import { AllocationManager, type EndReason } from './allocation/manager.js';
import type { CredentialSources } from './auth/longTermCredentials.js';
import { NonceManager } from './auth/nonce.js';
import { UserStore } from './auth/userStore.js';
import { removeUser } from './auth/usersFile.js';
import { restUsernameExpiry } from './auth/restCredentials.js';
import { RelayCounters, type TurnStats } from './counters.js';
import { chooseDataPath } from './chooseDataPath.js';
import type { DataPath } from './dataPath.js';
import type { RelayServices } from './handlers/context.js';
import { dispatchStun } from './handlers/registry.js';
import { noopLogger, type TurnLogger } from './logger.js';
import { resolveOptions, type AllocationEventListener, type ResolvedTurnOptions, type TurnServerOptions, type TurnTlsOptions } from './options.js';
import { ownAddressRules, expandListenAddresses } from './ownAddresses.js';
import { PeerAddressPolicy } from './policy/peerAddress.js';
import { StreamListener, type StreamConnection, type StreamHandlers } from './transport/stream.js';
import type { ClientConnection } from './transport/connection.js';

/** Addresses the relay listens on (after `start()`). */
export interface TurnAddresses {
  /** One entry per UDP listening socket. */
  udp: TransportAddress[];
  /** TCP port (same as the UDP port unless 0 was requested), or undefined when TCP is not listening. */
  tcpPort: number | undefined;
  /** TLS port, or undefined without TLS. */
  tlsPort: number | undefined;
}

/** Result of {@link TurnServer.revokeUser}. */
export interface RevokeResult {
  /** The user was in the users file (and is not any more). */
  removed: boolean;
  /** Live allocations of that user that were ended. */
  endedAllocations: number;
}

/** The relay. */
export interface TurnServer {
  /** Bind every socket and start the expiry sweep. @throws on a bind/listen error (everything opened so far is closed again). */
  start(): Promise<void>;
  /** End every allocation, close every socket, timer and file watcher. Idempotent. */
  stop(): Promise<void>;
  /** Counter snapshot. */
  stats(): TurnStats;
  /** Live allocations (admin view). */
  listAllocations(): AllocationInfo[];
  /** End one allocation now (its relay socket closes). @returns false when no such id. */
  endAllocation(id: string): boolean;
  /**
   * Revoke static user `name` of the relay's realm in one step: remove it from the users file (under
   * the file's lock, atomic rewrite), apply that at once, and end its allocations — also ones whose
   * Allocate is still binding a socket (they get 401). REST credentials are not affected.
   * @throws UsersFileError when the users file is malformed or locked for more than 1 s (then nothing changed).
   */
  revokeUser(name: string): RevokeResult;
  /**
   * End every allocation whose TURN REST username is `<expiry>:<userId>`, whatever its expiry (one
   * seat's allocations: the web server names seats by user id).
   * @returns how many allocations were ended.
   */
  endRestUser(userId: string): number;
  /** Listening addresses (valid after `start()`). */
  addresses(): TurnAddresses;
  /**
   * Serve a new certificate on every TLS listener without a restart (new handshakes only).
   * @param tls  PEM text or file paths, like the `tls` option.
   * @returns the number of TLS listeners updated (0 when TLS is off).
   * @throws Error when the pair is unusable; the previous one stays in use.
   */
  setTls(tls: TurnTlsOptions): number;
}

/** How long `revokeUser` waits for the users-file lock, ms (below the web server's 2 s request timeout). */
const REVOKE_LOCK_TIMEOUT_MS = 1000;

function readPem(v: string): string {
  return v.includes('-----BEGIN') ? v : readFileSync(v, 'utf8');
}

/**
 * Create a relay (not started).
 * @throws RangeError/TypeError on invalid options (see {@link resolveOptions}, bad CIDRs).
 */
export function createTurnServer(options: TurnServerOptions): TurnServer {
  return new TurnServerImpl(options);
}

class TurnServerImpl implements TurnServer {
  private readonly o: ResolvedTurnOptions;
  private readonly log: TurnLogger;
  private readonly counters = new RelayCounters();
  private readonly users: UserStore;
  private readonly limiter: KeyedRateLimiter;
  private readonly manager: AllocationManager;
  private readonly dataPath: DataPath;
  private readonly services: RelayServices;
  private readonly events: AllocationEventListener | undefined;
  /** Bound UDP listening addresses (the data path owns the sockets). */
  private udp: TransportAddress[] = [];
  private streams: StreamListener[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly pendingWork = new Set<Promise<void>>();
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(options: TurnServerOptions) {
    this.log = options.logger ?? noopLogger;
    this.o = resolveOptions(options, this.log);
    this.events = options.allocationEvents;
    this.users = new UserStore(this.o.usersFile, this.o.realm, this.log, this.o.usersFilePollMs, { users: this.o.staticUsers, fileSecrets: this.o.restCredentials });
    this.limiter = new KeyedRateLimiter(this.o.unauthBurst, this.o.unauthPerSecond);
    const configured = this.o.secrets;
    const credentials: CredentialSources = {
      realm: this.o.realm,
      secrets: () => {
        const extra = this.users.secrets;
        return extra.length === 0 ? configured() : [...configured(), ...extra];
      },
      users: this.users,
    };
    const deps = { onStun: (conn: ClientConnection, msg: Buffer) => this.onStun(conn, msg), onInternalError: (err: unknown) => this.internal(err), maxBps: this.o.maxBps };
    this.dataPath = chooseDataPath(this.o.dataPath, deps, this.o.relayThreads, this.log);
    this.manager = new AllocationManager(this.o.minPort, this.o.maxPort, this.o.userQuota, this.o.totalQuota, this.dataPath, (a, reason) => this.onAllocationEnd(a, reason));
    this.services = {
      options: this.o,
      log: this.log,
      counters: this.counters,
      manager: this.manager,
      dataPath: this.dataPath,
      nonces: new NonceManager(this.o.nonceLifetime),
      credentials,
      limiter: this.limiter,
      policy: new PeerAddressPolicy(this.o.allowedPeers, [], undefined, this.o.deniedPeers),
      pendingAllocate: new Map(),
      isRunning: () => this.state === 'running',
      track: (work) => this.track(work),
      allocationStarted: (a, lifetimeS) => this.onAllocationStart(a, lifetimeS),
    };
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`relay cannot start in state ${this.state}`);
    this.state = 'starting';
    try {
      const udpAddrs = this.o.udp ? expandListenAddresses(this.o.listen) : [];
      for (const addr of udpAddrs) {
        this.udp.push(await this.dataPath.listenUdp(addr, this.o.port));
        this.assertStarting();
      }
      const handlers = this.streamHandlers();
      const streamOpts = { maxConnections: this.o.maxConnections, maxBuffered: this.o.streamMaxBuffered, idleTimeoutMs: this.o.streamIdleTimeout * 1000 };
      const tcpPort = this.o.port === 0 ? (this.udp[0]?.port ?? 0) : this.o.port;
      for (const addr of this.o.tcp ? this.o.listen : []) {
        const s = new StreamListener('tcp', addr, tcpPort, handlers, streamOpts);
        this.streams.push(s);
        await s.start();
        this.assertStarting();
      }
      if (this.o.tls) {
        const tls = { cert: readPem(this.o.tls.cert), key: readPem(this.o.tls.key) };
        for (const addr of this.o.listen) {
          const s = new StreamListener('tls', addr, this.o.tlsPort, handlers, { ...streamOpts, tls });
          this.streams.push(s);
          await s.start();
          this.assertStarting();
        }
      }
      this.applyAddressRules(udpAddrs);
      this.users.start();
      this.sweepTimer = setInterval(() => this.sweep(), this.o.sweepIntervalMs);
      this.sweepTimer.unref();
      this.state = 'running';
      const a = this.addresses();
      this.log.info(
        `relay listening: udp ${a.udp.map((u) => `${u.address}:${u.port}`).join(', ')}; tcp ${a.tcpPort ?? '-'}; tls ${a.tlsPort ?? '-'}; realm ${this.o.realm}; relay ports ${this.o.minPort}-${this.o.maxPort}`,
      );
    } catch (err) {
      await this.closeSockets();
      this.state = 'stopped';
      throw err;
    }
  }

  /** The relay's own addresses and ports, known once bound: the peer policy and the data path's own-address/hairpin rules. */
  private applyAddressRules(udp: string[]): void {
    const listeningPorts = [...this.udp.map((l) => l.port), ...this.streams.map((s) => s.port ?? 0)].filter((p) => p > 0);
    const { relayIp, externalIp, allowedPeers, deniedPeers, minPort, maxPort, listen } = this.o;
    const rules = ownAddressRules({ listen, udp, listeningPorts, relayIp, externalIp, allowedPeers, deniedPeers, minPort, maxPort });
    this.services.policy = rules.policy;
    this.dataPath.configure(rules);
  }

  /** @throws Error when stop() was called while start() was binding sockets. */
  private assertStarting(): void {
    if (this.state !== 'starting') throw new Error('relay stopped while starting');
  }

  private async closeSockets(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.users.stop();
    this.manager.endAll('stopped');
    await Promise.all([this.dataPath.close(), ...this.streams.map((s) => s.close())]);
    this.udp = [];
    this.streams = [];
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    await Promise.allSettled([...this.pendingWork]);
    await this.closeSockets();
    this.state = 'stopped';
    this.log.info('relay stopped');
  }

  addresses(): TurnAddresses {
    const tcp = this.streams.find((s) => s.transport === 'tcp');
    const tls = this.streams.find((s) => s.transport === 'tls');
    return { udp: this.udp.map((l) => ({ ...l })), tcpPort: tcp?.port, tlsPort: tls?.port };
  }

  setTls(tls: TurnTlsOptions): number {
    const pem = { cert: readPem(tls.cert), key: readPem(tls.key) };
    const listeners = this.streams.filter((s) => s.transport === 'tls');
    for (const s of listeners) s.setTls(pem);
    return listeners.length;
  }

  stats(): TurnStats {
    const g = this.manager.gauges();
    return this.counters.snapshot(
      { allocations: this.manager.allocations.size, permissions: g.permissions, channels: g.channels, relayPortsInUse: this.manager.ports.used },
      this.dataPath.counters(),
      this.dataPath.info,
    );
  }

  listAllocations(): AllocationInfo[] {
    return [...this.manager.allocations.values()].map((a) => a.info(this.dataPath.allocationCounters(a)));
  }

  endAllocation(id: string): boolean {
    const a = this.manager.allocations.get(id);
    if (!a) return false;
    this.manager.end(a, 'admin');
    return true;
  }

  revokeUser(name: string): RevokeResult {
    let removed = false;
    if (this.o.usersFile) {
      // The lock wait blocks the event loop (and relaying): give up after 1 s rather than 5.
      removed = removeUser(this.o.usersFile, name, this.o.realm, REVOKE_LOCK_TIMEOUT_MS);
      this.users.reload();
    }
    const endedAllocations = this.manager.endUser(name, 'revoked');
    this.log.info(`revoked user ${name}: removed from the users file: ${removed}; allocations ended: ${endedAllocations}`);
    return { removed, endedAllocations };
  }

  endRestUser(userId: string): number {
    const mine = [...this.manager.allocations.values()].filter((a) => {
      const colon = a.username.indexOf(':');
      return colon > 0 && a.username.slice(colon + 1) === userId && restUsernameExpiry(a.username) !== undefined;
    });
    for (const a of mine) this.manager.end(a, 'admin');
    this.log.info(`ended the allocations of REST user id ${userId}: ${mine.length}`);
    return mine.length;
  }

  private sweep(): void {
    try {
      const now = Date.now();
      this.manager.sweep(now);
      this.dataPath.sweep(now);
      this.limiter.sweep(now);
    } catch (err) {
      this.internal(err);
    }
  }

  private onAllocationStart(a: Allocation, lifetimeS: number): void {
    if (!this.events?.started) return;
    try {
      this.events.started({ ...allocationData(a), lifetimeS }, a.createdAt);
    } catch (err) {
      this.internal(err);
    }
  }

  private onAllocationEnd(a: Allocation, reason: EndReason): void {
    this.counters.allocationsEnded++;
    if (reason === 'expired') this.counters.allocationsExpired++;
    else if (reason === 'deleted') this.counters.allocationsDeleted++;
    else if (reason === 'connection_closed') this.counters.allocationsClosedWithConnection++;
    this.log.debug(`allocation ${a.id} (${a.username}, ${a.client.label}, relay ${a.relayed.address}:${a.relayed.port}) ended: ${reason}`);
    // An allocation refused after its socket was bound (client gone meanwhile) was never announced.
    if (!this.events?.ended || a.allocateResponse === undefined) return;
    try {
      const now = Date.now();
      // Both data paths keep the final counters readable after the end (see DataPath.allocationCounters).
      this.events.ended({ ...allocationData(a), reason, durationMs: now - a.createdAt, counters: this.dataPath.allocationCounters(a) }, now);
    } catch (err) {
      this.internal(err);
    }
  }

  private internal(err: unknown): void {
    this.counters.internalErrors++;
    this.log.error(`internal error: ${(err as Error)?.stack ?? String(err)}`);
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((err) => this.internal(err)).finally(() => this.pendingWork.delete(tracked));
    this.pendingWork.add(tracked);
  }

  // ---------------------------------------------------------------- demultiplexing

  /** A STUN message from a UDP client, handed up by the data path. */
  private onStun(conn: ClientConnection, msg: Buffer): void {
    try {
      dispatchStun(this.services, conn, msg);
    } catch (err) {
      this.internal(err);
    }
  }

  /** TCP/TLS connections: frames are already split (STUN or padded ChannelData); closing ends the allocation. */
  private streamHandlers(): StreamHandlers {
    return {
      onOpen: (conn) => {
        if (conn.transport === 'tls') this.counters.connectionsTls++;
        else this.counters.connectionsTcp++;
      },
      onFrame: (conn, frame) => {
        try {
          if ((frame[0]! & 0xc0) === 0x40) {
            const a = conn.getAllocation();
            if (!a) {
              this.counters.drop('no_allocation');
              return;
            }
            this.dataPath.clientChannelData(a, frame);
            return;
          }
          dispatchStun(this.services, conn, frame);
        } catch (err) {
          this.internal(err);
        }
      },
      onClose: (conn) => {
        try {
          const a = conn.getAllocation();
          if (a) this.manager.end(a, 'connection_closed');
        } catch (err) {
          this.internal(err);
        }
      },
      onGarbage: (conn: StreamConnection, err: Error) => {
        this.counters.drop('stream_garbage');
        this.log.debug(`${conn.label}: closing after garbage: ${err.message}`);
      },
      onBackpressureDrop: () => this.counters.drop('stream_backpressure'),
    };
  }
}

/** The five-tuple and addresses of an allocation, as plain JSON. */
function allocationData(a: Allocation): RelayAllocationData {
  const copy = (t: TransportAddress): TransportAddress => ({ family: t.family, address: t.address, port: t.port });
  return {
    allocationId: a.id,
    username: a.username,
    client: copy(a.client.remote),
    server: copy(a.client.local),
    transport: a.client.transport,
    relayed: copy(a.relayed),
    advertised: copy(a.advertised),
  };
}
