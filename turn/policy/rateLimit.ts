/**
 * Token-bucket limit on unauthenticated requests per source IP (issue 4 hardening): requests
 * without valid credentials (the 401 round trip) and Binding requests cost one token; when a
 * source's bucket is empty the request is dropped and counted. Memory is bounded: at most
 * `maxSources` buckets; when full, the least recently created bucket is evicted.
 */

interface Bucket {
  tokens: number;
  /** Last refill time, ms. */
  at: number;
}

/** Per-source token buckets. */
export class SourceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * @param burst       bucket size (tokens), > 0.
   * @param perSecond   refill rate, tokens per second.
   * @param maxSources  most sources tracked at once.
   */
  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly maxSources = 50_000,
  ) {}

  /**
   * Take one token for `source`.
   * @returns true when allowed, false when the source is over its rate.
   */
  take(source: string, nowMs = Date.now()): boolean {
    let b = this.buckets.get(source);
    if (!b) {
      if (this.buckets.size >= this.maxSources) {
        const oldest = this.buckets.keys().next();
        if (!oldest.done) this.buckets.delete(oldest.value);
      }
      b = { tokens: this.burst, at: nowMs };
      this.buckets.set(source, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.at) / 1000) * this.perSecond);
      b.at = nowMs;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Forget buckets that have refilled completely (called from the periodic sweep). */
  sweep(nowMs = Date.now()): void {
    for (const [k, b] of this.buckets) if (b.tokens + ((nowMs - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(k);
  }

  /** Number of tracked sources. */
  get size(): number {
    return this.buckets.size;
  }
}
