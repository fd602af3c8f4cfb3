/**
 * The deployment files work as documented: `nginx -t` accepts deploy/nginx.conf on the installed
 * nginx (Debian 12 ships 1.22; only the certificate paths are pointed at a test pair), and the
 * environment files the systemd units read are the ones README names for each unit.
 * The nginx check is skipped, loudly, without nginx (apt-get install nginx).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSelfSigned } from '../../server/certs.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => spawnSync(p, ['-v']).status === 0);
if (!NGINX) console.warn('SKIPPING the nginx -t test: nginx is not installed (apt-get install nginx)');

describe.skipIf(!NGINX)('deploy/nginx.conf', () => {
  it('passes nginx -t on the installed nginx', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nginx-test-'));
    try {
      const tls = await generateSelfSigned(path.join(dir, 'certs'));
      const site = readFileSync(path.join(ROOT, 'deploy/nginx.conf'), 'utf8')
        .replace('/etc/letsencrypt/live/call.example.com/fullchain.pem', tls.certPath)
        .replace('/etc/letsencrypt/live/call.example.com/privkey.pem', tls.keyPath);
      expect(site).not.toContain('/etc/letsencrypt');
      writeFileSync(path.join(dir, 'site.conf'), site);
      writeFileSync(
        path.join(dir, 'nginx.conf'),
        [
          `pid ${dir}/nginx.pid;`,
          `error_log ${dir}/error.log;`,
          'events {}',
          'http {',
          `  access_log off;`,
          ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${dir}/${k};`),
          `  include ${dir}/site.conf;`,
          '}',
        ].join('\n'),
      );
      const r = spawnSync(NGINX!, ['-t', '-p', dir, '-e', `${dir}/error.log`, '-c', path.join(dir, 'nginx.conf')], { encoding: 'utf8' });
      const version = spawnSync(NGINX!, ['-v'], { encoding: 'utf8' }).stderr.trim();
      expect(r.status, `${version}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stderr).toMatch(/test is successful/);
      expect(r.stderr, 'no deprecation or other warnings').not.toMatch(/\[warn\]|\[emerg\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ACME HTTP-01 behind the deployment files', () => {
  it('nginx forwards the challenge path on port 80 to the app; the web server unit says how HTTP_PORT fits', () => {
    const nginx = readFileSync(path.join(ROOT, 'deploy/nginx.conf'), 'utf8');
    const port80 = nginx.slice(nginx.indexOf('listen 80;'), nginx.indexOf('listen 443'));
    expect(port80).toMatch(/location \/\.well-known\/acme-challenge\/ \{\s*proxy_pass https?:\/\/webrtc_call;/);
    expect(nginx).toMatch(/HTTP_PORT=off/);
    // The upstream is the web server's plain-HTTP listener for a proxy, which the file tells to enable.
    expect(nginx).toMatch(/server 127\.0\.0\.1:8080;/);
    expect(nginx).toMatch(/PROXY_HTTP_PORT=8080/);
    const unit = readFileSync(path.join(ROOT, 'deploy/webrtc-call.service'), 'utf8');
    expect(unit).toMatch(/HTTP_PORT=off/);
    expect(unit).toMatch(/HTTP_PORT \(the/);
    expect(unit).toMatch(/^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  });
});

describe('systemd units and README agree', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const unit of ['webrtc-call.service', 'webrtc-turn.service']) {
    it(`${unit}: README names the environment file the unit reads`, () => {
      const text = readFileSync(path.join(ROOT, 'deploy', unit), 'utf8');
      const envFile = /^EnvironmentFile=-?(\S+)$/m.exec(text)?.[1];
      expect(envFile).toBeDefined();
      // In "Deployment", the first environment file named after the unit's link is the unit's.
      const deployment = readme.slice(readme.indexOf('### Deployment'));
      const at = deployment.indexOf(`deploy/${unit})`);
      expect(at, `README's Deployment section links deploy/${unit}`).toBeGreaterThan(0);
      expect(/\/etc\/[\w.-]+\.env/.exec(deployment.slice(at))?.[0]).toBe(envFile);
    });
  }

  it('README names no other environment file', () => {
    const named = new Set(readme.match(/\/etc\/[\w.-]+\.env/g));
    expect([...named].sort()).toEqual(['/etc/webrtc-call.env', '/etc/webrtc-turn.env']);
  });
});
