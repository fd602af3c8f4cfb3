/**
 * TURN over TCP and TLS (RFC 8656 §3.1, RFC 8489 §6.2.2): listeners and client connections. Each
 * connection splits its byte stream with `StreamFramer` (`stun/streamFramer.ts`); garbage closes it.
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Allocation } from '../allocation/allocation.js';
import { normalizeAddress, type TransportAddress } from '../stun/address.js';
import type { ClientConnection } from './connection.js';
import { StreamFramer } from '../stun/streamFramer.js';

/** Callbacks from stream connections to the server. Implementations must not throw. */
export interface StreamHandlers {
  onFrame(conn: StreamConnection, frame: Buffer): void;
  onClose(conn: StreamConnection): void;
  onGarbage(conn: StreamConnection, err: Error): void;
  onOpen(conn: StreamConnection): void;
  onBackpressureDrop(conn: StreamConnection): void;
}

/** One TCP or TLS client connection. */
export class StreamConnection implements ClientConnection {
  readonly stream = true;
  readonly local: TransportAddress;
  readonly remote: TransportAddress;
  readonly label: string;
  private allocation: Allocation | undefined;
  private readonly framer = new StreamFramer();
  open = true;

  constructor(
    readonly transport: 'tcp' | 'tls',
    readonly socket: Socket | TLSSocket,
    private readonly handlers: StreamHandlers,
    private readonly maxBuffered: number,
    private readonly idleTimeoutMs: number,
  ) {
    const l = normalizeAddress(socket.localAddress ?? '0.0.0.0');
    const r = normalizeAddress(socket.remoteAddress ?? '0.0.0.0');
    this.local = { family: l.family, address: l.address, port: socket.localPort ?? 0 };
    this.remote = { family: r.family, address: r.address, port: socket.remotePort ?? 0 };
    this.label = `${transport} ${this.remote.address}:${this.remote.port}->${this.local.address}:${this.local.port}`;
    socket.setNoDelay(true);
    socket.setTimeout(idleTimeoutMs);
    socket.on('timeout', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      if (!this.open) return;
      try {
        this.framer.push(chunk, (frame) => handlers.onFrame(this, frame));
      } catch (err) {
        handlers.onGarbage(this, err as Error);
        this.close();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (!this.open) return;
      this.open = false;
      handlers.onClose(this);
    });
  }

  /**
   * Write to the client unless the connection is closed or too much is already queued (then drop
   * and count). Over TLS, messages are written one at a time (the next after the previous write
   * completed) so that each STUN/ChannelData message gets its own TLS record: Node would otherwise
   * merge queued writes into one record, and some clients (coturn's turnutils_uclient) read only
   * the first message of a record.
   */
  send(buf: Buffer): void {
    if (!this.open || this.socket.destroyed) return;
    if (this.socket.writableLength + this.queuedBytes > this.maxBuffered) {
      this.handlers.onBackpressureDrop(this);
      return;
    }
    if (this.transport === 'tcp') {
      this.socket.write(buf);
      return;
    }
    if (this.writing) {
      this.queue.push(buf);
      this.queuedBytes += buf.length;
      return;
    }
    this.writing = true;
    this.socket.write(buf, this.onWritten);
  }

  private writing = false;
  private queue: Buffer[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private readonly onWritten = (err?: Error | null) => {
    if (err || !this.open || this.socket.destroyed) {
      this.queue = [];
      this.queueHead = 0;
      this.queuedBytes = 0;
      this.writing = false;
      return;
    }
    if (this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead++]!;
      this.queuedBytes -= next.length;
      if (this.queueHead > 1024) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      this.socket.write(next, this.onWritten);
    } else {
      this.queue.length = 0;
      this.queueHead = 0;
      this.writing = false;
    }
  };

  getAllocation(): Allocation | undefined {
    return this.allocation;
  }

  /** Attach/detach the allocation; the idle timeout applies only while there is none. */
  setAllocation(allocation: Allocation | undefined): void {
    this.allocation = allocation;
    this.socket.setTimeout(allocation ? 0 : this.idleTimeoutMs);
  }

  /** Close the connection (the server ends its allocation via `onClose`). */
  close(): void {
    this.socket.destroy();
  }
}

/** A TCP or TLS listening server producing {@link StreamConnection}s. */
export class StreamListener {
  readonly server: Server;
  readonly connections = new Set<StreamConnection>();
  port = 0;

  /**
   * @param transport  'tcp' or 'tls' (then `tls` material is required).
   * @param tls        PEM cert and key.
   */
  constructor(
    readonly transport: 'tcp' | 'tls',
    private readonly address: string,
    private readonly requestedPort: number,
    handlers: StreamHandlers,
    opts: { maxConnections: number; maxBuffered: number; idleTimeoutMs: number; tls?: { cert: string | Buffer; key: string | Buffer } },
  ) {
    const onSocket = (socket: Socket | TLSSocket) => {
      const conn = new StreamConnection(transport, socket, { ...handlers, onClose: (c) => {
        this.connections.delete(c);
        handlers.onClose(c);
      } }, opts.maxBuffered, opts.idleTimeoutMs);
      this.connections.add(conn);
      handlers.onOpen(conn);
    };
    if (transport === 'tls') {
      if (!opts.tls) throw new Error('TLS listener needs cert and key');
      this.server = createTlsServer({ cert: opts.tls.cert, key: opts.tls.key, handshakeTimeout: 10_000 }, onSocket);
      this.server.on('tlsClientError', (_err, socket) => socket.destroy());
    } else {
      this.server = createTcpServer(onSocket);
    }
    this.server.maxConnections = opts.maxConnections;
    this.server.on('error', () => {});
  }

  /**
   * Replace the certificate chain and key of a TLS listener (a renewed certificate): new
   * handshakes use them, established connections and their allocations are untouched.
   * @throws Error on a TCP listener, or when the pair is unusable (e.g. the key does not match);
   *         the previous pair then stays in use.
   */
  setTls(tls: { cert: string | Buffer; key: string | Buffer }): void {
    if (this.transport !== 'tls') throw new Error('not a TLS listener');
    (this.server as TlsServer).setSecureContext({ cert: tls.cert, key: tls.key });
  }

  /** Start listening. @throws the listen error. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.address, port: this.requestedPort, exclusive: true }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Stop listening and destroy every connection. */
  close(): Promise<void> {
    for (const c of this.connections) c.close();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
