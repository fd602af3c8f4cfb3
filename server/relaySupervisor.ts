/**
 * Supervisor of the embedded STUN/TURN relay, run as a child process (`dist/turn/main.js`,
 * `child_process.fork`) so a relay crash never takes the web server down and the relay's hot path
 * does not share the event loop with HTTPS/Socket.IO.
 *
 * IPC (`contracts/relayIpc.ts`; child side `turn/main.ts`): the child reports `ready` (structured
 * addresses) or `start-failed`, and sends its log records, which are written with our logger at
 * their level; allocation start/end reports go to `onAllocationEvent` (webhooks). {@link RelaySupervisor.request} sends a typed request with a fresh id and resolves
 * with the reply carrying that id. Lines the child prints itself (a crash trace) are logged too:
 * stdout at info, stderr at warn.
 *
 * Supervision: if the child exits while not stopping, it is restarted after a backoff that
 * doubles from {@link RESTART_MIN_MS} to {@link RESTART_MAX_MS} (reset after it stayed up
 * {@link STABLE_AFTER_MS}).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'log4js';
import { formatHostPort } from '../common/hostPort.js';
import { relayNodeFlags } from '../turn/index.js';
import {
  isRelayChildMessage,
  type RelayAllocationEndMessage,
  type RelayAllocationStartMessage,
  type RelayChildMessage,
  type RelayParentMessage,
  type RelayReadyMessage,
  type RelayReply,
  type RelayRequest,
  type RelayRequestParams,
  type RelayRequestType,
} from '../contracts/relayIpc.js';

export const RESTART_MIN_MS = 500;
export const RESTART_MAX_MS = 30_000;
export const STABLE_AFTER_MS = 30_000;
/** How long `stop()` waits for the child to exit after `{type:'stop'}` before SIGTERM, then SIGKILL. */
export const STOP_TIMEOUT_MS = 5_000;
/** Default time a request may take, ms. */
export const REQUEST_TIMEOUT_MS = 2_000;

export type { RelayReadyMessage };

/** Why a {@link RelaySupervisor.request} failed. */
export class RelayAdminError extends Error {
  constructor(
    message: string,
    /** `unavailable`: relay not running (or it exited); `timeout`: no answer in time; `failed`: the relay could not do it. */
    readonly kind: 'unavailable' | 'timeout' | 'failed',
  ) {
    super(message);
    this.name = 'RelayAdminError';
  }
}

/**
 * The relay's STUN/TURN port from a `ready` message: `tcpPort`, else the port of the first UDP address.
 * @returns the port, or undefined when the message carries none.
 */
