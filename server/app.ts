/**
 * The Express 5 application served over HTTPS (the optional plain-HTTP listener only answers ACME
 * challenges and redirects here: see acmeHttp.ts).
 *
 * Routes:
 * - `GET /healthz` → 200 `{status:'ok'}` while the process serves requests (liveness).
 * - `GET /readyz`  → 200 `{status:'ready', checks}` when HTTPS, signaling and (if enabled) the
 *   relay are up, else 503 `{status:'not-ready', checks}`.
 * - `GET /api/ice-servers` → ICE servers with fresh TURN REST credentials (`Cache-Control: no-store`),
 *   for testers holding `ICE_TOKEN` (`Authorization: Bearer`); otherwise 401/403
 *   `{error, code}` (`IceServersRefusal`). People in a call get theirs over signaling.
 * - `GET /.well-known/acme-challenge/:token` → HTTP-01 key authorization while an ACME order runs
 *   (when `acmeChallenge` is given; for a reverse proxy that forwards the path to HTTPS).
 * - any other `/api/*` → JSON 404. Every `/api/*` request first passes `apiGuard` (the Origin
 *   check: 403 for a foreign origin).
 * - static files of the built client (`dist/client`), `index.html` for `/`, `.html` optional
 *   (`/trickle-ice` serves `trickle-ice.html`); never a directory listing.
 *
 * Security headers by helmet with a Content-Security-Policy the client satisfies: scripts only
 * from the page's origin (no inline scripts), WebSocket to any `wss:` (Socket.IO), media from
 * `blob:`/`mediastream:`.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { accessLogger, getLogger } from './logger.js';
import { hostFromHeader } from './iceServers.js';
import type { TurnCredentials } from './turnCredentials.js';
import type { IceServersRefusedResponse } from '../contracts/http.js';
import { ACME_CHALLENGE_PATH, acmeChallengeHandler } from './acmeHttp.js';

/** Readiness of each part; `relay: 'disabled'` when TURN_ENABLED is off (not required). */
export interface ReadinessChecks {
  https: boolean;
  signaling: boolean;
  relay: boolean | 'disabled';
}

/** Dependencies of {@link createApp}. */
export interface AppDeps {
  /** Directory of the built client (`dist/client`). Missing directory → every page is 404. */
  clientDir: string;
  /** Current readiness (called per `/readyz` request). */
  readiness: () => ReadinessChecks;
  /** Tester credentials of `GET /api/ice-servers` (token check, minting; a throw → 500 JSON). */
  iceServers: Pick<TurnCredentials, 'checkTester' | 'forTester'>;
  /** ACME HTTP-01 key authorization by token (when ACME_DOMAIN is set). */
  acmeChallenge?: (token: string) => string | undefined;
  /** Extra routes (metrics, admin) mounted before the static files. */
  extraRoutes?: (app: express.Express) => void;
  /** Runs before every `/api/*` route (the Origin check, originPolicy.ts). */
  apiGuard?: express.RequestHandler;
}

/** Content-Security-Policy directives (helmet format). */
export const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:', 'blob:'],
  mediaSrc: ["'self'", 'blob:', 'mediastream:'],
  connectSrc: ["'self'", 'wss:'],
  fontSrc: ["'self'", 'data:'],
  workerSrc: ["'self'", 'blob:'],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  upgradeInsecureRequests: [],
};

/**
 * Build the Express app.
 * @returns an app to pass to `https.createServer`.
 */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  const log = getLogger('http');
  app.disable('x-powered-by');
  app.set('etag', 'strong');
  app.use(accessLogger());
  app.use(helmet({ contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES } }));

  app.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });

  app.get('/readyz', (_req, res) => {
    const checks = deps.readiness();
    const ready = checks.https && checks.signaling && checks.relay !== false;
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ status: ready ? 'ready' : 'not-ready', checks });
  });

  if (deps.apiGuard) app.use('/api', deps.apiGuard);

  app.get('/api/ice-servers', (req, res) => {
    res.set('Cache-Control', 'no-store');
    const refusal = deps.iceServers.checkTester(req.headers.authorization);
    if (refusal) {
      const body: IceServersRefusedResponse =
        refusal === 'ice-token-unset'
          ? { error: 'no ICE_TOKEN is configured: TURN credentials go only to people in a call', code: refusal }
          : { error: refusal === 'wrong-token' ? 'wrong ICE token' : 'an ICE token is required (Authorization: Bearer ICE_TOKEN)', code: refusal };
      if (refusal !== 'ice-token-unset') res.set('WWW-Authenticate', 'Bearer realm="ice-servers"');
      res.status(refusal === 'ice-token-unset' ? 403 : 401).json(body);
      return;
    }
    const host = hostFromHeader(req.headers.host);
    if (host === undefined) {
      res.status(400).json({ error: 'invalid Host header' });
      return;
    }
    res.json(deps.iceServers.forTester(host));
  });

  if (deps.acmeChallenge) app.get(`${ACME_CHALLENGE_PATH}:token`, acmeChallengeHandler(deps.acmeChallenge));

  deps.extraRoutes?.(app);

  app.use('/api', (_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  app.use(
    express.static(deps.clientDir, {
      index: 'index.html',
      extensions: ['html'],
      redirect: false,
      dotfiles: 'ignore',
      fallthrough: true,
      // Vite puts content-hashed files under /assets/: cache them for good; revalidate the pages.
      setHeaders: (res, filePath) => {
        if (/[\\/]assets[\\/]/.test(filePath)) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
        else if (filePath.endsWith('.html')) res.setHeader('Cache-Control', 'no-cache');
      },
    }),
  );

  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found\n');
  });

  // Express error handler (4 arguments): never leak a stack trace to the client.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    if (status >= 500) log.error(`${req.method} ${req.originalUrl}: ${(err as Error)?.stack ?? String(err)}`);
    if (res.headersSent) return;
    const message = status >= 500 ? 'internal error' : ((err as Error)?.message ?? 'bad request');
    if (req.path.startsWith('/api/')) res.status(status).json({ error: message });
    else res.status(status).type('text/plain').send(`${message}\n`);
  });

  return app;
}
