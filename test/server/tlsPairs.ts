/** For TLS/ACME tests: certificate/key pairs with any names and validity, written like the ACME client does; a recording logger. */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type log4js from 'log4js';
import { generate } from 'selfsigned';

/** A PEM pair valid for `names` from `notBefore` to `notAfter`. */
export async function makePair(names: string[], notBefore = new Date(Date.now() - 60_000), notAfter = new Date(Date.now() + 3600_000)): Promise<{ cert: string; key: string }> {
  const pems = await generate([{ name: 'commonName', value: names[0] ?? 'test' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: notAfter,
    extensions: [{ name: 'subjectAltName', altNames: names.map((value) => ({ type: 2 as const, value })) }],
  });
  return { cert: pems.cert, key: pems.private };
}

/** Write a pair to `dir/cert.pem` + `dir/key.pem` (key first, each by rename, as the ACME client does). */
export function writePair(dir: string, pair: { cert: string; key: string }, names = { cert: 'cert.pem', key: 'key.pem' }): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, names.cert);
  const key = path.join(dir, names.key);
  writeFileSync(`${key}.tmp`, pair.key, { mode: 0o600 });
  writeFileSync(`${cert}.tmp`, pair.cert);
  // Rename (new inode), like certbot and our writer.
  renameSync(`${key}.tmp`, key);
  renameSync(`${cert}.tmp`, cert);
  return { cert, key };
}

/** A log4js-shaped logger that keeps `level message` lines. */
export function recordingLogger(): log4js.Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (m: string) => lines.push(`${level} ${m}`);
  return { lines, trace: rec('trace'), debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error'), fatal: rec('fatal') } as unknown as log4js.Logger & { lines: string[] };
}
