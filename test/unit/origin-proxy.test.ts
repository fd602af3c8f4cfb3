/**
 * The Origin rule (server/originPolicy.ts) and the client address behind trusted proxies
 * (server/clientAddress.ts), as pure functions; the wiring is tested over the real stack in
 * test/signaling/origin.test.ts and join-rate-limit.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { EnvSchema } from '../../contracts/config.js';
import { ProxyTrust } from '../../server/clientAddress.js';
import { OriginPolicy } from '../../server/originPolicy.js';

describe('OriginPolicy', () => {
  const self = new OriginPolicy(['self'], ['call.example.com']);

  it('self: the Origin host equals the Host header (port compared when the Host header has one)', () => {
    expect(self.allows('https://host.example:8443', 'host.example:8443')).toBe(true);
    expect(self.allows('https://HOST.example:8443', 'host.example:8443')).toBe(true);
    expect(self.allows('https://host.example', 'host.example')).toBe(true);
    expect(self.allows('https://host.example', 'host.example:443')).toBe(true);
    // nginx `proxy_set_header Host $host` passes no port.
    expect(self.allows('https://host.example:8443', 'host.example')).toBe(true);
    expect(self.allows('https://host.example:9999', 'host.example:8443')).toBe(false);
    expect(self.allows('https://evil.example', 'host.example')).toBe(false);
    expect(self.allows('https://host.example.evil.example', 'host.example')).toBe(false);
    expect(self.allows('https://[::1]:8443', '[::1]:8443')).toBe(true);
  });

  it('self: plain http only on loopback names; never null or other schemes', () => {
    expect(self.allows('http://host.example', 'host.example')).toBe(false);
    expect(self.allows('http://localhost:5173', 'localhost:5173')).toBe(true);
    expect(self.allows('http://127.0.0.1:8080', '127.0.0.1:8080')).toBe(true);
    expect(self.allows('null', 'host.example')).toBe(false);
    expect(self.allows('file://', 'host.example')).toBe(false);
    expect(self.allows('not a url', 'host.example')).toBe(false);
  });

  it('self also allows the ACME_DOMAIN names over https whatever the Host header; no Origin is allowed', () => {
    expect(self.allows('https://call.example.com', '127.0.0.1:8443')).toBe(true);
    expect(self.allows('http://call.example.com', '127.0.0.1:8443')).toBe(false);
    expect(self.allows(undefined, 'host.example')).toBe(true);
    expect(self.allows('https://host.example', undefined)).toBe(false);
  });

  it('a list allows exactly its origins; * allows any', () => {
    const list = new OriginPolicy(['https://app.example.com', 'https://call.example.com:8443']);
    expect(list.allows('https://app.example.com', 'x')).toBe(true);
    expect(list.allows('https://call.example.com:8443', 'call.example.com:8443')).toBe(true);
    expect(list.allows('https://call.example.com', 'call.example.com')).toBe(false);
    expect(new OriginPolicy(['*']).allows('https://anything.example', 'x')).toBe(true);
  });

  it('ALLOWED_ORIGINS and TRUST_PROXY are validated and normalized by the config schema', () => {
    const parse = (env: Record<string, string>) => EnvSchema.safeParse(env);
    const ok = parse({ ALLOWED_ORIGINS: 'self, HTTPS://App.Example.com:443/ , https://x.example:8443' });
    expect(ok.success && ok.data.ALLOWED_ORIGINS).toEqual(['self', 'https://app.example.com', 'https://x.example:8443']);
    expect(parse({ ALLOWED_ORIGINS: 'https://app.example.com/path' }).success).toBe(false);
    expect(parse({ ALLOWED_ORIGINS: 'app.example.com' }).success).toBe(false);
    const defaults = parse({});
    expect(defaults.success && [defaults.data.ALLOWED_ORIGINS, defaults.data.TRUST_PROXY, defaults.data.JOIN_RATE_BURST]).toEqual([['self'], ['loopback'], 60]);
    expect(parse({ TRUST_PROXY: 'loopback,10.0.0.0/8,fd00::/8' }).success).toBe(true);
    expect(parse({ TRUST_PROXY: 'off,loopback' }).success).toBe(false);
    expect(parse({ TRUST_PROXY: 'proxy.example' }).success).toBe(false);
  });
});

describe('ProxyTrust.clientAddress', () => {
  it('believes X-Forwarded-For only from a trusted peer, taking the right-most untrusted hop', () => {
    const trust = new ProxyTrust(['loopback', '10.0.0.0/8']);
    expect(trust.clientAddress('198.51.100.1', '203.0.113.5')).toBe('198.51.100.1');
    expect(trust.clientAddress('127.0.0.1', '203.0.113.5')).toBe('203.0.113.5');
    expect(trust.clientAddress('::ffff:127.0.0.1', '203.0.113.5')).toBe('203.0.113.5');
    expect(trust.clientAddress('::1', ' 6.6.6.6 , 203.0.113.5')).toBe('203.0.113.5');
    // Two trusted proxies in a row; the client's own claim (left-most) is not believed.
    expect(trust.clientAddress('127.0.0.1', '6.6.6.6, 203.0.113.5, 10.1.2.3')).toBe('203.0.113.5');
    expect(trust.clientAddress('127.0.0.1', ['6.6.6.6', '2001:db8::7'])).toBe('2001:db8::7');
    // Garbage in the header: the last address known good.
    expect(trust.clientAddress('127.0.0.1', 'unknown, junk')).toBe('127.0.0.1');
    expect(trust.clientAddress('127.0.0.1', undefined)).toBe('127.0.0.1');
    expect(trust.clientAddress('::ffff:192.0.2.9', undefined)).toBe('192.0.2.9');
  });

  it('off trusts nobody', () => {
    const off = new ProxyTrust(['off']);
    expect(off.clientAddress('127.0.0.1', '203.0.113.5')).toBe('127.0.0.1');
    expect(off.trusts('127.0.0.1')).toBe(false);
  });
});
