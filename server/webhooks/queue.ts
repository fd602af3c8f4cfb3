/**
 * The bounded delivery queue of the webhooks: holds at most `capacity` items (waiting, in flight or
 * waiting for a retry), sends at most `concurrency` at a time, retries with exponential backoff up
 * to `maxAttempts` tries, and counts what it delivers, what fails and what it drops. `push` never
 * blocks and never throws: a full queue drops the new item (counted `queue_full`), so the code that
 * produces events (signaling, the relay supervisor) is never slowed down by a slow receiver. Sends
 * start on a later turn of the event loop (`setImmediate`), never inside `push`.
 */

/** What one try of `send` came to. */
export type SendOutcome = 'delivered' | 'retry' | 'rejected';

/**
 * Send one item (try number `attempt`, from 1). Resolve `retry` for a failure worth retrying
 * (network error, timeout, 5xx), `rejected` for one that is not (the receiver refused it: 4xx).
 * A rejection of the promise counts as `retry`. Must give up when `signal` aborts.
 */
export type SendFn<T> = (item: T, attempt: number, signal: AbortSignal) => Promise<SendOutcome>;

/** Why an item was dropped without being delivered. */
export type DropReason = 'queue_full' | 'attempts' | 'rejected' | 'shutdown';

/** Counters since start (monotonic). */
export interface QueueCounters {
  /** Items accepted by `push`. */
  accepted: number;
  delivered: number;
  /** Tries that did not deliver (each retry and each final failure counts once). */
  failedAttempts: number;
  dropped: Record<DropReason, number>;
}

/** Options of {@link DeliveryQueue}. */
export interface QueueOptions<T> {
  send: SendFn<T>;
  /** Items held at most (waiting + in flight + waiting for a retry). */
  capacity: number;
  /** Tries per item, the first included. */
  maxAttempts: number;
  /** Sends in flight at most. Default 4. */
  concurrency?: number;
  /** First retry delay, ms (doubled per try). Default 1000. */
  backoffBaseMs?: number;
  /** Longest retry delay, ms. Default 60 000. */
  backoffMaxMs?: number;
  /** Random source in [0, 1) for the jitter (tests fix it). Default Math.random. */
  random?: () => number;
  /** Told when an item is dropped (for a log line); must not throw. */
  onDrop?: (item: T, reason: DropReason) => void;
}

/**
 * Delay before try `attempt + 1` after try `attempt` failed: `min(max, base * 2^(attempt-1))`, of
 * which the upper half is jittered ("equal jitter"), so receivers that come back are not hit by
 * every node at once.
 * @param attempt  the try that failed, from 1.
 * @returns ms, in [d/2, d) where d is the capped exponential delay.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(d / 2 + (random() * d) / 2);
}

interface Entry<T> {
  item: T;
  /** Tries done. */
  attempts: number;
  timer?: NodeJS.Timeout;
}

/** The queue (see the module comment). */
export class DeliveryQueue<T> {
  readonly counters: QueueCounters = { accepted: 0, delivered: 0, failedAttempts: 0, dropped: { queue_full: 0, attempts: 0, rejected: 0, shutdown: 0 } };
  private readonly ready: Array<Entry<T>> = [];
  private readyHead = 0;
  private readonly retrying = new Set<Entry<T>>();
  private readonly inFlight = new Set<Entry<T>>();
  private readonly abort = new AbortController();
  private readonly concurrency: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private closed = false;
  private pumpScheduled = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly o: QueueOptions<T>) {
    this.concurrency = o.concurrency ?? 4;
    this.baseMs = o.backoffBaseMs ?? 1000;
    this.maxMs = o.backoffMaxMs ?? 60_000;
  }

  /** Items held: waiting, in flight and waiting for a retry. */
  get length(): number {
    return this.ready.length - this.readyHead + this.retrying.size + this.inFlight.size;
  }

  /**
   * Queue an item for delivery (returns at once).
   * @returns false when it was dropped (queue full, or closed).
   */
  push(item: T): boolean {
    if (this.closed) return this.drop({ item, attempts: 0 }, 'shutdown');
    if (this.length >= this.o.capacity) return this.drop({ item, attempts: 0 }, 'queue_full');
    this.counters.accepted++;
    this.ready.push({ item, attempts: 0 });
    this.schedulePump();
    return true;
  }

  /**
   * Stop accepting; wait up to `graceMs` for what is held to be delivered (retries keep their
   * backoff), then abort what is in flight and drop the rest (`shutdown`). Never rejects.
   */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    if (this.length > 0 && graceMs > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        t.unref();
        this.idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.abort.abort();
    for (const e of this.retrying) {
      clearTimeout(e.timer);
      this.drop(e, 'shutdown');
    }
    this.retrying.clear();
    for (let i = this.readyHead; i < this.ready.length; i++) this.drop(this.ready[i]!, 'shutdown');
    this.ready.length = 0;
    this.readyHead = 0;
  }

  private drop(e: Entry<T>, reason: DropReason): false {
    this.counters.dropped[reason]++;
    try {
      this.o.onDrop?.(e.item, reason);
    } catch {
      // A logging problem must not break delivery.
    }
    return false;
  }

  private takeReady(): Entry<T> | undefined {
    if (this.readyHead >= this.ready.length) return undefined;
    const e = this.ready[this.readyHead++]!;
    // Compact now and then so the array does not grow without bound.
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready.splice(0, this.readyHead);
      this.readyHead = 0;
    }
    return e;
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight.size < this.concurrency && !this.abort.signal.aborted) {
      const e = this.takeReady();
      if (!e) break;
      this.inFlight.add(e);
      void this.attempt(e);
    }
    if (this.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async attempt(e: Entry<T>): Promise<void> {
    e.attempts++;
    let outcome: SendOutcome;
    try {
      outcome = await this.o.send(e.item, e.attempts, this.abort.signal);
    } catch {
      outcome = 'retry';
    }
    this.inFlight.delete(e);
    if (outcome === 'delivered') {
      this.counters.delivered++;
    } else {
      this.counters.failedAttempts++;
      if (this.abort.signal.aborted) this.drop(e, 'shutdown');
      else if (outcome === 'rejected') this.drop(e, 'rejected');
      else if (e.attempts >= this.o.maxAttempts) this.drop(e, 'attempts');
      else this.scheduleRetry(e);
    }
    this.pump();
  }

  private scheduleRetry(e: Entry<T>): void {
    this.retrying.add(e);
    e.timer = setTimeout(() => {
      this.retrying.delete(e);
      e.timer = undefined;
      this.ready.push(e);
      this.pump();
    }, backoffDelay(e.attempts, this.baseMs, this.maxMs, this.o.random));
    // Pending retries do not keep the process alive.
    e.timer.unref();
  }
}
