/**
 * A webhook receiver for tests on 127.0.0.1: records every request (headers, exact body bytes,
 * parsed JSON) and answers 204 — or never answers (`hang`), to play a stuck receiver. Signatures
 * are checked here independently of the server's signer, as README.md tells receivers to.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { WebhookEvent, WebhookEventType } from '../../contracts/webhooks.js';

export interface ReceivedHook {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  event: WebhookEvent;
}

export class WebhookReceiver {
  readonly received: ReceivedHook[] = [];
  /** Connections accepted (also the ones left hanging). */
  connections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Start on a free port; `hang`: read requests but never answer; with `tls`: https. */
  static async start(mode: 'ok' | 'hang' = 'ok', tls?: { cert: string; key: string }): Promise<WebhookReceiver> {
    let self: WebhookReceiver | undefined;
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        self!.received.push({ headers: req.headers, raw, event: JSON.parse(raw.toString('utf8')) as WebhookEvent });
        if (mode === 'ok') res.writeHead(204).end();
      });
    };
    const server: Server = tls ? createHttpsServer(tls, handler) : createServer(handler);
    server.on('connection', (s: Socket) => {
      self!.connections++;
      self!.sockets.add(s);
      s.on('close', () => self!.sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    self = new WebhookReceiver(server, `${tls ? 'https' : 'http'}://127.0.0.1:${port}/hooks`);
    return self;
  }

  /** Events of `type` received so far. */
  events<T extends WebhookEventType>(type: T): Array<WebhookEvent<T>> {
    return this.received.filter((r) => r.event.type === type).map((r) => r.event as WebhookEvent<T>);
  }

  /** Wait until `cond` holds (polling), or throw after `timeoutMs`. */
  async waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`webhook receiver: ${what} not received in ${timeoutMs} ms; got ${this.received.map((r) => r.event.type).join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** The check a receiver does: `sha256=` + HMAC-SHA256(secret, exact body), compared in constant time. */
export function signatureValid(secret: string, raw: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = createHmac('sha256', secret).update(raw).digest();
  const got = Buffer.from(header.slice('sha256='.length), 'hex');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
