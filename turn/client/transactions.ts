/**
 * STUN transactions on one {@link ServerConnection}: responses are matched to requests by
 * transaction id, with the RFC 8489 §6.2.1 retransmission schedule over UDP (RTO doubling, Rc
 * transmissions, last wait Rm × RTO) and a single send plus timeout over TCP/TLS (§6.2.2).
 */
import { performance } from 'node:perf_hooks';
import { looksLikeChannelData } from '../stun/channelData.js';
import { StunClass, decodeMessage, type StunMessage } from '../stun/message.js';
import type { ServerConnection } from './serverConnection.js';

function noop(): void {}

/** Retransmission settings (RFC 8489 §6.2.1). */
export interface RetransmitOptions {
  /** Initial RTO, ms (default 500). */
  rtoMs?: number;
  /** Rc: total transmissions over UDP (default 7). */
  maxTransmissions?: number;
  /** Rm: the last wait is Rm × RTO (default 16). */
  lastWaitFactor?: number;
  /** Hard cap on one transaction, ms (default 39 500, the RFC total with the defaults). Over TCP/TLS: the whole timeout (Ti). */
  timeoutMs?: number;
}

/** Thrown when a transaction gets no response in time. */
export class TransactionTimeoutError extends Error {
  constructor(
    message: string,
    /** How many times the request was sent. */
    readonly transmissions: number,
  ) {
    super(message);
    this.name = 'TransactionTimeoutError';
  }
}

/** A completed transaction. */
export interface TransactionResult {
  /** The response (success or error class). */
  response: StunMessage;
  /** Round-trip time from the first transmission to the response, ms. */
  rttMs: number;
  /** Number of transmissions (1 = no retransmission). */
  transmissions: number;
}

interface Pending {
  resolve: (r: TransactionResult) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
  start: number;
  transmissions: number;
}

/**
 * Matches responses to requests by transaction id over one {@link ServerConnection}; retransmits
 * over UDP per RFC 8489 §6.2.1. Messages that are not responses to a pending request are handed
 * to `onOther` (indications, ChannelData, late duplicates).
 */
export class StunTransactions {
  private readonly pending = new Map<string, Pending>();
  /** Responses that matched no pending transaction (late retransmission answers), and undecodable messages. */
  readonly counters = { unmatched: 0, undecodable: 0 };

  constructor(
    private readonly connection: ServerConnection,
    private readonly onOther: (buf: Buffer, msg?: StunMessage) => void = noop,
    private readonly retransmit: RetransmitOptions = {},
  ) {
    connection.onMessage = (buf) => this.handle(buf);
    connection.onClose = (err) => {
      this.closedError = err ?? new Error('connection closed by the server');
      this.failAll(this.closedError);
    };
  }

  /** Set once a stream transport has closed; later requests fail at once with it. */
  closedError: Error | undefined;

  private handle(buf: Buffer): void {
    if (looksLikeChannelData(buf)) {
      this.onOther(buf);
      return;
    }
    let msg: StunMessage;
    try {
      msg = decodeMessage(buf);
    } catch {
      this.counters.undecodable++;
      return;
    }
    if (msg.cls === StunClass.SuccessResponse || msg.cls === StunClass.ErrorResponse) {
      const key = msg.transactionId.toString('hex');
      const p = this.pending.get(key);
      if (!p) {
        this.counters.unmatched++;
        return;
      }
      this.pending.delete(key);
      if (p.timer) clearTimeout(p.timer);
      p.resolve({ response: msg, rttMs: performance.now() - p.start, transmissions: p.transmissions });
      return;
    }
    this.onOther(buf, msg);
  }

  /**
   * Send an encoded request and wait for its response.
   * @param request        the encoded request (its bytes 8..20 are the transaction id).
   * @param timeoutMs      overrides `RetransmitOptions.timeoutMs` for this transaction, ms.
   * @returns the response with RTT (from the first transmission) and transmission count.
   * @throws TransactionTimeoutError after the schedule (UDP) or `timeoutMs` (TCP/TLS); Error when the stream closes.
   */
  request(request: Buffer, timeoutMs?: number): Promise<TransactionResult> {
    const key = request.subarray(8, 20).toString('hex');
    const rto0 = this.retransmit.rtoMs ?? 500;
    const rc = this.retransmit.maxTransmissions ?? 7;
    const rm = this.retransmit.lastWaitFactor ?? 16;
    const cap = timeoutMs ?? this.retransmit.timeoutMs ?? 39_500;
    return new Promise<TransactionResult>((resolve, reject) => {
      if (this.closedError) return reject(this.closedError);
      const p: Pending = { resolve, reject, start: performance.now(), transmissions: 0 };
      this.pending.set(key, p);
      const giveUp = () => {
        this.pending.delete(key);
        reject(new TransactionTimeoutError(`no response after ${p.transmissions} transmission(s) in ${Math.round(performance.now() - p.start)} ms`, p.transmissions));
      };
      if (this.connection.stream) {
        p.transmissions = 1;
        this.connection.send(request);
        p.timer = setTimeout(giveUp, cap);
        return;
      }
      let rto = rto0;
      const transmit = () => {
        const elapsed = performance.now() - p.start;
        if (elapsed >= cap) return giveUp();
        p.transmissions++;
        this.connection.send(request);
        const wait = p.transmissions >= rc ? rm * rto0 : rto;
        rto *= 2;
        const remaining = cap - elapsed;
        p.timer = setTimeout(p.transmissions >= rc || wait >= remaining ? giveUp : transmit, Math.min(wait, remaining));
      };
      transmit();
    });
  }

  /** Reject every pending transaction (e.g. on shutdown). */
  failAll(err: Error): void {
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  /** Number of transactions still waiting. */
  get inFlight(): number {
    return this.pending.size;
  }
}
