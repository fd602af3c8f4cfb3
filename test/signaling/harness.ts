/**
 * Test harness for the signaling and HTTP tests: starts the real server (HTTPS + Express +
 * Socket.IO, in-process via `startServer`) on a free port with temporary directories, and
 * connects socket.io-client sockets to it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io as ioClient, type Socket } from 'socket.io-client';
import { loadConfig, type Env } from '../../contracts/config.js';
import { startServer, type RunningServer, type StartServerOptions } from '../../server/server.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../../contracts/signaling.js';
import type { RoomSnapshot } from '../../server/signaling/seatStore.js';
import { freeTcpPort } from '../helpers/ports.js';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface TestServer {
  server: RunningServer;
  config: Env;
  dir: string;
  /** Connect a new client (websocket transport, self-signed certificate accepted). */
  connect(opts?: { transports?: string[]; extraHeaders?: Record<string, string> }): Promise<ClientSocket>;
  /** Close every client, the server, and remove the temp directory. */
  stop(): Promise<void>;
}

/**
 * Start a server for a test file.
 * @param env  extra variables (strings, as in the environment); TURN is disabled unless given.
 */
export async function startTestServer(env: Record<string, string> = {}, extra: Partial<StartServerOptions> = {}): Promise<TestServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'webrtc-call-test-'));
  const fullEnv: Record<string, string> = {
    HTTPS_HOST: '127.0.0.1',
    HTTPS_PORT: String(await freeTcpPort()),
    CERTS_DIR: path.join(dir, 'certs'),
    DATA_DIR: path.join(dir, 'data'),
    LOG_DIR: path.join(dir, 'logs'),
    LOG_LEVEL: 'error',
    TURN_ENABLED: 'false',
    ...env,
  };
  let config: Env;
  let server: RunningServer;
  try {
    config = loadConfig(fullEnv);
    server = await startServer({ config, env: { ...process.env, ...fullEnv }, clientDir: path.join(dir, 'client'), ...extra });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const clients: ClientSocket[] = [];
  return {
    server,
    config,
    dir,
    connect: (opts = {}) =>
      new Promise<ClientSocket>((resolve, reject) => {
        const s: ClientSocket = ioClient(server.url, {
          transports: opts.transports ?? ['websocket'],
          rejectUnauthorized: false,
          forceNew: true,
          reconnection: false,
          timeout: 5000,
          ...(opts.extraHeaders ? { extraHeaders: opts.extraHeaders } : {}),
        });
        clients.push(s);
        s.once('connect', () => resolve(s));
        s.once('connect_error', (err) => reject(err));
      }),
    stop: async () => {
      for (const c of clients) c.disconnect();
      await server.close('test done');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Resolve with the arguments of the next `event` on `socket`.
 * @throws Error after `timeoutMs` without the event.
 */
export function nextEvent<T extends unknown[] = unknown[]>(socket: ClientSocket, event: string, timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const s = socket as unknown as { once(ev: string, fn: (...a: unknown[]) => void): void; off(ev: string, fn: (...a: unknown[]) => void): void };
    const t = setTimeout(() => {
      s.off(event, handler);
      reject(new Error(`no "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
    const handler = (...args: unknown[]) => {
      clearTimeout(t);
      resolve(args as T);
    };
    s.once(event, handler);
  });
}

/** Record every event a socket receives (name + args), for "nothing was delivered" assertions. */
export function recordEvents(socket: ClientSocket): Array<{ event: string; args: unknown[] }> {
  const log: Array<{ event: string; args: unknown[] }> = [];
  socket.onAny((event: string, ...args: unknown[]) => log.push({ event, args }));
  return log;
}

/** Emit with an acknowledgement and resolve with it (3 s timeout). */
export function emitAck(socket: ClientSocket, event: string, ...args: unknown[]): Promise<unknown> {
  return (socket as unknown as { timeout(ms: number): { emitWithAck(ev: string, ...a: unknown[]): Promise<unknown> } })
    .timeout(3000)
    .emitWithAck(event, ...args);
}

/** Emit raw arguments, bypassing the typed event map (for malformed-payload tests). */
export function emitRaw(socket: ClientSocket, event: string, ...args: unknown[]): void {
  (socket as unknown as { emit(ev: string, ...a: unknown[]): void }).emit(event, ...args);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Emit `join(room)` from every socket at once and collect what each got back.
 * @returns one outcome per socket, in order: `'joined'` or `'full'`.
 */
export function raceJoin(sockets: ClientSocket[], room: string): Promise<Array<'joined' | 'full'>> {
  return Promise.all(
    sockets.map(
      (s) =>
        new Promise<'joined' | 'full'>((resolve) => {
          s.once('joined', () => resolve('joined'));
          s.once('full', () => resolve('full'));
          s.emit('join', room);
        }),
    ),
  );
}

/** The room as the server's seat store reports it (what the admin API shows), or undefined. */
export async function roomSnapshot(t: TestServer, room: string): Promise<RoomSnapshot | undefined> {
  return (await t.server.signaling.seats.snapshot()).find((r) => r.room === room);
}

/** True while process `pid` exists (signal 0 probe). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
