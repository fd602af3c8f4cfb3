/**
 * The shape of a STUN/TURN method handler, one per file in this folder, mapped by method in
 * `registry.ts`.
 */
import type { RequestContext } from './context.js';

/** Handles one request method. */
export interface RequestHandler {
  /** STUN method code (`StunMethod.*`). */
  readonly method: number;
  /**
   * Whether the dispatcher first runs the long-term credential check (RFC 8489 §9.2.4) and the
   * unknown comprehension-required attribute check (420), and answers a malformed attribute with a
   * signed 400. Unauthenticated handlers (Binding) do their own checks.
   */
  readonly authenticated: boolean;
  /**
   * Answer the request through `ctx`. May be async (Allocate binds a socket); the dispatcher
   * tracks the promise. Throws `AttributeError` for a malformed attribute value (answered 400).
   */
  handle(ctx: RequestContext): void | Promise<void>;
}

/** Handles one indication method; indications are never answered (drops are counted). */
export interface IndicationHandler {
  readonly method: number;
  handle(ctx: RequestContext): void;
}
