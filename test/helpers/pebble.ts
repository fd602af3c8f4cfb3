/**
 * Debian's `pebble` (Let's Encrypt's ACME test server) for end-to-end tests, on free loopback
 * ports. The package ships no certificate for Pebble's own HTTPS listener, so one is generated
 * here with openssl; the server under test trusts it through `NODE_EXTRA_CA_CERTS`.
 *
 * HTTP-01 challenges are really validated: Pebble resolves the test domain through a DNS stub
 * (127.0.0.1) and fetches `http://<domain>:<httpPort>/.well-known/acme-challenge/<token>` from
 * the server's HTTP_PORT. The root that signs issued certificates is new on every start and
 * served at `<managementUrl>/roots/0`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDnsStub, type DnsStub } from './dnsStub.js';
import { freeTcpPort } from './ports.js';

export const PEBBLE = '/usr/bin/pebble';
export const CERTUTIL = '/usr/bin/certutil';

/** True when pebble, openssl and certutil (libnss3-tools) are installed; ACME suites skip loudly otherwise. */
export const havePebble = existsSync(PEBBLE) && existsSync('/usr/bin/openssl') && existsSync(CERTUTIL);

/** A running Pebble. */
export interface Pebble {
  /** ACME directory URL, `https://127.0.0.1:PORT/dir`. */
  directoryUrl: string;
  /** Management interface, `https://127.0.0.1:PORT`. */
  managementUrl: string;
  /** PEM file of Pebble's own listener certificate (for NODE_EXTRA_CA_CERTS). */
  listenerCaFile: string;
  dns: DnsStub;
  /** Everything Pebble printed so far. */
  output(): string;
  /** The issuing root (PEM) from `/roots/0`. */
  root(): Promise<string>;
  /** Stop Pebble and the DNS stub, remove the temp directory. */
  stop(): Promise<void>;
}

/** Options of {@link startPebble}. */
export interface PebbleOptions {
  /** Port Pebble's validation authority fetches HTTP-01 challenges from (the server's HTTP_PORT). */
  httpPort: number;
  /** Lifetime of issued certificates, s (Pebble's default is 5 years). */
  validitySeconds?: number;
}

function getText(url: string, ca: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
  });
}

/**
 * Start Pebble (and its DNS stub) and wait until the directory answers.
 * @throws Error with Pebble's output when it does not come up within 15 s.
 */
export async function startPebble(opts: PebbleOptions): Promise<Pebble> {
  const dir = mkdtempSync(path.join(tmpdir(), 'webrtc-call-pebble-'));
  const cert = path.join(dir, 'listener.crt');
  const key = path.join(dir, 'listener.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  const dns = await startDnsStub('127.0.0.1');
  const [acmePort, mgmtPort, tlsPort] = [await freeTcpPort(), await freeTcpPort(), await freeTcpPort()];
  const config = path.join(dir, 'pebble.json');
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: cert,
        privateKey: key,
        httpPort: opts.httpPort,
        tlsPort,
        ...(opts.validitySeconds ? { certificateValidityPeriod: opts.validitySeconds } : {}),
      },
    }),
  );
  const proc: ChildProcess = spawn(PEBBLE, ['-config', config, '-dnsserver', `127.0.0.1:${dns.port}`], {
    cwd: dir,
    env: { PATH: process.env.PATH, PEBBLE_VA_NOSLEEP: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const ca = readFileSync(cert, 'utf8');
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const managementUrl = `https://127.0.0.1:${mgmtPort}`;
  const stop = async () => {
    if (!gone) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await getText(directoryUrl, ca, 1000)).status === 200) break;
    } catch {
      /* not up yet */
    }
    if (gone || Date.now() > deadline) {
      await stop();
      throw new Error(`pebble did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    directoryUrl,
    managementUrl,
    listenerCaFile: cert,
    dns,
    output: () => out,
    async root() {
      const r = await getText(`${managementUrl}/roots/0`, ca);
      if (r.status !== 200 || !r.body.includes('BEGIN CERTIFICATE')) throw new Error(`pebble /roots/0: ${r.status} ${r.body.slice(0, 200)}`);
      return r.body;
    },
    stop,
  };
}

/**
 * Make an NSS certificate database under `home/.pki/nssdb` (where Chromium on Linux looks for
 * user-trusted roots) holding `rootPem` as a trusted CA for TLS servers.
 * @throws Error from certutil.
 */
export function trustRootInNssDb(home: string, rootPem: string, nickname = 'pebble-root'): void {
  const db = path.join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  execFileSync(CERTUTIL, ['-N', '-d', `sql:${db}`, '--empty-password']);
  const file = path.join(home, 'root.pem');
  writeFileSync(file, rootPem);
  execFileSync(CERTUTIL, ['-A', '-d', `sql:${db}`, '-n', nickname, '-t', 'C,,', '-i', file]);
}
