/**
 * The plain-HTTP listener for a TLS-terminating reverse proxy on the same host (`PROXY_HTTP_PORT`,
 * e.g. nginx with `proxy_pass http://127.0.0.1:PORT`). It serves the same Express app and the same
 * Socket.IO server as HTTPS (one engine: rooms, seats and limits are shared by both listeners), so
 * the proxy's TLS is the only TLS on the path: no second handshake, no second encryption and none
 * of the ≈ 29 KB of OpenSSL buffers Node keeps per TLS connection.
 *
 * Every request on it is a proxied HTTPS request: `req.protocol` is the proxy's
 * `X-Forwarded-Proto` (`https` or `http`, first value), `https` when the header is absent or
 * anything else; `req.secure` follows. The header is honoured on this listener only (the HTTPS
 * listener ignores it). The client address behind the proxy (X-Forwarded-For) is TRUST_PROXY's
 * business, as on the HTTPS listener.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server as HttpServer } from 'node:http';
import type { Server as SocketIoServer } from 'socket.io';

/**
 * The scheme a request reached the proxy with, from its `X-Forwarded-Proto` header (the first
 * entry when the proxy appended to a list).
 * @returns `http` only when the proxy says so; `https` otherwise.
 */
export function forwardedProto(header: string | string[] | undefined): 'http' | 'https' {
  const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim().toLowerCase();
  return first === 'http' ? 'http' : 'https';
}

/** Mark a request as proxied: its own `protocol` shadows Express's getter (which reads the socket). */
function markProxied(req: IncomingMessage): void {
  Object.defineProperty(req, 'protocol', { value: forwardedProto(req.headers['x-forwarded-proto']), configurable: true, enumerable: true, writable: true });
}

/**
 * Create (not listen) the proxy listener for `app` (the Express app the HTTPS server serves).
 * Same header/request time bounds as the HTTPS server.
 */
export function createProxyServer(app: RequestListener): HttpServer {
  const server = createServer((req, res) => {
    markProxied(req);
    app(req, res);
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  return server;
}

/**
 * Serve `io`'s Socket.IO endpoint on `server` as well: its engine (one client table, one
 * `allowRequest`, one set of options) takes the path's requests and WebSocket upgrades, and, when
 * `io` serves the client bundle, `/socket.io/socket.io.js` too. Call it once the server is
 * listening (attaching earlier makes the engine re-create its WebSocket server on `listening`).
 * Closing `server` closes the engine (every client), as closing the HTTPS server does.
 */
export function attachSocketIo(io: SocketIoServer, server: HttpServer): void {
  io.engine.attach(server, { path: io.path(), addTrailingSlash: (io.engine.opts as { addTrailingSlash?: boolean }).addTrailingSlash });
  // Socket.IO attaches its client-bundle handler (for pages that load /socket.io/socket.io.js)
  // only to the server it was created with; the method is internal, hence the guarded call.
  const internal = io as unknown as { _serveClient?: boolean; attachServe?: (srv: HttpServer) => void };
  if (internal._serveClient && typeof internal.attachServe === 'function') internal.attachServe(server);
}
