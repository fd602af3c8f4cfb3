/**
 * Supervisor of the embedded STUN/TURN relay, run as a child process (`dist/turn/main.js`,
 * `child_process.fork`) so a relay crash never takes the web server down and the relay's hot path
 * does not share the event loop with HTTPS/Socket.IO.
 *
 * IPC (JSON over the fork channel; message types are in `contracts/relayIpc.ts`, child side `turn/main.ts`):
 * - child → parent `{type:'ready', udp:['ip:port'...], tcpPort, tlsPort}` once listening;
 *   `{type:'error', message}` when the relay cannot start (it then exits 1 and is restarted).
 * - parent → child `{type:'stats'}` → `{type:'stats', stats}`; `{type:'allocations'}` →
 *   `{type:'allocations', allocations}`; `{type:'end-allocation', id}` → `{type:'ended', id, ok}`;
 *   `{type:'stop'}`: the child stops and exits 0.
 * - Anything else from the child is passed to `onMessage` listeners.
 *
 * Supervision: if the child exits while not stopping, it is restarted after a backoff that
 * doubles from {@link RESTART_MIN_MS} to {@link RESTART_MAX_MS} (reset after it stayed up
 * {@link STABLE_AFTER_MS}). The child's stdout/stderr lines are re-logged on the `turn` category.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'log4js';
import type { AllocationInfo } from '../turn/allocation/allocation.js';
import type { TurnChildMessage, TurnParentMessage, TurnReadyMessage } from '../contracts/relayIpc.js';

export const RESTART_MIN_MS = 500;
export const RESTART_MAX_MS = 30_000;
export const STABLE_AFTER_MS = 30_000;
/** How long `stop()` waits for the child to exit after `{type:'stop'}` before SIGTERM, then SIGKILL. */
export const STOP_TIMEOUT_MS = 5_000;

/** `ready` message from the relay child. */
export type RelayReadyMessage = TurnReadyMessage;

/** Thrown by the admin operations of {@link RelaySupervisor}. */
export class RelayAdminError extends Error {
  constructor(
    message: string,
    /** `unavailable`: relay not running; `timeout`: no answer in time. */
    readonly kind: 'unavailable' | 'timeout',
  ) {
    super(message);
    this.name = 'RelayAdminError';
  }
}

/**
 * The relay's STUN/TURN port from a `ready` message: `tcpPort`, else the port of the first UDP
 * address (`ip:port` or `[ip]:port`).
 * @returns the port, or undefined when the message carries none.
 */
export function relayPort(ready: RelayReadyMessage): number | undefined {
  if (typeof ready.tcpPort === 'number' && ready.tcpPort > 0) return ready.tcpPort;
  const first = Array.isArray(ready.udp) ? ready.udp[0] : undefined;
  const m = typeof first === 'string' ? /:(\d{1,5})$/.exec(first) : null;
  return m ? Number(m[1]) : undefined;
}

/** Relay supervisor state, for /readyz and the admin API. */
export interface RelayStatus {
  state: 'starting' | 'ready' | 'restarting' | 'stopping' | 'stopped';
  pid?: number;
  restarts: number;
  ready?: RelayReadyMessage;
  /** The last `ready` message ever received (kept while the child restarts). */
  lastReady?: RelayReadyMessage;
}

