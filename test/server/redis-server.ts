/**
 * Test helper: a throwaway `redis-server` on a free loopback port (no persistence), and a
 * socket.io-client connector for servers started with `test/helpers/server.ts`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { io as ioClient } from 'socket.io-client';
import { freeTcpPort } from '../helpers/ports.js';
import type { ClientSocket } from '../signaling/harness.js';

/** Path of redis-server (REDIS_SERVER overrides). */
export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** True when redis-server is installed; Redis suites skip LOUDLY otherwise. */
export const haveRedis = existsSync(REDIS_SERVER) || spawnSync('redis-server', ['--version']).status === 0;

/** A running redis-server. */
export interface TestRedis {
  url: string;
  port: number;
  proc: ChildProcess;
  /** Send one command (inline protocol) and return the raw reply text. */
  command(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** Send one RESP command to 127.0.0.1:port and resolve with the raw reply (read until idle 30 ms). */
function rawCommand(port: number, args: string[], timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = netConnect(port, '127.0.0.1');
    let out = '';
    let idle: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis command ${args[0]} timed out`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    sock.on('data', (d) => {
      out += d.toString();
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => {
        clearTimeout(timer);
        sock.destroy();
        resolve(out);
      }, 30);
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Start `redis-server --port P --bind 127.0.0.1 --save '' --appendonly no` and wait for PONG.
 * @throws when it does not answer within 10 s.
 */
export async function startRedis(): Promise<TestRedis> {
  return startRedisOnPort(await freeTcpPort());
}

/** {@link startRedis} on a given port (e.g. to bring a stopped one back). */
export async function startRedisOnPort(port: number): Promise<TestRedis> {
  const bin = existsSync(REDIS_SERVER) ? REDIS_SERVER : 'redis-server';
  const proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await rawCommand(port, ['PING'], 500)).startsWith('+PONG')) break;
    } catch {
      /* not up yet */
    }
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`redis-server did not start on port ${port}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    proc,
    command: (...args) => rawCommand(port, args),
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Connect a socket.io-client (WebSocket only, self-signed certificate accepted, no reconnection). */
export function connectTo(url: string): Promise<ClientSocket> {
  return new Promise((resolve, reject) => {
    const s: ClientSocket = ioClient(url, { transports: ['websocket'], rejectUnauthorized: false, forceNew: true, reconnection: false, timeout: 5000 });
    s.once('connect', () => resolve(s));
    s.once('connect_error', (err) => reject(err));
  });
}
