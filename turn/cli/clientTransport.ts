/**
 * Client side of the STUN/TURN transports for the CLIs (`stunclient`, `uclient`), on top of the
 * relay's codec in `turn/stun/`:
 *
 * - {@link openClientTransport}: a UDP socket, a TCP connection or a TLS connection to the server;
 *   delivers whole STUN messages and ChannelData messages (stream framing per RFC 8656 §3.1 /
 *   RFC 8489 §6.2.2 and §12.5, with the relay's own `StreamFramer`).
 * - {@link StunTransactions}: request/response matching by transaction id with the RFC 8489 §6.2.1
 *   retransmission schedule over UDP (RTO doubling, Rc transmissions, last wait Rm × RTO), and a
 *   single send plus timeout over TCP/TLS (§6.2.2).
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect as netConnect, isIP, type Socket as NetSocket } from 'node:net';
import { lookup } from 'node:dns/promises';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { FramingError, StreamFramer } from '../transport/stream.js';
import { StunClass, decodeMessage, looksLikeChannelData, type StunMessage } from '../stun/index.js';

/** Transport between client and server. */
export type ClientTransportKind = 'udp' | 'tcp' | 'tls';

/** Where and how to connect. */
export interface ClientTransportOptions {
  transport: ClientTransportKind;
  /** Server host name or IP literal (resolved once with `dns.lookup`). */
  host: string;
  /** Server port. */
  port: number;
  /** Local address to bind (UDP) / connect from (TCP/TLS); default any. */
  localAddress?: string;
  /** TLS: PEM file of trusted CAs; when absent the server certificate is NOT verified (test relays are self-signed). */
  caFile?: string;
  /** TLS: SNI / name to verify (default `host` unless it is an IP literal). */
  servername?: string;
  /** TCP/TLS connect timeout, ms (default 5000). */
  connectTimeoutMs?: number;
}

/** An open client transport. */
export interface ClientTransport {
  readonly kind: ClientTransportKind;
  /** Whether stream framing applies (TCP/TLS: ChannelData must be padded). */
  readonly stream: boolean;
  /** Server address actually used (after DNS). */
  readonly server: { address: string; family: 4 | 6; port: number };
  /** Local address of the socket. */
  readonly local: { address: string; port: number };
  /** Send one STUN message or ChannelData message (already padded when `stream`). Errors are counted in `sendErrors`. */
  send(buf: Buffer): void;
  /** Called with every complete message from the server (STUN or ChannelData). Datagrams from other sources are dropped and counted. */
  onMessage: (buf: Buffer) => void;
  /** Called once when a stream closes or the socket fails. */
  onClose: (err?: Error) => void;
  /** Counters. */
  readonly counters: { sendErrors: number; foreignDatagrams: number; framingErrors: number };
  /** Close (idempotent). */
  close(): void;
}

/**
 * Resolve a host to one address.
 * @throws Error with a one-line message when the name does not resolve.
 */
