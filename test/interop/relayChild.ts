/**
 * The built relay entry (dist/turn/main.js) forked as the web server forks it, for tests that speak
 * the relay IPC (contracts/relayIpc.ts) directly: every child message is queued, `next(type)` waits
 * for the next one of a type (log records pass by), `request()` sends a request with a fresh id and
 * waits for the reply with that id.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { relayNodeFlags } from '../../turn/index.js';
import type { RelayChildMessage, RelayReply, RelayRequestFailed, RelayRequestParams, RelayRequestType } from '../../contracts/relayIpc.js';

export const RELAY_MAIN = path.resolve('dist/turn/main.js');

export interface RelayChild {
  child: ChildProcess;
  /** Exit code (null when killed by a signal). */
  exit: Promise<number | null>;
  /** What the child printed on stdout/stderr. */
  output(): string;
  /** Every message received so far (log records included). */
  messages: RelayChildMessage[];
  /** The next not yet taken message of `type`. @throws when the child exits first or after `timeoutMs`. */
  next<T extends RelayChildMessage['type']>(type: T, timeoutMs?: number): Promise<Extract<RelayChildMessage, { type: T }>>;
  /** Send a request and wait for the reply (or the `failed` reply) with its id. */
  request<T extends RelayRequestType>(type: T, params: RelayRequestParams<T>, timeoutMs?: number): Promise<RelayReply<T> | RelayRequestFailed>;
}

let nextId = 1;

/** Fork the relay with `env` added to this process's environment. */
export function forkRelay(env: Record<string, string>): RelayChild {
  // With the Node flags the web server gives it (turn/nodeFlags.ts).
  const child = fork(RELAY_MAIN, [], { execArgv: relayNodeFlags(env.TURN_DATA_PATH ?? process.env.TURN_DATA_PATH), stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  let exited = false;
  const exit = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      exited = true;
      r(code);
    }),
  );
  const messages: RelayChildMessage[] = [];
  const taken = new Set<RelayChildMessage>();
  child.on('message', (m: RelayChildMessage) => messages.push(m));
  const waitFor = <M>(pick: (m: RelayChildMessage) => boolean, what: string, timeoutMs: number): Promise<M> => {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const poll = () => {
        const m = messages.find((x) => !taken.has(x) && pick(x));
        if (m) {
          taken.add(m);
          return resolve(m as M);
        }
        if (exited) return reject(new Error(`relay exited before ${what}; output: ${out.slice(-2000)}`));
        if (Date.now() > deadline) return reject(new Error(`no ${what} within ${timeoutMs} ms; output: ${out.slice(-2000)}`));
        setTimeout(poll, 10);
      };
      poll();
    });
  };
  return {
    child,
    exit,
    output: () => out,
    messages,
    next: (type, timeoutMs = 15_000) => waitFor((m) => m.type === type, `a ${type} message`, timeoutMs),
    request: (type, params, timeoutMs = 5000) => {
      const id = nextId++;
      child.send({ ...params, id, type });
      return waitFor((m) => 'id' in m && m.id === id, `a reply to ${type} #${id}`, timeoutMs);
    },
  };
}
