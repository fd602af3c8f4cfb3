/**
 * Port helpers for tests: every test server listens on ports picked here so test files can run
 * in parallel without colliding (and never on the production defaults).
 */
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

/** A TCP port free on 127.0.0.1 right now (bind to 0, read, close). */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A port free on 127.0.0.1 for both UDP and TCP (for a TURN listener). Retries up to 50 times. */
export async function freeUdpTcpPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freeTcpPort();
    const ok = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free UDP+TCP port found');
}

/**
 * A random relay port range of `size` ports inside 20000–39999 (below Linux's ephemeral range, so
 * it does not collide with ports picked by `freeTcpPort`), for TURN_MIN_PORT/TURN_MAX_PORT.
 */
export function randomRelayRange(size = 200): { min: number; max: number } {
  const slots = Math.floor(20000 / size);
  const min = 20000 + Math.floor(Math.random() * slots) * size;
  return { min, max: min + size - 1 };
}
