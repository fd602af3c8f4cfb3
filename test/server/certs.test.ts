/**
 * Certificates (server/certs.ts): self-signed generation with the right names and file modes,
 * reuse, renewal when close to expiry or broken, configured TLS_CERT/TLS_KEY used as is and
 * errors for unusable ones.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureCertificates } from '../../server/certs.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'webrtc-call-certs-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('self-signed certificate', () => {
  const dir = path.join(tmp(), 'certs');
  let first: Awaited<ReturnType<typeof ensureCertificates>>;

  it('is generated on first use into CERTS_DIR with the key at mode 0600', async () => {
    first = await ensureCertificates({ CERTS_DIR: dir, TLS_CERT: undefined, TLS_KEY: undefined });
    expect(first.generated).toBe(true);
    expect(first.selfSigned).toBe(true);
    expect(first.certPath).toBe(path.join(dir, 'server.crt'));
    expect(statSync(first.keyPath).mode & 0o777).toBe(0o600);
    const x = new X509Certificate(readFileSync(first.certPath));
    expect(x.fingerprint256).toBe(first.fingerprint256);
    const san = x.subjectAltName ?? '';
    for (const name of ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1']) expect(san).toContain(name);
    if (/^[A-Za-z0-9.-]+$/.test(hostname())) expect(san).toContain(`DNS:${hostname()}`);
    expect(x.checkHost('localhost')).toBe('localhost');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(new Date(x.validTo).getTime() - Date.now()).toBeGreaterThan(300 * 24 * 3600 * 1000);
  });

  it('is reused afterwards', async () => {
    const again = await ensureCertificates({ CERTS_DIR: dir, TLS_CERT: undefined, TLS_KEY: undefined });
    expect(again.generated).toBe(false);
    expect(again.fingerprint256).toBe(first.fingerprint256);
  });

  it('is renewed when it expires within 7 days', async () => {
    const in8days = new Date(Date.now() + 8 * 24 * 3600 * 1000);
    const notRenewed = await ensureCertificates({ CERTS_DIR: dir, TLS_CERT: undefined, TLS_KEY: undefined }, { now: new Date(Date.now()) });
    expect(notRenewed.generated).toBe(false);
    // Pretend "now" is 6 days before expiry.
    const validTo = notRenewed.validTo.getTime();
    const renewed = await ensureCertificates({ CERTS_DIR: dir, TLS_CERT: undefined, TLS_KEY: undefined }, { now: new Date(validTo - 6 * 24 * 3600 * 1000) });
    expect(renewed.generated).toBe(true);
    expect(renewed.fingerprint256).not.toBe(first.fingerprint256);
    expect(in8days.getTime()).toBeGreaterThan(0);
  });

  it('is regenerated when the files are broken or do not match', async () => {
    writeFileSync(path.join(dir, 'server.crt'), 'garbage');
    const r1 = await ensureCertificates({ CERTS_DIR: dir, TLS_CERT: undefined, TLS_KEY: undefined });
    expect(r1.generated).toBe(true);
    const other = await generate([{ name: 'commonName', value: 'x' }], { keySize: 2048 });
    writeFileSync(path.join(dir, 'server.key'), other.private);
    const r2 = await ensureCertificates({ CERTS_DIR: dir, TLS_CERT: undefined, TLS_KEY: undefined });
    expect(r2.generated).toBe(true);
  });

  it('forceRenew regenerates a valid certificate', async () => {
    const a = await ensureCertificates({ CERTS_DIR: dir, TLS_CERT: undefined, TLS_KEY: undefined });
    const b = await ensureCertificates({ CERTS_DIR: dir, TLS_CERT: undefined, TLS_KEY: undefined }, { forceRenew: true });
    expect(b.generated).toBe(true);
    expect(b.fingerprint256).not.toBe(a.fingerprint256);
  });
});

describe('configured TLS_CERT / TLS_KEY', () => {
  it('are used as they are, never replaced', async () => {
    const d = tmp();
    const pems = await generate([{ name: 'commonName', value: 'real.example.com' }], { keySize: 2048, algorithm: 'sha256' });
    writeFileSync(path.join(d, 'real.crt'), pems.cert);
    writeFileSync(path.join(d, 'real.key'), pems.private);
    const r = await ensureCertificates({ CERTS_DIR: path.join(d, 'unused'), TLS_CERT: path.join(d, 'real.crt'), TLS_KEY: path.join(d, 'real.key') });
    expect(r.selfSigned).toBe(false);
    expect(r.generated).toBe(false);
    expect(r.cert).toBe(pems.cert);
    expect(() => statSync(path.join(d, 'unused'))).toThrow();
  });

  it('unreadable or mismatched files → a clear error naming TLS_CERT/TLS_KEY', async () => {
    const d = tmp();
    await expect(ensureCertificates({ CERTS_DIR: d, TLS_CERT: path.join(d, 'nope.crt'), TLS_KEY: path.join(d, 'nope.key') })).rejects.toThrow(
      /TLS_CERT\/TLS_KEY: cannot use/,
    );
    const a = await generate([{ name: 'commonName', value: 'a' }], { keySize: 2048 });
    const b = await generate([{ name: 'commonName', value: 'b' }], { keySize: 2048 });
    writeFileSync(path.join(d, 'a.crt'), a.cert);
    writeFileSync(path.join(d, 'b.key'), b.private);
    await expect(ensureCertificates({ CERTS_DIR: d, TLS_CERT: path.join(d, 'a.crt'), TLS_KEY: path.join(d, 'b.key') })).rejects.toThrow(/does not match/);
  });
});
