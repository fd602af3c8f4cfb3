/**
 * Scale-out of signaling over Redis (`REDIS_URL`): several server nodes behind a load balancer
 * (no sticky sessions needed with the WebSocket transport; long-polling needs sticky sessions)
 * share rooms.
 * - Socket.IO Redis adapter (`@socket.io/redis-adapter`, pub/sub on channel `<REDIS_PREFIX>#...`):
 *   `socket.to(room).emit(...)` reaches the other member on whichever node it is connected to.
 * - Seats in Redis ({@link RedisSeatStore}): atomic capacity across nodes, node heartbeats, dead
 *   node reclaim, seat grace period across nodes.
 * Three connections: commands (seats), adapter publish, adapter subscribe.
 */
import { createAdapter } from '@socket.io/redis-adapter';
import type { Logger } from 'log4js';
import { createClient } from 'redis';
import { RedisSeatStore } from './signaling/redisSeatStore.js';

/** Give up connecting at start after this long, ms (later outages are retried forever). */
export const REDIS_CONNECT_TIMEOUT_MS = 5000;

/** Options of {@link connectCluster}. */
export interface ClusterOptions {
  /** `REDIS_URL`. */
  url: string;
  /** `REDIS_PREFIX`. */
  prefix: string;
  /** `CLUSTER_NODE_TTL_MS`. */
  nodeTtlMs: number;
  /** `SEAT_GRACE_MS`. */
  graceMs: number;
  logger: Logger;
}

/** A node's connection to the cluster. */
export interface Cluster {
  nodeId: string;
  /** Pass as Socket.IO's `adapter` option. */
  adapter: ReturnType<typeof createAdapter>;
  /** The seat store for the signaling server. */
  seats: RedisSeatStore;
  /** Close the Redis connections (call after the signaling server closed). Never throws. */
  close(): Promise<void>;
}

/** `redis://user:secret@host` → `redis://user:***@host` for logs. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

/**
 * Connect to Redis (three connections) and prepare the adapter and seat store.
 * @throws Error `cannot connect to Redis at <url>: <reason>` when Redis is unreachable within
 *         {@link REDIS_CONNECT_TIMEOUT_MS}.
 */
export async function connectCluster(options: ClusterOptions): Promise<Cluster> {
  const { logger } = options;
  const safeUrl = redactRedisUrl(options.url);
  let started = false;
  const make = (role: string, failFast: boolean) => {
    const client = createClient({
      url: options.url,
      // Seat commands fail at once while Redis is unreachable (the join is refused with an
      // error) instead of queueing; the adapter's pub/sub clients queue until reconnected.
      disableOfflineQueue: failFast,
      socket: {
        connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
        // At start: fail after ~5 s. Afterwards: retry forever with a capped backoff.
        reconnectStrategy: (retries: number) =>
          started ? Math.min(100 * 2 ** Math.min(retries, 5), 3000) : retries >= 10 ? new Error(`gave up after ${retries} attempts`) : 500,
      },
    });
    let lastError = '';
    client.on('error', (err: Error) => {
      // node-redis emits 'error' on every failed (re)connect; log each distinct message once.
      if (err.message !== lastError) logger.warn(`redis (${role}): ${err.message}`);
      lastError = err.message;
    });
    client.on('ready', () => {
      if (lastError) logger.info(`redis (${role}): connected again`);
      lastError = '';
    });
    return client;
  };
  const cmd = make('commands', true);
  const pub = make('publish', false);
  const sub = make('subscribe', false);
  try {
    await Promise.all([cmd.connect(), pub.connect(), sub.connect()]);
  } catch (err) {
    for (const c of [cmd, pub, sub]) if (c.isOpen) c.destroy();
    throw new Error(`cannot connect to Redis at ${safeUrl}: ${(err as Error).message}`);
  }
  started = true;
  const seats = new RedisSeatStore({
    client: { sendCommand: (args) => cmd.sendCommand(args) },
    prefix: options.prefix,
    nodeTtlMs: options.nodeTtlMs,
    graceMs: options.graceMs,
    logger,
  });
  const adapter = createAdapter(pub, sub, { key: `${options.prefix}#socket.io` });
  logger.info(`cluster: Redis ${safeUrl}, node ${seats.nodeId}, key prefix ${options.prefix}`);
  return {
    nodeId: seats.nodeId,
    adapter,
    seats,
    close: async () => {
      for (const c of [sub, pub, cmd]) {
        try {
          if (c.isOpen) await c.close();
        } catch {
          c.destroy();
        }
      }
    },
  };
}
