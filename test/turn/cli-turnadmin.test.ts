/**
 * `turnadmin` (dist/turn/cli/turnadmin.js, run as a real child process): users and secrets round
 * trips in the users file, clear one-line errors with exit code 1, atomic writes that survive a
 * SIGKILL between temp write and rename, the lock under concurrent runs, and REST credential minting.
 * Needs `npm run build:server`.
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clisBuilt, runCli, type CliRun } from './cli-helpers.js';

const built = clisBuilt();
if (!built) console.warn('SKIPPING cli-turnadmin tests: dist/turn/cli/*.js missing; run `npm run build:server` first');

let dir: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'turnadmin-test-'));
  file = path.join(dir, 'users.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function admin(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli('turnadmin', args, { cwd: dir, env: { DATA_DIR: path.join(dir, 'data'), ...env } });
}

/** Assert a clean failure: exit code 1, exactly one line on stderr matching `re`. */
function expectError(r: CliRun, re: RegExp): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(re);
}

function readJson(): { version: number; users: { name: string; realm: string; key: string }[]; secrets: { value: string; added: string }[] } {
  return JSON.parse(readFileSync(file, 'utf8'));
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe.skipIf(!built)('turnadmin users', () => {
  it('adds, lists and deletes users; stores only MD5(name:realm:password); file mode 0600', async () => {
    let r = await admin(['--file', file, 'add-user', '-u', 'alice', '-p', 's3cret', '-r', 'example.org']);
    expect(r.code, r.stderr).toBe(0);
    r = await admin(['--file', file, 'add-user', '--user', 'bob', '--password', 'pw']); // realm default: webrtc-call
    expect(r.code, r.stderr).toBe(0);
    r = await admin(['add-user', '-u', 'carol', '-p', 'x', '--file', file], { TURN_REALM: 'corp.example' }); // realm from TURN_REALM, --file after the command
    expect(r.code, r.stderr).toBe(0);

    const data = readJson();
    expect(data.version).toBe(1);
    expect(data.users).toEqual([
      { name: 'alice', realm: 'example.org', key: md5('alice:example.org:s3cret') },
      { name: 'bob', realm: 'webrtc-call', key: md5('bob:webrtc-call:pw') },
      { name: 'carol', realm: 'corp.example', key: md5('carol:corp.example:x') },
    ]);
    expect(readFileSync(file, 'utf8')).not.toContain('s3cret');
    expect(statSync(file).mode & 0o777).toBe(0o600);

    r = await admin(['--file', file, 'list-users']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['alice\texample.org', 'bob\twebrtc-call', 'carol\tcorp.example']);
    expect(r.stdout).not.toContain(md5('alice:example.org:s3cret'));
    r = await admin(['--file', file, 'list-users', '--json']);
    expect(JSON.parse(r.stdout)).toEqual([
      { name: 'alice', realm: 'example.org' },
      { name: 'bob', realm: 'webrtc-call' },
      { name: 'carol', realm: 'corp.example' },
    ]);

    // The same name in another realm is a different user; delete matches name AND realm.
    r = await admin(['--file', file, 'add-user', '-u', 'alice', '-p', 'other']);
    expect(r.code, r.stderr).toBe(0);
    r = await admin(['--file', file, 'delete-user', '-u', 'alice', '-r', 'example.org']);
    expect(r.code, r.stderr).toBe(0);
    r = await admin(['--file', file, 'delete-user', '-u', 'bob']);
    expect(r.code, r.stderr).toBe(0);
    expect(readJson().users.map((u) => `${u.name}@${u.realm}`)).toEqual(['carol@corp.example', 'alice@webrtc-call']);
    // No temp or lock files left behind.
    expect(readdirSync(dir).sort()).toEqual(['users.json']);
  });

  it('uses TURN_USERS_FILE, else <DATA_DIR>/turn-users.json, when --file is absent', async () => {
    let r = await admin(['add-user', '-u', 'dave', '-p', 'pw']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(dir, 'data', 'turn-users.json'), 'utf8')).users[0].name).toBe('dave');
    const custom = path.join(dir, 'custom.json');
    r = await admin(['add-user', '-u', 'erin', '-p', 'pw'], { TURN_USERS_FILE: custom });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(custom, 'utf8')).users[0].name).toBe('erin');
  });

  it('duplicate user → clear error, file unchanged', async () => {
    await admin(['--file', file, 'add-user', '-u', 'alice', '-p', 'a']);
    const before = readFileSync(file, 'utf8');
    const r = await admin(['--file', file, 'add-user', '-u', 'alice', '-p', 'b']);
    expectError(r, /^turnadmin: user "alice" already exists in realm "webrtc-call"/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('missing file → clear error for commands that do not create it', async () => {
    for (const args of [['list-users'], ['delete-user', '-u', 'x'], ['list-secrets'], ['remove-secret', 's']]) {
      const r = await admin(['--file', file, ...args]);
      expectError(r, /^turnadmin: users file not found: .*users\.json/);
    }
  });

  it('bad realm, bad user name, unknown user, bad arguments → clear errors', async () => {
    await admin(['--file', file, 'add-user', '-u', 'alice', '-p', 'a']);
    expectError(await admin(['--file', file, 'add-user', '-u', 'x', '-p', 'a', '-r', 'bad"realm']), /^turnadmin: bad realm/);
    expectError(await admin(['--file', file, 'add-user', '-u', 'x', '-p', 'a', '-r', 'r'.repeat(128)]), /^turnadmin: bad realm .*128/);
    expectError(await admin(['--file', file, 'add-user', '-u', 'x', '-p', 'a', '-r', 'tab\there']), /^turnadmin: bad realm .*control/);
    expectError(await admin(['--file', file, 'add-user', '-u', 'x', '-p', 'a'], { TURN_REALM: ' padded' }), /^turnadmin: bad realm .*whitespace/);
    expectError(await admin(['--file', file, 'delete-user', '-u', 'x', '-r', 'a\\b']), /^turnadmin: bad realm/);
    expectError(await admin(['--file', file, 'add-user', '-u', '1700000000:mallory', '-p', 'a']), /^turnadmin: bad user name .*":"/);
    expectError(await admin(['--file', file, 'delete-user', '-u', 'nobody']), /^turnadmin: unknown user "nobody" in realm "webrtc-call"/);
    expectError(await admin(['--file', file, 'delete-user', '-u', 'alice', '-r', 'other.realm']), /^turnadmin: unknown user "alice" in realm "other.realm"/);
    expectError(await admin(['--file', file, 'add-user', '-u', 'x']), /required option '-p, --password/);
    expectError(await admin(['--file', file, 'frobnicate']), /unknown command 'frobnicate'/);
    expectError(await admin(['--file', file, 'mint', '-u', 'u', '--ttl', 'soon']), /--ttl.*'soon' is invalid/);
    expectError(await admin(['--file', file, 'add-user', '-u', 'y', '-p', 'a'], { HTTPS_PORT: '99999' }), /^turnadmin: Invalid configuration: HTTPS_PORT/);
    expect(readJson().users).toHaveLength(1);
  });

  it('malformed file → clear error, file left untouched', async () => {
    writeFileSync(file, '{"version": 1, "users": [ {"name": "a"');
    expectError(await admin(['--file', file, 'list-users']), /^turnadmin: users file .* is malformed/);
    expectError(await admin(['--file', file, 'add-user', '-u', 'b', '-p', 'x']), /is malformed/);
    writeFileSync(file, JSON.stringify({ version: 2, users: [] }));
    expectError(await admin(['--file', file, 'add-user', '-u', 'b', '-p', 'x']), /is malformed: version/);
    expect(JSON.parse(readFileSync(file, 'utf8')).version).toBe(2);
  });
});

describe.skipIf(!built)('turnadmin secrets', () => {
  it('adds (newest first), lists and removes secrets; several stay valid at once', async () => {
    expect((await admin(['--file', file, 'add-secret', 'first-secret'])).code).toBe(0);
    expect((await admin(['--file', file, 'add-secret', 'second-secret'])).code).toBe(0);
    let r = await admin(['--file', file, 'list-secrets']);
    expect(r.stdout.trim().split('\n').map((l) => l.split('\t')[0])).toEqual(['second-secret', 'first-secret']);
    for (const s of readJson().secrets) expect(Number.isNaN(Date.parse(s.added))).toBe(false);
    expectError(await admin(['--file', file, 'add-secret', 'first-secret']), /^turnadmin: secret already exists/);
    expectError(await admin(['--file', file, 'remove-secret', 'nope']), /^turnadmin: unknown secret/);
    expectError(await admin(['--file', file, 'add-secret', '']), /^turnadmin: bad secret/);
    r = await admin(['--file', file, 'remove-secret', 'first-secret']);
    expect(r.code, r.stderr).toBe(0);
    r = await admin(['--file', file, 'list-secrets', '--json']);
    expect(JSON.parse(r.stdout).map((s: { value: string }) => s.value)).toEqual(['second-secret']);
    // Users and secrets live side by side.
    await admin(['--file', file, 'add-user', '-u', 'alice', '-p', 'a']);
    expect(readJson()).toMatchObject({ version: 1, users: [{ name: 'alice' }], secrets: [{ value: 'second-secret' }] });
  });
});

describe.skipIf(!built)('turnadmin atomic writes', () => {
  it('a crash (SIGKILL) between temp write and rename leaves the old file intact and valid', async () => {
    await admin(['--file', file, 'add-user', '-u', 'alice', '-p', 'a']);
    await admin(['--file', file, 'add-secret', 'keep-me']);
    const before = readFileSync(file, 'utf8');
    const r = await admin(['--file', file, 'add-user', '-u', 'bob', '-p', 'b'], { TURNADMIN_TEST_CRASH_BEFORE_RENAME: '1' });
    expect(r.signal).toBe('SIGKILL');
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(readJson()).toMatchObject({ users: [{ name: 'alice' }], secrets: [{ value: 'keep-me' }] });
    // The next run breaks the dead process's lock and works.
    const again = await admin(['--file', file, 'add-user', '-u', 'bob', '-p', 'b']);
    expect(again.code, again.stderr).toBe(0);
    expect(readJson().users.map((u) => u.name)).toEqual(['alice', 'bob']);
    // ...and removes the dead process's temp file.
    expect(readdirSync(dir).filter((f) => f !== 'data')).toEqual(['users.json']);
  });

  it('concurrent runs do not lose updates (lock file)', async () => {
    const names = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
    const runs = await Promise.all(names.map((n) => admin(['--file', file, 'add-user', '-u', n, '-p', 'pw'])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(readJson().users.map((u) => u.name).sort()).toEqual(names);
    expect(readdirSync(dir).filter((f) => f !== 'data').sort()).toEqual(['users.json']);
  });
});

describe.skipIf(!built)('turnadmin mint', () => {
  const verify = (json: string, secret: string, userId: string, ttl: number) => {
    const cred = JSON.parse(json) as { username: string; password: string; ttl: number };
    const [expiry, id] = cred.username.split(':');
    expect(id).toBe(userId);
    const now = Math.floor(Date.now() / 1000);
    expect(Number(expiry)).toBeGreaterThanOrEqual(now + ttl - 5);
    expect(Number(expiry)).toBeLessThanOrEqual(now + ttl + 1);
    expect(cred.ttl).toBe(ttl);
    expect(cred.password).toBe(createHmac('sha1', secret).update(cred.username).digest('base64'));
    return cred;
  };

  it('--secret: credential verifies (HMAC-SHA1 recomputed)', async () => {
    const r = await admin(['--file', file, 'mint', '-u', 'page42', '--ttl', '120', '--secret', 'explicit']);
    expect(r.code, r.stderr).toBe(0);
    verify(r.stdout, 'explicit', 'page42', 120);
  });

  it('secret order: TURN_SECRET first, else the users file, else <DATA_DIR>/turn-secret', async () => {
    await admin(['--file', file, 'add-secret', 'old-file-secret']);
    await admin(['--file', file, 'add-secret', 'new-file-secret']);
    let r = await admin(['--file', file, 'mint', '-u', 'a'], { TURN_SECRET: 'env-one,env-two', TURN_CREDENTIAL_TTL: '300' });
    expect(r.code, r.stderr).toBe(0);
    verify(r.stdout, 'env-one', 'a', 300);
    r = await admin(['--file', file, 'mint', '-u', 'b', '--ttl', '60']);
    verify(r.stdout, 'new-file-secret', 'b', 60);
    // No TURN_SECRET and no file: the relay's persisted secret (created like the relay does).
    r = await admin(['--file', path.join(dir, 'absent.json'), 'mint', '-u', 'c']);
    expect(r.code, r.stderr).toBe(0);
    const persisted = readFileSync(path.join(dir, 'data', 'turn-secret'), 'utf8').trim();
    expect(persisted.length).toBeGreaterThan(20);
    verify(r.stdout, persisted, 'c', 86_400);
  });

  it('bad user id → clear error', async () => {
    expectError(await admin(['--file', file, 'mint', '-u', 'a:b', '--secret', 's']), /^turnadmin: user id must not contain ":"/);
    expectError(await admin(['--file', file, 'mint', '--secret', 's']), /required option '-u, --user/);
  });
});
