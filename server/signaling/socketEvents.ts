/**
 * How the signaling server handles the events of one Socket.IO connection: the arguments of an
 * event (payload arguments and an optional trailing acknowledgement callback), the per-socket
 * state, and the rule that a socket's events are handled one after the other even when a seat
 * store call is asynchronous (Redis), without costing anything when it is not (in-process).
 */
import type { Ack } from '../../contracts/signaling.js';
import type { TokenBucket } from '../../common/tokenBucket.js';

/** An acknowledgement callback passed as the last argument of an event. */
export type AckFn = (res: Ack) => void;

/** Per-socket state, kept in `socket.data` (one small object; listeners are shared, not per socket). */
export interface SocketState {
  /** Rate limit of this socket's events. */
  bucket: TokenBucket;
  /** The store call this socket's next event must wait for, if any. */
  pending: Promise<void> | undefined;
  /** The client's address (behind a trusted proxy: from X-Forwarded-For), key of the join rate limit. */
  address: string;
  /** What names this socket's seat in TURN REST usernames: its session token, else its socket id (set on join). */
  seatKey?: string;
}

/** Handles one event; returns a promise only when it had to wait for the seat store. */
export type EventHandler<S> = (socket: S, args: unknown[]) => void | Promise<void>;

/** The trailing acknowledgement callback of an event, if any. */
export function ackOf(args: unknown[]): AckFn | undefined {
  const last = args[args.length - 1];
  return typeof last === 'function' ? (last as AckFn) : undefined;
}

/** Payload argument `i` of an event (the trailing ack is not a payload argument). */
export function param(args: unknown[], i: number): unknown {
  const n = typeof args[args.length - 1] === 'function' ? args.length - 1 : args.length;
  return i < n ? args[i] : undefined;
}

/** Call an acknowledgement; never throws. */
export function safeAck(ack: AckFn, res: Ack): void {
  try {
    ack(res);
  } catch {
    // An ack to a disconnected socket is dropped by Socket.IO; nothing else can throw here.
  }
}

/**
 * Runs each socket's event handlers in order. A handler that returns a promise (a store round
 * trip) makes the socket's later events wait for it; otherwise everything is synchronous and
 * allocates nothing.
 */
export class EventRunner<S extends { data: SocketState }> {
  /** Handlers still waiting for the store (bounded wait in {@link settle}). */
  private readonly inFlight = new Set<Promise<void>>();

  /** @param onError  called with any exception or rejection of a handler. */
  constructor(private readonly onError: (socket: S, event: string, args: unknown[], err: unknown) => void) {}

  /** Handle `event` of `socket` now, or after its pending store call. */
  run(socket: S, event: string, handler: EventHandler<S>, args: unknown[]): void {
    const state = socket.data;
    let result: void | Promise<void>;
    if (state.pending === undefined) {
      try {
        result = handler(socket, args);
      } catch (err) {
        return this.onError(socket, event, args, err);
      }
      if (result === undefined) return;
    } else {
      result = state.pending.then(() => handler(socket, args));
    }
    const done = () => {
      if (state.pending === p) state.pending = undefined;
      this.inFlight.delete(p);
    };
    const p: Promise<void> = result.then(done, (err: unknown) => {
      this.onError(socket, event, args, err);
      done();
    });
    state.pending = p;
    this.inFlight.add(p);
  }

  /** Wait until no handler waits for the store, at most `timeoutMs` ms. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, 100))]);
    }
  }
}
