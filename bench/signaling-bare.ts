/**
 * Reference server for `bench/signaling.ts --bare` (not run directly, not product code): plain
 * Socket.IO on the same HTTPS stack as the real server (Node's TLS, the same kind of self-signed
 * certificate, WebSocket transport), relaying rooms of two with NO validation, seat store, rate
 * limit, logging or grace period. It answers the bench client's events (`join` → `joined` /
 * `otherjoin`, `message` → relayed) and serves `/readyz` and `/metrics` (prom-client default
 * metrics, for the event-loop delay), so the same load can be run against it: the gap between the
 * two runs is what the signaling server itself costs; what both share is Socket.IO + TLS on this
 * machine.
 * Environment: HTTPS_HOST, HTTPS_PORT, CERTS_DIR, PROXY_HTTP_PORT (as the real server: the same
 * Socket.IO server on plain HTTP too, on 127.0.0.1).
 */
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer } from 'node:https';
import { Server } from 'socket.io';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { generateSelfSigned } from '../server/certs.js';
import { attachSocketIo } from '../server/proxyListener.js';

const tls = await generateSelfSigned(process.env.CERTS_DIR ?? 'certs');
const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'webrtc_' });

const handler: RequestListener = (req, res) => {
  if (req.url === '/readyz') {
    res.end('ok');
  } else if (req.url === '/metrics') {
    void registry.metrics().then((body) => res.end(body));
  } else if (!req.url?.startsWith('/socket.io/')) {
    res.statusCode = 404;
    res.end();
  }
};
const https = createServer({ cert: tls.cert, key: tls.key }, handler);
const io = new Server(https, { serveClient: false });
io.on('connection', (socket) => {
  socket.on('join', (room: string) => {
    void socket.join(room);
    const members = io.sockets.adapter.rooms.get(room)?.size ?? 1;
    socket.emit('joined', room, socket.id, { polite: members > 1, members });
    socket.to(room).emit('otherjoin', room, socket.id);
  });
  socket.on('message', (room: string, data: unknown) => {
    socket.to(room).emit('message', room, data);
  });
});
const listenHttps = () => https.listen(Number(process.env.HTTPS_PORT ?? 8443), process.env.HTTPS_HOST ?? '127.0.0.1');
// The bench waits for /readyz on HTTPS: listen there once the plain listener is ready.
if (process.env.PROXY_HTTP_PORT) {
  const plain = createHttpServer(handler);
  plain.listen(Number(process.env.PROXY_HTTP_PORT), '127.0.0.1', () => {
    attachSocketIo(io, plain);
    listenHttps();
  });
} else {
  listenHttps();
}
process.on('SIGTERM', () => {
  io.close();
  process.exit(0);
});