export function relayPort(ready: RelayReadyMessage): number | undefined {
  if (ready.tcpPort !== null && ready.tcpPort > 0) return ready.tcpPort;
  const port = ready.udp[0]?.port;
  return port !== undefined && port > 0 ? port : undefined;
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

/** Options of {@link RelaySupervisor}. */
export interface RelaySupervisorOptions {
  /** Path of the relay entry (compiled `turn/main.js`). */
  modulePath: string;
  /** Environment of the child (the web server's environment: the relay reads the same variables). */
  env: NodeJS.ProcessEnv;
  /** Writes the child's log records and the supervisor's own messages (category `turn`). */
  logger: Logger;
  /** Override {@link STOP_TIMEOUT_MS} (tests). */
  stopTimeoutMs?: number;
  /** Override {@link RESTART_MIN_MS} (tests). */
  restartMinMs?: number;
  /**
   * Told when the relay created or ended an allocation (the child reports them when its environment
   * sets WEBHOOK_URL). Called synchronously; an exception is logged and ignored.
   */
  onAllocationEvent?: (m: RelayAllocationStartMessage | RelayAllocationEndMessage) => void;
}

interface Pending {
  type: RelayRequestType;
  resolve: (reply: RelayReply) => void;
  reject: (err: RelayAdminError) => void;
  timer: NodeJS.Timeout;
}

/** Starts, watches, restarts and stops the relay child; carries typed requests to it. */
export class RelaySupervisor {
  private child: ChildProcess | undefined;
  private state: RelayStatus['state'] = 'stopped';
  private restarts = 0;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private readyMsg: RelayReadyMessage | undefined;
  private lastReadyMsg: RelayReadyMessage | undefined;
  private startedAt = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly readyWaiters: Array<() => void> = [];

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

  /**
   * Send request `type` with `params` to the relay child and wait for the reply with the same id.
   * @param timeoutMs  how long to wait, ms (default {@link REQUEST_TIMEOUT_MS}).
   * @returns the reply, typed by the request (e.g. `request('stats')` → `{id, type:'stats', stats}`).
   * @throws RelayAdminError `unavailable` (not ready, or the child exited before answering),
   *         `timeout`, or `failed` (the child reported an error, e.g. a locked users file).
   */
  request<T extends RelayRequestType>(type: T, params: RelayRequestParams<T>, timeoutMs = REQUEST_TIMEOUT_MS): Promise<RelayReply<T>> {
    if (!this.isReady()) return Promise.reject(new RelayAdminError('relay is not running', 'unavailable'));
    const id = this.nextId++;
    return new Promise<RelayReply<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RelayAdminError(`relay did not answer ${type} within ${timeoutMs} ms`, 'timeout'));
      }, timeoutMs);
      // `take()` only hands over a reply whose id and type match this request.
      this.pending.set(id, { type, resolve: (r) => resolve(r as unknown as RelayReply<T>), reject, timer });
      if (!this.send({ ...params, id, type } as RelayRequest)) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new RelayAdminError('relay is not running', 'unavailable'));
      }
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

  /** @returns false when the child is not running. */
  private send(msg: RelayParentMessage): boolean {
    if (!this.child || !this.child.connected) return false;
    try {
      this.child.send(msg);
      return true;
    } catch {
      return false;
    }
  }

  private spawn(): void {
    const { logger, modulePath, env } = this.options;
    this.state = this.restarts === 0 ? 'starting' : 'restarting';
    this.readyMsg = undefined;
    this.startedAt = Date.now();
    let child: ChildProcess;
    try {
      // The relay's own Node flags (memory-lean on the native data path), after any inherited ones.
      child = fork(modulePath, [], { env, execArgv: [...process.execArgv, ...relayNodeFlags(env.TURN_DATA_PATH)], stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
    } catch (err) {
      logger.error(`cannot start relay ${modulePath}: ${(err as Error).message}`);
      this.scheduleRestart();
      return;
    }
    this.child = child;
    logger.info(`relay starting pid=${child.pid} (${modulePath})`);
    // What the child prints itself (not through its logger): a crash trace, a config error.
    const printed = (stream: NodeJS.ReadableStream | null, level: 'info' | 'warn') => {
      if (!stream) return;
      createInterface({ input: stream }).on('line', (line) => {
        if (line.trim() !== '') logger[level](`[relay] ${line}`);
      });
    };
    printed(child.stdout, 'info');
    printed(child.stderr, 'warn');
    child.on('message', (msg: unknown) => this.onChildMessage(child, msg));
    child.on('error', (err) => logger.error(`relay pid=${child.pid}: ${err.message}`));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.readyMsg = undefined;
      this.failPending(new RelayAdminError('relay exited', 'unavailable'));
      if (this.state === 'stopping' || this.state === 'stopped') {
        logger.info(`relay stopped (code=${code} signal=${signal})`);
        return;
      }
      logger.error(`relay exited unexpectedly (code=${code} signal=${signal})`);
      this.scheduleRestart();
    });
  }

  private failPending(err: RelayAdminError): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
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
    if (this.child !== child) return;
    const { logger } = this.options;
    if (!isRelayChildMessage(msg)) {
      logger.warn(`relay sent an unknown message: ${JSON.stringify(msg)?.slice(0, 200)}`);
      return;
    }
    const m: RelayChildMessage = msg;
    switch (m.type) {
      case 'log':
        logger[m.level](m.category === 'turn' ? `[relay] ${m.message}` : `[relay:${m.category}] ${m.message}`);
        return;
      case 'ready': {
        if (relayPort(m) === undefined) {
          logger.warn(`relay sent a ready message without a port: ${JSON.stringify(m).slice(0, 200)}`);
          return;
        }
        this.readyMsg = m;
        this.lastReadyMsg = m;
        if (this.state === 'starting' || this.state === 'restarting') this.state = 'ready';
        logger.info(`relay ready pid=${child.pid} udp=${m.udp.map((u) => formatHostPort(u.address, u.port)).join(',')} tcp=${m.tcpPort ?? 'none'} tls=${m.tlsPort ?? 'none'}`);
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      }
      case 'start-failed':
        logger.error(`relay could not start: ${m.message.slice(0, 500)}`);
        return;
      case 'allocation-start':
      case 'allocation-end':
        try {
          this.options.onAllocationEvent?.(m);
        } catch (err) {
          logger.error(`allocation event listener failed: ${(err as Error)?.message ?? String(err)}`);
        }
        return;
      case 'failed': {
        const p = this.take(m.id, m.request);
        p?.reject(new RelayAdminError(`relay could not do ${m.request}: ${m.message}`, 'failed'));
        return;
      }
      default:
        this.take(m.id, m.type)?.resolve(m);
    }
  }

  /** The pending request `id` of `type` (removed), or undefined for a late or unknown reply. */
  private take(id: number, type: RelayRequestType): Pending | undefined {
    const p = this.pending.get(id);
    if (!p || p.type !== type) return undefined;
    this.pending.delete(id);
    clearTimeout(p.timer);
    return p;
  }
}
