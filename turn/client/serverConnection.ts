/**
 * The client's connection to a STUN/TURN server (the client side of one five-tuple): a UDP socket,
 * a TCP connection or a TLS connection, delivering whole STUN messages and ChannelData messages
 * (stream framing per RFC 8656 §3.1 / RFC 8489 §6.2.2 and §12.5, with the relay's `StreamFramer`).
 * The relay's view of the same five-tuple is `ClientConnection` (turn/transport/connection.ts).
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { connect as netConnect, isIP, type Socket as NetSocket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TransportAddress, TurnTransport } from '../../contracts/relay.js';
import { normalizeAddress } from '../stun/address.js';
import { FramingError, StreamFramer } from '../stun/streamFramer.js';

/** Where and how to connect. */
export interface ServerConnectionOptions {
  transport: TurnTransport;
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

/** An open connection to the server. */
export interface ServerConnection {
  readonly transport: TurnTransport;
  /** Whether stream framing applies (TCP/TLS: ChannelData must be padded). */
  readonly stream: boolean;
  /** Server address actually used (after DNS). */
  readonly server: TransportAddress;
  /** Local address of the socket. */
  readonly local: TransportAddress;
  /**
   * Send bytes as they are: one STUN or ChannelData message (already padded when `stream`), or, on
   * a stream, any slice of the byte stream. Errors are counted in `sendErrors`.
   */
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
 * Open a connection to a STUN/TURN server.
 * @throws Error on DNS failure, bind failure, TCP/TLS connect failure or timeout.
 */
export async function openServerConnection(opts: ServerConnectionOptions): Promise<ServerConnection> {
  const server: TransportAddress = { ...(await resolveHost(opts.host)), port: opts.port };
  return opts.transport === 'udp' ? openUdp(opts, server) : openStream(opts, server);
}

function noop(): void {}

function localAddressOf(address: string | undefined, port: number | undefined): TransportAddress {
  const n = normalizeAddress(address ?? '0.0.0.0');
  return { family: n.family, address: n.address, port: port ?? 0 };
}

async function openUdp(opts: ServerConnectionOptions, server: TransportAddress): Promise<ServerConnection> {
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
  const bound = sock.address();
  const c: ServerConnection = {
    transport: 'udp',
    stream: false,
    server,
    local: localAddressOf(bound.address, bound.port),
    counters: { sendErrors: 0, foreignDatagrams: 0, framingErrors: 0 },
    onMessage: noop,
    onClose: noop,
    send(buf) {
      if (closed) return;
      sock.send(buf, server.port, server.address, (err) => {
        if (err) c.counters.sendErrors++;
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
      c.counters.foreignDatagrams++;
      return;
    }
    c.onMessage(msg);
  });
  // Errors after bind (e.g. ICMP-triggered) are counted, never fatal.
  sock.on('error', () => c.counters.sendErrors++);
  return c;
}

async function openStream(opts: ServerConnectionOptions, server: TransportAddress): Promise<ServerConnection> {
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
  const c: ServerConnection = {
    transport: opts.transport,
    stream: true,
    server,
    local: localAddressOf(sock.localAddress, sock.localPort),
    counters: { sendErrors: 0, foreignDatagrams: 0, framingErrors: 0 },
    onMessage: noop,
    onClose: noop,
    send(buf) {
      if (closed) return;
      sock.write(buf, (err) => {
        if (err) c.counters.sendErrors++;
      });
    },
    close() {
      if (closed) return;
      closed = true;
      sock.end();
      sock.destroySoon();
      // A server that never closes its side: give up after 1 s (the timer goes with the socket).
      const t = setTimeout(() => sock.destroy(), 1000).unref();
      sock.once('close', () => clearTimeout(t));
    },
  };
  sock.on('data', (chunk: Buffer) => {
    try {
      framer.push(chunk, (m) => c.onMessage(m));
    } catch (err) {
      if (!(err instanceof FramingError)) throw err;
      c.counters.framingErrors++;
      sock.destroy(new Error(`server sent bytes that are neither STUN nor ChannelData: ${err.message}`));
    }
  });
  let reported = false;
  const report = (err?: Error) => {
    if (reported) return;
    reported = true;
    closed = true;
    c.onClose(err);
  };
  sock.on('error', (err) => report(err));
  sock.on('close', () => report());
  return c;
}