export async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const family = isIP(host);
  if (family !== 0) return { address: host, family: family as 4 | 6 };
  try {
    const r = await lookup(host);
    return { address: r.address, family: r.family === 6 ? 6 : 4 };
  } catch (err) {
    throw new Error(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Open a client transport.
 * @throws Error on DNS failure, bind failure, TCP/TLS connect failure or timeout.
 */
export async function openClientTransport(opts: ClientTransportOptions): Promise<ClientTransport> {
  const server = { ...(await resolveHost(opts.host)), port: opts.port };
  return opts.transport === 'udp' ? openUdp(opts, server) : openStream(opts, server);
}

function noop(): void {}

async function openUdp(opts: ClientTransportOptions, server: ClientTransport['server']): Promise<ClientTransport> {
  // 1 MiB buffers (capped by net.core.rmem_max/wmem_max) absorb echo bursts under load.
  const sock: Socket = createSocket({ type: server.family === 6 ? 'udp6' : 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, opts.localAddress, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  let closed = false;
  const t: ClientTransport = {
    kind: 'udp',
    stream: false,
    server,
    local: sock.address(),
    counters: { sendErrors: 0, foreignDatagrams: 0, framingErrors: 0 },
    onMessage: noop,
    onClose: noop,
    send(buf) {
      if (closed) return;
      sock.send(buf, server.port, server.address, (err) => {
        if (err) t.counters.sendErrors++;
      });
    },
    close() {
      if (closed) return;
      closed = true;
      sock.close();
    },
  };
  sock.on('message', (msg, rinfo) => {
    // Only the server's transport address (IPv4-mapped forms normalised).
    const from = rinfo.address.startsWith('::ffff:') ? rinfo.address.slice(7) : rinfo.address;
    if (rinfo.port !== server.port || from !== server.address) {
      t.counters.foreignDatagrams++;
      return;
    }
    t.onMessage(msg);
  });
  // Errors after bind (e.g. ICMP-triggered) are counted, never fatal.
  sock.on('error', () => t.counters.sendErrors++);
  return t;
}

async function openStream(opts: ClientTransportOptions, server: ClientTransport['server']): Promise<ClientTransport> {
  const timeoutMs = opts.connectTimeoutMs ?? 5000;
  const sock: NetSocket = await new Promise<NetSocket>((resolve, reject) => {
    const common = { host: server.address, port: server.port, localAddress: opts.localAddress };
    const s =
      opts.transport === 'tls'
        ? tlsConnect({
            ...common,
            servername: opts.servername ?? (isIP(opts.host) === 0 ? opts.host : undefined),
            rejectUnauthorized: opts.caFile !== undefined,
            ca: opts.caFile !== undefined ? readFileSync(opts.caFile) : undefined,
          })
        : netConnect(common);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`${opts.transport} connect to ${server.address}:${server.port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${opts.transport} connect to ${server.address}:${server.port} failed: ${err.message}`));
    });
    s.once(opts.transport === 'tls' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
  });
  sock.setNoDelay(true);
  const framer = new StreamFramer();
  let closed = false;
  const t: ClientTransport = {
    kind: opts.transport,
    stream: true,
    server,
    local: { address: sock.localAddress ?? '', port: sock.localPort ?? 0 },
    counters: { sendErrors: 0, foreignDatagrams: 0, framingErrors: 0 },
    onMessage: noop,
    onClose: noop,
    send(buf) {
      if (closed) return;
      sock.write(buf, (err) => {
        if (err) t.counters.sendErrors++;
      });
    },
    close() {
      if (closed) return;
      closed = true;
      sock.end();
      sock.destroySoon();
      setTimeout(() => sock.destroy(), 1000).unref();
    },
  };
  sock.on('data', (chunk: Buffer) => {
    try {
      framer.push(chunk, (m) => t.onMessage(m));
    } catch (err) {
      if (!(err instanceof FramingError)) throw err;
      t.counters.framingErrors++;
      sock.destroy(new Error(`server sent bytes that are neither STUN nor ChannelData: ${err.message}`));
    }
  });
  let reported = false;
  const report = (err?: Error) => {
    if (reported) return;
    reported = true;
    closed = true;
    t.onClose(err);
  };
  sock.on('error', (err) => report(err));
  sock.on('close', () => report());
  return t;
}

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
 * Matches responses to requests by transaction id over one {@link ClientTransport}; retransmits
 * over UDP per RFC 8489 §6.2.1. Messages that are not responses to a pending request are handed
 * to `onOther` (indications, ChannelData, late duplicates).
 */
export class StunTransactions {
  private readonly pending = new Map<string, Pending>();
  /** Responses that matched no pending transaction (late retransmission answers), and undecodable messages. */
  readonly counters = { unmatched: 0, undecodable: 0 };

  constructor(
    private readonly transport: ClientTransport,
    private readonly onOther: (buf: Buffer, msg?: StunMessage) => void = noop,
    private readonly retransmit: RetransmitOptions = {},
  ) {
    transport.onMessage = (buf) => this.handle(buf);
    transport.onClose = (err) => {
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
      if (this.transport.stream) {
        p.transmissions = 1;
        this.transport.send(request);
        p.timer = setTimeout(giveUp, cap);
        return;
      }
      let rto = rto0;
      const transmit = () => {
        const elapsed = performance.now() - p.start;
        if (elapsed >= cap) return giveUp();
        p.transmissions++;
        this.transport.send(request);
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
