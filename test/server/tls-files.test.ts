/**
 * Which certificate is served (common/tlsFiles.ts, shared by web server and relay), the file
 * watcher that swaps it without a restart (common/tlsWatcher.ts), and TlsService swapping the
 * context of a real HTTPS listener: a fresh TLS connection sees the new serial, a broken
 * replacement leaves the current certificate in service.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { acmePaths, chooseTlsFiles, type TlsFileSettings } from '../../common/tlsFiles.js';
import { TlsFileWatcher } from '../../common/tlsWatcher.js';
import { generateSelfSigned } from '../../server/certs.js';
import { TlsService } from '../../server/tlsService.js';
import { makePair, recordingLogger, writePair } from './tlsPairs.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'webrtc-call-tls-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const NAMES = ['call.example.test', 'www.call.example.test'];
const settings = (certsDir: string, extra: Partial<TlsFileSettings> = {}): TlsFileSettings => ({
  CERTS_DIR: certsDir,
  TLS_CERT: undefined,
  TLS_KEY: undefined,
  ACME_DOMAIN: NAMES,
  ...extra,
});

describe('chooseTlsFiles', () => {
  it('serves the self-signed pair until a usable ACME pair exists, then the ACME pair', async () => {
    const dir = tmp();
    expect(chooseTlsFiles(settings(dir), 'web')).toBeUndefined();
    await generateSelfSigned(dir);
    expect(chooseTlsFiles(settings(dir), 'web')?.source).toBe('self-signed');
    writePair(acmePaths(dir).dir, await makePair(NAMES));
    const p = chooseTlsFiles(settings(dir), 'web')!;
    expect(p.source).toBe('acme');
    expect(p.cert).toBe(acmePaths(dir).cert);
    // The relay makes the same choice unless TURN_TLS_* is set.
    expect(chooseTlsFiles(settings(dir), 'relay')?.x509.fingerprint256).toBe(p.x509.fingerprint256);
    // Without ACME_DOMAIN the ACME files are ignored.
    expect(chooseTlsFiles(settings(dir, { ACME_DOMAIN: undefined }), 'web')?.source).toBe('self-signed');
  });

  it('skips an ACME pair that is expired, misses a configured name, or whose key does not match', async () => {
    const dir = tmp();
    await generateSelfSigned(dir);
    const acme = acmePaths(dir).dir;
    writePair(acme, await makePair(NAMES, new Date(Date.now() - 7200_000), new Date(Date.now() - 60_000)));
    expect(chooseTlsFiles(settings(dir), 'web')?.source).toBe('self-signed');
    writePair(acme, await makePair([NAMES[0]!]));
    expect(chooseTlsFiles(settings(dir), 'web')?.source).toBe('self-signed');
    const a = await makePair(NAMES);
    const b = await makePair(NAMES);
    writePair(acme, { cert: a.cert, key: b.key });
    expect(chooseTlsFiles(settings(dir), 'web')?.source).toBe('self-signed');
    writePair(acme, a);
    expect(chooseTlsFiles(settings(dir), 'web')?.source).toBe('acme');
  });

  it('prefers TLS_CERT/TLS_KEY, and TURN_TLS_* for the relay; unusable configured files throw', async () => {
    const dir = tmp();
    await generateSelfSigned(dir);
    const conf = writePair(path.join(dir, 'conf'), await makePair(['conf.example.test']));
    const turn = writePair(path.join(dir, 'turn'), await makePair(['turn.example.test']));
    const s = settings(dir, { ACME_DOMAIN: undefined, TLS_CERT: conf.cert, TLS_KEY: conf.key, TURN_TLS_CERT: turn.cert, TURN_TLS_KEY: turn.key });
    expect(chooseTlsFiles(s, 'web')?.source).toBe('configured');
    expect(chooseTlsFiles(s, 'relay')?.source).toBe('turn-tls');
    expect(() => chooseTlsFiles({ ...s, TLS_CERT: path.join(dir, 'missing.pem') }, 'web')).toThrow(/ENOENT/);
  });
});

describe('TlsFileWatcher', () => {
  it('acts on a change once two polls agree, once per pair; reports a broken pair once and keeps the current', async () => {
    const dir = tmp();
    await generateSelfSigned(dir);
    const s = settings(dir);
    const changes: string[] = [];
    const errors: string[] = [];
    const w = new TlsFileWatcher({
      files: () => [acmePaths(dir).cert, acmePaths(dir).key, path.join(dir, 'server.crt'), path.join(dir, 'server.key')],
      load: () => chooseTlsFiles(s, 'web'),
      current: chooseTlsFiles(s, 'web'),
      onChange: (p) => changes.push(p.source),
      onError: (e) => errors.push(e.message),
    });
    expect(w.check()).toBe(false);
    expect(w.check()).toBe(false); // settled: the same pair as at start
    const pair = await makePair(NAMES);
    writePair(acmePaths(dir).dir, pair);
    expect(w.check()).toBe(false); // first sight of the change: wait for the files to settle
    expect(w.check()).toBe(true);
    expect(w.current?.source).toBe('acme');
    expect(w.check()).toBe(false);
    writePair(acmePaths(dir).dir, pair); // same content, new inode
    expect(w.check(true)).toBe(false);
    expect(changes).toEqual(['acme']);

    // ACME files broken while the ACME certificate is valid: never downgraded to self-signed.
    const other = await makePair(NAMES);
    writeFileSync(acmePaths(dir).key, other.key);
    expect(w.check(true)).toBe(false);
    expect(w.check(true)).toBe(false);
    expect(w.current?.source).toBe('acme');
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/self-signed fallback does not replace a valid ACME certificate/);
    writePair(acmePaths(dir).dir, other);
    expect(w.check(true)).toBe(true);
    expect(w.current?.x509.fingerprint256).toBe(chooseTlsFiles(s, 'web')?.x509.fingerprint256);

    // A load that throws (configured files gone) is reported once per file state.
    errors.length = 0;
    const broken = new TlsFileWatcher({
      files: () => [path.join(dir, 'nope.crt')],
      load: () => chooseTlsFiles({ ...s, TLS_CERT: path.join(dir, 'nope.crt'), TLS_KEY: path.join(dir, 'nope.key') }, 'web'),
      current: w.current,
      onChange: (p) => changes.push(p.source),
      onError: (e) => errors.push(e.message),
    });
    for (let i = 0; i < 4; i++) expect(broken.check()).toBe(false);
    expect(errors).toHaveLength(1);
    expect(broken.current?.source).toBe('acme');
  });
});

describe('TlsService on a real HTTPS listener', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  function servedSerial(port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port, servername: NAMES[0], rejectUnauthorized: false }, () => {
        resolve(sock.getPeerCertificate().serialNumber);
        sock.end();
      });
      sock.on('error', reject);
    });
  }

  async function listen(svc: TlsService): Promise<number> {
    const https = createServer(svc.pem, (_req, res) => res.end('ok'));
    servers.push(https);
    svc.attach(https);
    svc.start();
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
    return (https.address() as AddressInfo).port;
  }

  it('starts self-signed and swaps to a new ACME pair for new connections without a restart', async () => {
    const dir = tmp();
    const svc = await TlsService.create(settings(dir), recordingLogger());
    expect(svc.served().source).toBe('self-signed');
    const port = await listen(svc);
    const first = await servedSerial(port);
    expect(first).toBe(svc.served().serial);
    writePair(acmePaths(dir).dir, await makePair(NAMES));
    svc.checkNow();
    expect(svc.served().source).toBe('acme');
    const second = await servedSerial(port);
    expect(second).not.toBe(first);
    expect(second).toBe(svc.served().serial);
    expect(svc.reloads).toBe(1);
    svc.stop();
  });

  it('keeps serving a configured certificate when its file is replaced by garbage, and logs why', async () => {
    const dir = tmp();
    const conf = writePair(path.join(dir, 'conf'), await makePair(['conf.example.test']));
    const log = recordingLogger();
    const svc = await TlsService.create(settings(dir, { ACME_DOMAIN: undefined, TLS_CERT: conf.cert, TLS_KEY: conf.key }), log);
    const port = await listen(svc);
    const before = await servedSerial(port);
    writeFileSync(conf.cert, 'not a certificate');
    svc.checkNow();
    expect(svc.reloads).toBe(0);
    expect(log.lines.some((l) => l.startsWith('warn TLS certificate not reloaded, keeping the current one'))).toBe(true);
    expect(await servedSerial(port)).toBe(before);
    // certbot puts a good one in place: served without a restart.
    writePair(path.join(dir, 'conf'), await makePair(['conf.example.test']));
    svc.checkNow();
    expect(svc.reloads).toBe(1);
    expect(await servedSerial(port)).not.toBe(before);
    svc.stop();
  });
});
