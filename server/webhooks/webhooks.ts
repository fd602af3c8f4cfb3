/**
 * The webhook sender: turns an event into a signed POST to WEBHOOK_URL through the bounded
 * {@link DeliveryQueue}. {@link Webhooks.emit} is what event sources call: it stamps the event
 * (UUID, time, node id), queues it and returns at once — serializing, signing and sending happen
 * later on the event loop, never inside the caller's handler. Each try is a fresh body (its own
 * `sentAt` and `attempt`) with its own signature; the event `id` stays the same for de-duplication.
 *
 * Logging (category `webhooks` of the caller's logger): a warning when deliveries start failing and
 * at most one a minute while they keep failing or events are dropped, an info line when they work
 * again; every failed try at debug.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'log4js';
import type { Env } from '../../contracts/config.js';
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, type WebhookDataMap, type WebhookEvent, type WebhookEventType } from '../../contracts/webhooks.js';
import { createHttpPoster, loadWebhookCa, type HttpPoster } from './httpPost.js';
import { DeliveryQueue, type DropReason, type SendOutcome } from './queue.js';
import { signBody } from './signer.js';
import { TokenBucket } from '../../common/tokenBucket.js';

/** Requests in flight at most: a slow receiver holds few sockets, a fast one keeps up. */
export const WEBHOOK_CONCURRENCY = 4;
/** First retry delay and the cap, ms. */
export const WEBHOOK_BACKOFF_BASE_MS = 1000;
export const WEBHOOK_BACKOFF_MAX_MS = 60_000;
/** How long a stopping server waits for queued events, ms. */
export const WEBHOOK_CLOSE_GRACE_MS = 2000;
/**
 * `room.refused` events at most per second (burst {@link REFUSED_BURST}): refusals are what a
 * flood produces (bad joins, rate-limited clients), and they must not crowd the queue out of the
 * events that matter. Beyond it they are counted as dropped (`refused_flood`).
 */
export const REFUSED_PER_S = 20;
export const REFUSED_BURST = 100;
/** Repeated warnings about a failing receiver, at most one per this many ms. */
const WARN_EVERY_MS = 60_000;

/** Options of {@link Webhooks}. */
export interface WebhooksOptions {
  url: string;
  secret: string;
  /** Identifies this server node in every event. */
  nodeId: string;
  /** WEBHOOK_QUEUE_SIZE, WEBHOOK_MAX_ATTEMPTS, WEBHOOK_TIMEOUT_MS. */
  queueSize: number;
  maxAttempts: number;
  timeoutMs: number;
  /** WEBHOOK_CA's PEM text, if set. */
  caPem?: string;
  logger: Logger;
  /** Override the backoff (defaults {@link WEBHOOK_BACKOFF_BASE_MS}, {@link WEBHOOK_BACKOFF_MAX_MS}). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

/** An event as queued: everything but the per-try fields. */
type Stamped = Omit<WebhookEvent, 'sentAt' | 'attempt'>;

/** The sender (see the module comment). */
export class Webhooks {
  readonly queue: DeliveryQueue<Stamped>;
  /** Events emitted, by type (accepted or dropped). */
  readonly emitted = new Map<WebhookEventType, number>();
  /** `room.refused` events dropped over {@link REFUSED_PER_S} (never queued). */
  refusedFlood = 0;
  private readonly refusedBucket = new TokenBucket(REFUSED_BURST, REFUSED_PER_S);
  private readonly poster: HttpPoster;
  private readonly log: Logger;
  private failing = false;
  private lastWarn = 0;

  constructor(private readonly o: WebhooksOptions) {
    this.log = o.logger;
    this.poster = createHttpPoster({ url: o.url, timeoutMs: o.timeoutMs, maxSockets: WEBHOOK_CONCURRENCY, caPem: o.caPem });
    this.queue = new DeliveryQueue<Stamped>({
      send: (e, attempt, signal) => this.send(e, attempt, signal),
      capacity: o.queueSize,
      maxAttempts: o.maxAttempts,
      concurrency: WEBHOOK_CONCURRENCY,
      backoffBaseMs: o.backoffBaseMs ?? WEBHOOK_BACKOFF_BASE_MS,
      backoffMaxMs: o.backoffMaxMs ?? WEBHOOK_BACKOFF_MAX_MS,
      onDrop: (e, reason) => this.dropped(e, reason),
    });
  }

