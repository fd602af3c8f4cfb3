/**
 * A synchronous `lookup` for dgram sockets. The relay only ever sends to IP literals; Node's default
 * lookup defers every send by one `process.nextTick` through `dns.lookup`, which costs CPU on the
 * per-packet path. This one answers at once.
 */
import { isIP } from 'node:net';
import type { LookupOneOptions } from 'node:dns';

/** dgram `lookup` option: returns the literal address itself (family 4 or 6); errors for host names. */
export function literalLookup(hostname: string, _options: LookupOneOptions | number, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = isIP(hostname);
  if (family === 0) {
    const err: NodeJS.ErrnoException = new Error(`relay sends only to IP addresses, got ${hostname}`);
    err.code = 'EINVAL';
    callback(err, '', 0);
    return;
  }
  callback(null, hostname, family);
}
