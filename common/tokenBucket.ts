/**
 * Token buckets: the one rate-limit rule used by signaling (per socket) and the relay (per source IP).
 * A bucket holds at most `burst` tokens and refills at `perSecond` tokens per second; each event
 * takes one token (or its cost, e.g. bytes for the relay's bandwidth limit) and is refused when
 * fewer are left.
 */

/** One token bucket. Times are ms (any monotonic-enough clock; `Date.now()` by default). */
export class TokenBucket {
  private tokens: number;
  private at: number;

  /**
   * @param burst      bucket size (tokens), > 0.
   * @param perSecond  refill rate, tokens per second, >= 0.
   * @param nowMs      start time, ms.
   */
  constructor(
    readonly burst: number,
    readonly perSecond: number,
    nowMs = Date.now(),
  ) {
    this.tokens = burst;
    this.at = nowMs;
  }

  /**
   * Take `cost` tokens (one event, or e.g. a datagram's bytes when the bucket counts bytes).
   * @returns true when allowed, false when over the rate (then nothing is taken).
   */
  take(nowMs = Date.now(), cost = 1): boolean {
    this.refill(nowMs);
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** True when the bucket would be full at `nowMs` (nothing to remember about this source). */
  isFull(nowMs = Date.now()): boolean {
    return this.tokens + ((nowMs - this.at) / 1000) * this.perSecond >= this.burst;
  }

  private refill(nowMs: number): void {
    if (nowMs > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.at) / 1000) * this.perSecond);
      this.at = nowMs;
    }
  }
}

/**
 * A token bucket per key (e.g. per source IP). Memory is bounded: at most `maxKeys` buckets; when
 * full, the least recently created one is evicted. Call {@link sweep} periodically to forget keys
 * whose bucket has refilled.
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  /**
   * @param burst     bucket size (tokens), > 0.
   * @param perSecond refill rate, tokens per second.
   * @param maxKeys   most keys tracked at once.
   */
  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly maxKeys = 50_000,
  ) {}

  /** Take one token for `key`. @returns true when allowed, false when `key` is over its rate. */
  take(key: string, nowMs = Date.now()): boolean {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next();
        if (!oldest.done) this.buckets.delete(oldest.value);
      }
      b = new TokenBucket(this.burst, this.perSecond, nowMs);
      this.buckets.set(key, b);
    }
    return b.take(nowMs);
  }

  /** Forget buckets that have refilled completely. */
  sweep(nowMs = Date.now()): void {
    for (const [k, b] of this.buckets) if (b.isFull(nowMs)) this.buckets.delete(k);
  }

  /** Number of tracked keys. */
  get size(): number {
    return this.buckets.size;
  }
}