  /**
   * Queue event `type` with `data`: returns at once and never throws; the request is built and sent
   * on a later turn of the event loop.
   * @param atMs  when it happened, Unix ms (default now).
   * @returns false when the event was dropped (queue full, or stopping).
   */
  emit<T extends WebhookEventType>(type: T, data: WebhookDataMap[T], atMs = Date.now()): boolean {
    this.emitted.set(type, (this.emitted.get(type) ?? 0) + 1);
    if (type === 'room.refused' && !this.refusedBucket.take()) {
      this.refusedFlood++;
      return false;
    }
    return this.queue.push({ id: randomUUID(), type, timestamp: new Date(atMs).toISOString(), nodeId: this.o.nodeId, data } as Stamped);
  }

  /** Stop: wait up to `graceMs` for queued events, then drop the rest; close the sockets. Never rejects. */
  async close(graceMs = WEBHOOK_CLOSE_GRACE_MS): Promise<void> {
    await this.queue.close(graceMs);
    this.poster.close();
  }

  private async send(e: Stamped, attempt: number, signal: AbortSignal): Promise<SendOutcome> {
    const sentAt = Date.now();
    const body = JSON.stringify({ id: e.id, type: e.type, timestamp: e.timestamp, nodeId: e.nodeId, sentAt: new Date(sentAt).toISOString(), attempt, data: e.data });
    const r = await this.poster.post(
      body,
      {
        'content-type': 'application/json; charset=utf-8',
        'user-agent': 'webrtc-call-webhooks',
        [SIGNATURE_HEADER]: signBody(this.o.secret, body),
        [TIMESTAMP_HEADER]: String(Math.floor(sentAt / 1000)),
        [EVENT_ID_HEADER]: e.id,
        [EVENT_TYPE_HEADER]: e.type,
      },
      signal,
    );
    if (r.outcome === 'delivered') {
      if (this.failing) this.log.info(`webhooks: delivering to ${this.safeUrl()} again`);
      this.failing = false;
      return r.outcome;
    }
    const why = r.status !== undefined ? `HTTP ${r.status}` : r.error;
    if (this.log.isDebugEnabled()) this.log.debug(`webhook ${e.type} ${e.id} try ${attempt}: ${why}`);
    if (!this.failing || this.warnDue()) this.log.warn(`webhooks: ${this.safeUrl()} failed (${why}); retrying with backoff (queue ${this.queue.length})`);
    this.failing = true;
    return r.outcome;
  }

  private dropped(e: Stamped, reason: DropReason): void {
    if (this.log.isDebugEnabled()) this.log.debug(`webhook ${e.type} ${e.id} dropped: ${reason}`);
    if (this.warnDue()) {
      const d = this.queue.counters.dropped;
      this.log.warn(`webhooks: events dropped so far: queue full ${d.queue_full}, out of tries ${d.attempts}, refused by the receiver ${d.rejected}`);
    }
  }

  private warnDue(): boolean {
    const now = Date.now();
    if (now - this.lastWarn < WARN_EVERY_MS) return false;
    this.lastWarn = now;
    return true;
  }

  /** The URL without user info or query (they may hold a token). */
  private safeUrl(): string {
    const u = new URL(this.o.url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  }
}

/**
 * The sender configured by WEBHOOK_* settings, or undefined without WEBHOOK_URL.
 * @param nodeId  this node's id in every event.
 * @throws Error when WEBHOOK_CA cannot be read.
 */
export function webhooksFromConfig(config: Env, nodeId: string, logger: Logger): Webhooks | undefined {
  if (!config.WEBHOOK_URL || !config.WEBHOOK_SECRET) return undefined;
  return new Webhooks({
    url: config.WEBHOOK_URL,
    secret: config.WEBHOOK_SECRET,
    nodeId,
    queueSize: config.WEBHOOK_QUEUE_SIZE,
    maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    caPem: config.WEBHOOK_CA ? loadWebhookCa(config.WEBHOOK_CA) : undefined,
    logger,
  });
}
