/** Credentials: TURN REST usernames/passwords and expiry, nonces, users file parsing, long-term authentication steps. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { authenticate, candidateKeys, type CredentialSources } from '../../turn/auth/longTermCredentials.js';
import { NonceManager } from '../../turn/auth/nonce.js';
import { makeRestCredential, restPassword, restUsernameExpiry } from '../../turn/auth/restCredentials.js';
import { UserStore } from '../../turn/auth/userStore.js';
import { hmacKey, parseUsersFile, readUsersFile } from '../../turn/auth/usersFile.js';
import { noopLogger } from '../../turn/logger.js';
import { Attr, StunClass, StunMethod, decodeMessage, encodeMessage, longTermKey } from '../../turn/stun/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'turn-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TURN REST credentials', () => {
  it('mints <expiry>:<user> with base64 HMAC-SHA1 password', () => {
    const c = makeRestCredential('secret', 'u1', 600, 1_700_000_000);
    expect(c.username).toBe('1700000600:u1');
    expect(c.password).toBe(restPassword('secret', '1700000600:u1'));
    expect(Buffer.from(c.password, 'base64')).toHaveLength(20);
    // Known value: `echo -n 1700000600:u1 | openssl dgst -sha1 -hmac secret -binary | base64`.
    expect(c.password).toBe('YJTCb6Wg7JVOc530Yb6Nlt1E/mM=');
    expect(restUsernameExpiry(c.username)).toBe(1_700_000_600);
    expect(restUsernameExpiry('alice')).toBeUndefined();
    expect(restUsernameExpiry('12345')).toBe(12345);
    expect(() => makeRestCredential('s', 'a:b')).toThrow(RangeError);
    expect(() => makeRestCredential('s', 'a', 0)).toThrow(RangeError);
  });

  it('candidate keys: every configured secret for an unexpired REST username; none when expired', () => {
    const sources: CredentialSources = { realm: 'r', secrets: () => ['new', 'old'] };
    const now = 1_700_000_000;
    const username = `${now + 10}:u`;
    const { keys, expired } = candidateKeys(username, sources, now);
    expect(expired).toBe(false);
    expect(keys).toEqual([longTermKey(username, 'r', restPassword('new', username)), longTermKey(username, 'r', restPassword('old', username))]);
    expect(candidateKeys(`${now - 1}:u`, sources, now)).toEqual({ keys: [], expired: true });
    expect(candidateKeys('plainuser', sources, now).keys).toEqual([]);
  });
});

describe('nonces', () => {
  const nonces = new NonceManager(600);
  it('are valid for their lifetime, for the issuing client IP only', () => {
    const t0 = 1_700_000_000_000;
    const n = nonces.issue('192.0.2.1', t0);
    expect(n.length).toBeLessThan(128);
    expect(nonces.check(n, '192.0.2.1', t0 + 599_000)).toBe('valid');
    expect(nonces.check(n, '192.0.2.1', t0 + 601_000)).toBe('expired');
    expect(nonces.check(n, '192.0.2.2', t0)).toBe('invalid');
    expect(nonces.check(n.slice(0, -1) + (n.endsWith('A') ? 'B' : 'A'), '192.0.2.1', t0)).toBe('invalid');
    expect(nonces.check('garbage', '192.0.2.1', t0)).toBe('invalid');
    expect(new NonceManager(600).check(n, '192.0.2.1', t0)).toBe('invalid'); // another process key
  });
});

describe('users file', () => {
  it('hmacKey is hex MD5(name:realm:password)', () => {
    expect(hmacKey('alice', 'example.org', 'pw')).toBe(longTermKey('alice', 'example.org', 'pw').toString('hex'));
  });

  it('parses, validates, and treats a missing file as empty', () => {
    expect(parseUsersFile('{"version":1}')).toEqual({ version: 1, users: [], secrets: [] });
    expect(() => parseUsersFile('{"version":2}')).toThrow();
    expect(() => parseUsersFile('{"version":1,"users":[{"name":"a","realm":"r","key":"zz"}]}')).toThrow(/32 hex/);
    expect(() => parseUsersFile('not json')).toThrow(SyntaxError);
    expect(readUsersFile(path.join(dir, 'nope.json'))).toEqual({ version: 1, users: [], secrets: [] });
  });

  it('UserStore: own-property lookups only, realm filter, keeps last good contents on a malformed file', () => {
    const file = path.join(dir, 'users.json');
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        users: [
          { name: 'alice', realm: 'r', key: hmacKey('alice', 'r', 'pw') },
          { name: 'bob', realm: 'other', key: hmacKey('bob', 'other', 'pw') },
        ],
        secrets: [{ value: 'file-secret', added: new Date().toISOString() }],
      }),
    );
    const warnings: string[] = [];
    const store = new UserStore(file, 'r', { ...noopLogger, warn: (m: string) => warnings.push(m) });
    store.reload();
    expect(store.userKey('alice')).toEqual(longTermKey('alice', 'r', 'pw'));
    expect(store.userKey('bob')).toBeUndefined();
    for (const n of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) expect(store.userKey(n)).toBeUndefined();
    expect(store.secrets).toEqual(['file-secret']);
    writeFileSync(file, '{"version":1,"users":[{"name":');
    store.reload();
    expect(warnings).toHaveLength(1);
    expect(store.userKey('alice')).toBeDefined();
  });
});

describe('authenticate (RFC 8489 §9.2.4 order)', () => {
  const realm = 'example.org';
  const nonces = new NonceManager(600);
  const file = path.join(dir, 'auth-users.json');
  writeFileSync(file, JSON.stringify({ version: 1, users: [{ name: 'alice', realm, key: hmacKey('alice', realm, 'pw') }] }));
  const users = new UserStore(file, realm, noopLogger);
  users.reload();
  const sources: CredentialSources = { realm, secrets: () => ['s1'], users };
  const ip = '198.51.100.1';

  function req(attrs: { username?: string; realm?: string; nonce?: string; key?: Buffer }) {
    const a = [Attr.requestedTransport()];
    if (attrs.username !== undefined) a.push(Attr.username(attrs.username));
    if (attrs.realm !== undefined) a.push(Attr.realm(attrs.realm));
    if (attrs.nonce !== undefined) a.push(Attr.nonce(attrs.nonce));
    return decodeMessage(encodeMessage({ method: StunMethod.Allocate, cls: StunClass.Request, attributes: a }, { integrityKey: attrs.key, fingerprint: true }));
  }

  it('walks 401 → 400 → 438 → 401 → success', () => {
    const nonce = nonces.issue(ip);
    const key = longTermKey('alice', realm, 'pw');
    expect(authenticate(req({}), sources, nonces, ip)).toMatchObject({ ok: false, code: 401, reason: 'no_credentials' });
    expect(authenticate(req({ username: 'alice', realm, key }), sources, nonces, ip)).toMatchObject({ ok: false, code: 400 });
    expect(authenticate(req({ username: 'alice', realm, nonce: 'bogus', key }), sources, nonces, ip)).toMatchObject({ ok: false, code: 438 });
    expect(authenticate(req({ username: 'alice', realm: 'other', nonce, key }), sources, nonces, ip)).toMatchObject({ ok: false, code: 401, reason: 'wrong_realm' });
    expect(authenticate(req({ username: 'carol', realm, nonce, key }), sources, nonces, ip)).toMatchObject({ ok: false, code: 401, reason: 'unknown_user' });
    expect(authenticate(req({ username: 'alice', realm, nonce, key: longTermKey('alice', realm, 'nope') }), sources, nonces, ip)).toMatchObject({ ok: false, code: 401, reason: 'bad_integrity' });
    const ok = authenticate(req({ username: 'alice', realm, nonce, key }), sources, nonces, ip);
    expect(ok).toMatchObject({ ok: true, username: 'alice', algorithm: 'sha1' });
  });

  it('REST usernames: accepted with the secret, refused when expired or for prototype names', () => {
    const nonce = nonces.issue(ip);
    const c = makeRestCredential('s1', 'bob', 60);
    expect(authenticate(req({ username: c.username, realm, nonce, key: longTermKey(c.username, realm, c.password) }), sources, nonces, ip)).toMatchObject({ ok: true });
    const old = makeRestCredential('s1', 'bob', 60, Math.floor(Date.now() / 1000) - 120);
    expect(authenticate(req({ username: old.username, realm, nonce, key: longTermKey(old.username, realm, old.password) }), sources, nonces, ip)).toMatchObject({ ok: false, code: 401, reason: 'expired_credentials' });
    const other = makeRestCredential('not-a-configured-secret', 'bob', 60);
    expect(authenticate(req({ username: other.username, realm, nonce, key: longTermKey(other.username, realm, other.password) }), sources, nonces, ip)).toMatchObject({ ok: false, code: 401, reason: 'bad_integrity' });
    for (const name of ['constructor', '__proto__', 'toString']) {
      expect(authenticate(req({ username: name, realm, nonce, key: longTermKey(name, realm, '') }), sources, nonces, ip)).toMatchObject({ ok: false, code: 401 });
    }
  });
});