const LEVEL_RE = /\[(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\]/;
/** log4js's default prefix `[time] [LEVEL] category - `, dropped when re-logging (we add our own). */
const PREFIX_RE = /^\[[^\]]*\] \[(?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\] \S+ - /;
// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[[0-9;]*m/g;

/** Options of {@link RelaySupervisor}. */
export interface RelaySupervisorOptions {
  /** Path of the relay entry (compiled `turn/main.js`). */
  modulePath: string;
  /** Environment of the child (the web server's environment: the relay reads the same variables). */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Override {@link STOP_TIMEOUT_MS} (tests). */
  stopTimeoutMs?: number;
  /** Override {@link RESTART_MIN_MS} (tests). */
  restartMinMs?: number;
}

/** Starts, watches, restarts and stops the relay child. */
export class RelaySupervisor {
  private child: ChildProcess | undefined;
  private state: RelayStatus['state'] = 'stopped';
  private restarts = 0;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private readyMsg: RelayReadyMessage | undefined;
  private lastReadyMsg: RelayReadyMessage | undefined;
  private startedAt = 0;
  private pendingStats: Array<(s: unknown) => void> = [];
  private pendingAllocations: Array<(a: AllocationInfo[] | undefined) => void> = [];
  private pendingEnded: Array<{ id: string; done: (ok: boolean | undefined) => void }> = [];
  private readonly readyWaiters: Array<() => void> = [];
  private readonly listeners: Array<(msg: unknown) => void> = [];

  constructor(private readonly options: RelaySupervisorOptions) {
    this.backoffMs = options.restartMinMs ?? RESTART_MIN_MS;
  }

  /** Start the child (returns at once; see {@link waitReady}). */
  start(): void {
    if (this.state !== 'stopped') return;
    this.spawn();
  }

  /** Current state. */
  status(): RelayStatus {
    return { state: this.state, pid: this.child?.pid, restarts: this.restarts, ready: this.readyMsg, lastReady: this.lastReadyMsg };
  }

  /** True when the child reported `ready` and is running. */
  isReady(): boolean {
    return this.state === 'ready';
  }

  /**
   * Resolve when the child is ready, or after `timeoutMs`.
   * @returns true when ready, false on timeout.
   */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.isReady()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const i = this.readyWaiters.indexOf(done);
        if (i >= 0) this.readyWaiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve(true);
      };
      this.readyWaiters.push(done);
    });
  }

  /** Listen to messages from the child other than `ready`/`stats` (admin hooks). */
  onMessage(fn: (msg: unknown) => void): void {
    this.listeners.push(fn);
  }

  /**
   * Send a raw IPC message to the child (admin hooks).
   * @returns false when the child is not running.
   */
  send(msg: object): boolean {
    if (!this.child || !this.child.connected) return false;
    try {
      this.child.send(msg);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Ask the child for its stats.
   * @returns the child's `stats` object, or undefined when it is not ready or does not answer within `timeoutMs`.
   */
  requestStats(timeoutMs = 1000): Promise<unknown> {
    if (!this.isReady() || !this.send({ type: 'stats' })) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const i = this.pendingStats.indexOf(done);
        if (i >= 0) this.pendingStats.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
      const done = (s: unknown) => {
        clearTimeout(t);
        resolve(s);
      };
      this.pendingStats.push(done);
    });
  }

  /** Send a request and wait for its answer (registered by `register`), or time out. */
  private ask<T>(msg: TurnParentMessage, what: string, timeoutMs: number, register: (done: (v: T | undefined) => void) => () => void): Promise<T> {
    if (!this.isReady()) return Promise.reject(new RelayAdminError('relay is not running', 'unavailable'));
    return new Promise<T>((resolve, reject) => {
      let unregister = () => {};
      const t = setTimeout(() => {
        unregister();
        reject(new RelayAdminError(`relay did not answer ${what} within ${timeoutMs} ms`, 'timeout'));
      }, timeoutMs);
      unregister = register((v) => {
        clearTimeout(t);
        unregister();
        if (v === undefined) reject(new RelayAdminError('relay exited', 'unavailable'));
        else resolve(v);
      });
      if (!this.send(msg)) {
        clearTimeout(t);
        unregister();
        reject(new RelayAdminError('relay is not running', 'unavailable'));
      }
    });
  }

  /**
   * The relay's live allocations (relay sessions), for the admin API.
   * @throws RelayAdminError when the relay is not running or does not answer within `timeoutMs`.
   */
  listAllocations(timeoutMs = 2000): Promise<AllocationInfo[]> {
    return this.ask<AllocationInfo[]>({ type: 'allocations' }, 'allocations', timeoutMs, (done) => {
      this.pendingAllocations.push(done);
      return () => {
        const i = this.pendingAllocations.indexOf(done);
        if (i >= 0) this.pendingAllocations.splice(i, 1);
      };
    });
  }

  /**
   * End one allocation in the relay (its relay socket closes).
   * @returns true when it existed.
   * @throws RelayAdminError when the relay is not running or does not answer within `timeoutMs`.
   */
  endAllocation(id: string, timeoutMs = 2000): Promise<boolean> {
    return this.ask<boolean>({ type: 'end-allocation', id }, 'end-allocation', timeoutMs, (done) => {
      const entry = { id, done };
      this.pendingEnded.push(entry);
      return () => {
        const i = this.pendingEnded.indexOf(entry);
        if (i >= 0) this.pendingEnded.splice(i, 1);
      };
    });
  }

  /**
   * Stop the child: `{type:'stop'}`, then SIGTERM after {@link STOP_TIMEOUT_MS}, then SIGKILL.
   * No restart afterwards. Resolves when the child has exited (never rejects).
   */
  async stop(): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    this.state = 'stopping';
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.state = 'stopped';
      return;
    }
    const wasReady = this.readyMsg !== undefined;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Before `ready` the child may not listen to IPC yet: SIGTERM (also a graceful stop for it).
    if (!wasReady || !this.send({ type: 'stop' })) child.kill('SIGTERM');
    const timeout = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
    const stopTimeout = this.options.stopTimeoutMs ?? STOP_TIMEOUT_MS;
    if ((await Promise.race([exited, timeout(stopTimeout)])) === 'timeout') {
      this.options.logger.warn(`relay pid=${child.pid} did not stop in ${stopTimeout} ms; SIGTERM`);
      child.kill('SIGTERM');
      if ((await Promise.race([exited, timeout(2000)])) === 'timeout') {
        this.options.logger.warn(`relay pid=${child.pid} still running; SIGKILL`);
        child.kill('SIGKILL');
        await exited;
      }
    }
    this.state = 'stopped';
  }

  private spawn(): void {
    const { logger, modulePath, env } = this.options;
    this.state = this.restarts === 0 ? 'starting' : 'restarting';
    this.readyMsg = undefined;
    this.startedAt = Date.now();
    let child: ChildProcess;
    try {
      child = fork(modulePath, [], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
    } catch (err) {
      logger.error(`cannot start relay ${modulePath}: ${(err as Error).message}`);
      this.scheduleRestart();
      return;
    }
    this.child = child;
    logger.info(`relay starting pid=${child.pid} (${modulePath})`);
    const relayLines = (stream: NodeJS.ReadableStream | null, fallback: 'info' | 'warn') => {
      if (!stream) return;
      createInterface({ input: stream }).on('line', (raw) => {
        const line = raw.replace(ANSI_RE, '');
        if (line.trim() === '') return;
        const lvl = LEVEL_RE.exec(line)?.[1]?.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | undefined;
        logger[lvl ?? fallback](`[relay] ${line.replace(PREFIX_RE, '')}`);
      });
    };
    relayLines(child.stdout, 'info');
    relayLines(child.stderr, 'warn');
    child.on('message', (msg: unknown) => this.onChildMessage(child, msg));
    child.on('error', (err) => logger.error(`relay pid=${child.pid}: ${err.message}`));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.readyMsg = undefined;
      for (const p of this.pendingStats.splice(0)) p(undefined);
      for (const p of [...this.pendingAllocations]) p(undefined);
      for (const p of [...this.pendingEnded]) p.done(undefined);
      if (this.state === 'stopping' || this.state === 'stopped') {
        logger.info(`relay stopped (code=${code} signal=${signal})`);
        return;
      }
      logger.error(`relay exited unexpectedly (code=${code} signal=${signal})`);
      this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    if (Date.now() - this.startedAt > STABLE_AFTER_MS) this.backoffMs = this.options.restartMinMs ?? RESTART_MIN_MS;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(RESTART_MAX_MS, this.backoffMs * 2);
    this.state = 'restarting';
    this.options.logger.warn(`restarting relay in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restarts++;
      this.spawn();
    }, delay);
  }

  private onChildMessage(child: ChildProcess, msg: unknown): void {
    if (this.child !== child || typeof msg !== 'object' || msg === null) return;
    const m = msg as TurnChildMessage;
    switch (m.type) {
      case 'ready': {
        if (relayPort(m) === undefined) {
          this.options.logger.warn(`relay sent a ready message without a port: ${JSON.stringify(msg).slice(0, 200)}`);
          return;
        }
        this.readyMsg = m;
        this.lastReadyMsg = m;
        if (this.state === 'starting' || this.state === 'restarting') this.state = 'ready';
        this.options.logger.info(`relay ready pid=${child.pid} udp=${JSON.stringify(m.udp)} tcp=${m.tcpPort ?? 'none'} tls=${m.tlsPort ?? 'none'}`);
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      }
      case 'stats':
        this.pendingStats.shift()?.(m.stats);
        return;
      case 'allocations':
        this.pendingAllocations[0]?.(Array.isArray(m.allocations) ? m.allocations : []);
        return;
      case 'ended':
        this.pendingEnded.find((p) => p.id === m.id)?.done(m.ok === true);
        return;
      case 'error':
        this.options.logger.error(`relay reported: ${String(m.message).slice(0, 500)}`);
        return;
    }
    for (const l of this.listeners) {
      try {
        l(msg);
      } catch (err) {
        this.options.logger.error(`relay message listener failed: ${(err as Error).message}`);
      }
    }
  }
}
