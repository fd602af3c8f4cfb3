/**
 * One webhook request: POST a body to the receiver with Node's http/https client over a keep-alive
 * agent, with a time limit for the whole exchange, and classify the answer for the queue: 2xx
 * delivered; 408, 429 and 5xx (and network errors and timeouts) worth a retry; anything else
 * (other 4xx, redirects, which are not followed) refused by the receiver.
 *
 * Trust for an https:// receiver: the system's CAs (Node's bundled ones plus NODE_EXTRA_CA_CERTS),
 * plus the certificates of WEBHOOK_CA when set (then passed as the request's `ca`, which replaces
 * the default list, so the default list is added to it).
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { SendOutcome } from './queue.js';

/** Options of {@link createHttpPoster}. */
export interface HttpPosterOptions {
  url: string;
  /** Whole request (connect, send, response headers), ms. */
  timeoutMs: number;
  /** Sockets at most (the queue's concurrency). */
  maxSockets: number;
  /** PEM text of extra CA certificates for https (WEBHOOK_CA's contents), added to the system's. */
  caPem?: string;
}

/** The result of one POST: the outcome for the queue and, for the log, the status or error. */
export interface PostResult {
  outcome: SendOutcome;
  /** HTTP status, when there was an answer. */
  status?: number;
  /** Why it failed without an answer (e.g. `ECONNREFUSED`, `timeout after 5000 ms`). */
  error?: string;
}

/** Sends bodies to one URL. */
export interface HttpPoster {
  /** POST `body` with `headers` (never rejects). */
  post(body: string, headers: Record<string, string>, signal: AbortSignal): Promise<PostResult>;
  /** Close idle keep-alive sockets. */
  close(): void;
}

/** The outcome of an HTTP status. */
export function outcomeOf(status: number): SendOutcome {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'rejected';
}

/**
 * Read WEBHOOK_CA.
 * @returns its PEM text.
 * @throws Error when `path` cannot be read or holds no PEM certificate.
 */
export function loadWebhookCa(path: string): string {
  const pem = readFileSync(path, 'utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`WEBHOOK_CA ${path}: no PEM certificate in it`);
  return pem;
}

/** Create the poster for `url` (http: or https:). */
export function createHttpPoster(o: HttpPosterOptions): HttpPoster {
  const url = new URL(o.url);
  const https = url.protocol === 'https:';
  let ca: string[] | undefined;
  if (https && o.caPem) {
    ca = [...rootCertificates, o.caPem];
    const extra = process.env.NODE_EXTRA_CA_CERTS;
    if (extra) {
      try {
        ca.push(readFileSync(extra, 'utf8'));
      } catch {
        // Node itself warns about an unreadable NODE_EXTRA_CA_CERTS at start.
      }
    }
  }
  const agentOptions = { keepAlive: true, maxSockets: o.maxSockets, maxFreeSockets: o.maxSockets };
  const agent = https ? new HttpsAgent({ ...agentOptions, ...(ca ? { ca } : {}) }) : new HttpAgent(agentOptions);
  const send = https ? httpsRequest : httpRequest;

  return {
    post: (body, headers, signal) =>
      new Promise<PostResult>((resolve) => {
        let settled = false;
        const done = (r: PostResult) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(r);
        };
        const req = send(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res: IncomingMessage) => {
          // Drain the (ignored) answer so the socket can be reused.
          res.resume();
          res.on('error', () => {});
          done({ outcome: outcomeOf(res.statusCode ?? 0), status: res.statusCode });
        });
        const timer = setTimeout(() => {
          done({ outcome: 'retry', error: `timeout after ${o.timeoutMs} ms` });
          req.destroy();
        }, o.timeoutMs);
        const onAbort = () => {
          done({ outcome: 'retry', error: 'aborted (shutdown)' });
          req.destroy();
        };
        signal.addEventListener('abort', onAbort);
        req.on('error', (err: NodeJS.ErrnoException) => done({ outcome: 'retry', error: err.code ?? err.message }));
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}
