/**
 * The plain-HTTP side (`HTTP_PORT`): ACME HTTP-01 challenge responses (RFC 8555 §8.3) at
 * `/.well-known/acme-challenge/<token>`, and a redirect to the HTTPS listener for everything else
 * (so `http://call.example.com/?room=1` still reaches the page). The challenge route is also
 * mounted on the HTTPS app, for a reverse proxy that forwards the challenge path there.
 */
import express, { type RequestHandler } from 'express';
import { hostForUrl } from '../common/hostPort.js';
import { hostFromHeader } from './iceServers.js';
import { accessLogger } from './logger.js';

/** Path prefix of HTTP-01 challenge requests. */
export const ACME_CHALLENGE_PATH = '/.well-known/acme-challenge/';

/** An ACME token: base64url, at least 128 bits of entropy (RFC 8555 §8.3); bounded for safety. */
const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;

/**
 * Route for `GET /.well-known/acme-challenge/:token`: 200 `text/plain` key authorization while the
 * order runs, else 404.
 * @param keyAuthorization  lookup by token (the ACME manager's).
 */
export function acmeChallengeHandler(keyAuthorization: (token: string) => string | undefined): RequestHandler {
  return (req, res) => {
    const token = String(req.params.token ?? '');
    const value = TOKEN.test(token) ? keyAuthorization(token) : undefined;
    res.set('Cache-Control', 'no-store');
    if (value === undefined) res.status(404).type('text/plain').send('Not found\n');
    else res.status(200).type('text/plain').send(value);
  };
}

/** Options of {@link createHttpApp}. */
export interface HttpAppOptions {
  /** Port browsers reach HTTPS on (443 is left out of the redirect URL). */
  httpsPort: number;
  /** Key authorization lookup; undefined when ACME is off (the listener only redirects). */
  keyAuthorization?: (token: string) => string | undefined;
}

/**
 * The Express app of the plain-HTTP listener.
 * Redirect: 301 for GET/HEAD, 308 for other methods (keeps the method), to
 * `https://<Host without port>[:httpsPort]<path>`; 400 when the `Host` header is missing or invalid.
 */
export function createHttpApp(o: HttpAppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(accessLogger());
  if (o.keyAuthorization) app.get(`${ACME_CHALLENGE_PATH}:token`, acmeChallengeHandler(o.keyAuthorization));
  app.use((req, res) => {
    const host = hostFromHeader(req.headers.host);
    if (host === undefined) {
      res.status(400).type('text/plain').send('Bad Request: missing or invalid Host header\n');
      return;
    }
    const port = o.httpsPort === 443 ? '' : `:${o.httpsPort}`;
    // An absolute-form request target (`GET http://other/ HTTP/1.1`) must not pick the target host.
    const target = req.originalUrl.startsWith('/') ? req.originalUrl : '/';
    res
      .status(req.method === 'GET' || req.method === 'HEAD' ? 301 : 308)
      .set('Location', `https://${hostForUrl(host)}${port}${target}`)
      .set('Cache-Control', 'no-store')
      .type('text/plain')
      .send('Moved to HTTPS\n');
  });
  return app;
}
