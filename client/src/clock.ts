/**
 * Time and timers as a value, so the logic modules (recovery, ICE-server freshness) run on fake
 * timers in unit tests.
 */

/** Opaque timer handle of a {@link Clock}. */
export type TimerHandle = ReturnType<typeof setTimeout>;

/** Time source and one-shot timers (ms). */
export interface Clock {
  /** Milliseconds since the epoch (like `Date.now()`). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** `Date.now` and the global timers, looked up at each call (so test fake timers apply). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};
