/**
 * A synchronous `lookup` for dgram sockets. The relay only ever sends to IP literals; Node's default
 * lookup defers every send by one `process.nextTick` through `dns.lookup`, which costs CPU on the
 * per-packet path. This one answers at once, and remembers the family of recently seen literals so
 * the per-packet cost is one Map lookup on a string whose hash is already cached (the relay passes
 * the same address strings again and again) instead of a regular-expression match.
 */
import { isIP } from 'node:net';
import type { LookupOneOptions } from 'node:dns';

/** Most remembered literals; the cache is emptied when full (bounded memory under address churn). */
const CACHE_MAX = 4096;
const families = new Map<string, number>();

/** dgram `lookup` option: returns the literal address itself (family 4 or 6); errors (EINVAL) for host names. */
export function literalLookup(hostname: string, _options: LookupOneOptions | number, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  let family = families.get(hostname);
  if (family === undefined) {
    family = isIP(hostname);
    if (family === 0) {
      const err: NodeJS.ErrnoException = new Error(`relay sends only to IP addresses, got ${hostname}`);
      err.code = 'EINVAL';
      callback(err, '', 0);
      return;
    }
    if (families.size >= CACHE_MAX) families.clear();
    families.set(hostname, family);
  }
  callback(null, hostname, family);
}
