/**
 * `turnadmin` (dist/turn/cli/turnadmin.js, run as a real child process): users and secrets round
 * trips in the users file, coturn's spelling (-a -d -l -k -s -S -X, -b), the secret set (added,
 * TURN_SECRET, generated; masked listing; what may be removed), clear one-line errors with exit code
 * 1, atomic writes that survive a SIGKILL between temp write and rename, the lock under concurrent
 * runs, and REST credential minting. Needs `npm run build:server`.
 */
import { createHash, createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
    for (const args of [['list-users'], ['delete-user', '-u', 'x'], ['remove-secret', 's'], ['-l'], ['-d', '-u', 'x']]) {
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

const sid = (v: string) => createHash('sha256').update(v).digest('hex').slice(0, 8);
interface Listed {
  id: string;
  masked: string;
  source: string;
  added: string | null;
  newest: boolean;
}
const listed = async (env: Record<string, string> = {}): Promise<Listed[]> => {
  const r = await admin(['--file', file, 'list-secrets', '--json'], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Listed[];
};

describe.skipIf(!built)('turnadmin secrets', () => {
  const S1 = 'first-secret-0123456789';
  const S2 = 'second-secret-0123456789';

  it('adds (newest first), lists masked, removes by value or id; refuses short, duplicate, unknown and the last one', async () => {
    expect((await admin(['--file', file, 'add-secret', S1])).code).toBe(0);
    expect((await admin(['--file', file, 'add-secret', S2])).code).toBe(0);
    const list = await listed();
    expect(list.map((e) => [e.id, e.source, e.newest])).toEqual([
      [sid(S2), 'added', true],
      [sid(S1), 'added', false],
    ]);
    for (const e of list) expect(Number.isNaN(Date.parse(e.added!))).toBe(false);
    const text = await admin(['--file', file, 'list-secrets']);
    expect(text.stdout).not.toContain(S1);
    expect(text.stdout).not.toContain(S2);
    expect(text.stdout).toContain(sid(S2));
    for (const s of readJson().secrets) expect(Number.isNaN(Date.parse(s.added))).toBe(false);
    expectError(await admin(['--file', file, 'add-secret', S1]), /^turnadmin: secret already exists/);
    expectError(await admin(['--file', file, 'add-secret', 'short-secret']), /^turnadmin: secret too short: at least 16 characters/);
    expectError(await admin(['--file', file, 'remove-secret', 'nope-not-a-secret']), /^turnadmin: unknown secret/);
    expectError(await admin(['--file', file, 'add-secret', '']), /^turnadmin: bad secret/);
    let r = await admin(['--file', file, 'remove-secret', sid(S1)]);
    expect(r.code, r.stderr).toBe(0);
    expect((await listed()).map((e) => e.id)).toEqual([sid(S2)]);
    // The last secret in use cannot go: nothing could sign or verify credentials any more.
    expectError(await admin(['--file', file, 'remove-secret', S2]), /^turnadmin: secret [0-9a-f]{8} is the only one in use: add a new one first/);
    // Users and secrets live side by side.
    await admin(['--file', file, 'add-user', '-u', 'alice', '-p', 'a']);
    expect(readJson()).toMatchObject({ version: 1, users: [{ name: 'alice' }], secrets: [{ value: S2 }] });
    r = await admin(['--file', file, 'remove-secret', S2], { TURN_SECRET: 'configured-secret-0123456789' });
    expect(r.code, r.stderr).toBe(0);
  });

  it('TURN_SECRET is listed and used, but only the environment removes it', async () => {
    const env = { TURN_SECRET: 'env-secret-one-0123456789,env-secret-two-0123456789' };
    await admin(['--file', file, 'add-secret', S1], env);
    expect((await listed(env)).map((e) => [e.id, e.source])).toEqual([
      [sid(S1), 'added'],
      [sid('env-secret-one-0123456789'), 'configured'],
      [sid('env-secret-two-0123456789'), 'configured'],
    ]);
    expectError(await admin(['--file', file, 'remove-secret', 'env-secret-two-0123456789'], env), /^turnadmin: secret [0-9a-f]{8} is set in TURN_SECRET .* remove it there and restart/);
    expectError(await admin(['--file', file, 'add-secret', 'env-secret-one-0123456789'], env), /^turnadmin: secret already exists/);
    // With TURN_SECRET set, no secret is generated.
    expect(existsSync(path.join(dir, 'data', 'turn-secret'))).toBe(false);
  });

  it('the generated secret (DATA_DIR/turn-secret) is listed, and removable once another one exists', async () => {
    const minted = await admin(['--file', file, 'mint']);
    expect(minted.code, minted.stderr).toBe(0);
    const generatedFile = path.join(dir, 'data', 'turn-secret');
    const generated = readFileSync(generatedFile, 'utf8').trim();
    expect(statSync(generatedFile).mode & 0o777).toBe(0o600);
    expect((await listed()).map((e) => [e.id, e.source])).toEqual([[sid(generated), 'generated']]);
    expectError(await admin(['--file', file, 'remove-secret', generated]), /is the only one in use/);
    await admin(['--file', file, '-s', S1]); // coturn's spelling of add-secret
    expect((await listed()).map((e) => [e.id, e.source, e.newest])).toEqual([
      [sid(S1), 'added', true],
      [sid(generated), 'generated', false],
    ]);
    const r = await admin(['--file', file, 'remove-secret', generated]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed secret [0-9a-f]{8} \(generated\)/);
    expect(existsSync(generatedFile)).toBe(false);
    expect((await listed()).map((e) => e.id)).toEqual([sid(S1)]);
  });
});

describe.skipIf(!built)("turnadmin in coturn's spelling", () => {
  it('-a adds or updates, -l lists name[realm], -k prints the key, -d deletes', async () => {
    let r = await admin(['-b', file, '-a', '-u', 'alice', '-r', 'example.org', '-p', 'pw1']);
    expect(r.code, r.stderr).toBe(0);
    r = await admin(['-a', '-u', 'alice', '-r', 'example.org', '-p', 'pw2', '--userdb', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^updated user alice/);
    expect(readJson().users).toEqual([{ name: 'alice', realm: 'example.org', key: md5('alice:example.org:pw2') }]);
    r = await admin(['-l', '-f', file]);
    expect(r.stdout.trim()).toBe('alice[example.org]');
    r = await admin(['-k', '-u', 'alice', '-r', 'example.org', '-p', 'pw2']);
    expect(r.stdout.trim()).toBe(`0x${md5('alice:example.org:pw2')}`);
    expect((await admin(['-d', '-u', 'alice', '-r', 'example.org', '-f', file])).code).toBe(0);
    expect(readJson().users).toEqual([]);
  });

  it('-s / --secret add, -S shows masked, -X removes', async () => {
    expect((await admin(['-f', file, '-s', 'coturn-secret-0123456789'])).code).toBe(0);
    expect((await admin(['-f', file, '--secret', 'coturn-secret-abcdefghij'])).code).toBe(0);
    const shown = await admin(['-f', file, '-S']);
    expect(shown.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual([sid('coturn-secret-abcdefghij'), sid('coturn-secret-0123456789')]);
    expect(shown.stdout).not.toContain('coturn-secret-');
    expect((await admin(['-f', file, '-X', 'coturn-secret-0123456789'])).code).toBe(0);
    expect((await listed()).map((e) => e.id)).toEqual([sid('coturn-secret-abcdefghij')]);
  });

  it('clear one-line errors: missing -u/-p, two commands, web-admin users, unknown options', async () => {
    expectError(await admin(['-f', file, '-a', '-u', 'x']), /^turnadmin: -a needs -p PASSWORD/);
    expectError(await admin(['-f', file, '-a', '-l', '-u', 'x', '-p', 'y']), /^turnadmin: give one command at a time/);
    expectError(await admin(['-A', '-u', 'admin', '-p', 'pw']), /^turnadmin: web-admin users .* not supported: the admin API uses a bearer token \(ADMIN_TOKEN/);
    expectError(await admin(['--lsit']), /^turnadmin: unknown option '--lsit' \(Did you mean --list\?\)/);
    expect(existsSync(file)).toBe(false);
  });

  it('-f into a directory that does not exist is refused; nothing is created', async () => {
    const typo = path.join(dir, 'no-such-dir', 'users.json');
    for (const args of [['-f', typo, 'add-user', '-u', 'a', '-p', 'b'], ['-a', '-u', 'a', '-p', 'b', '-b', typo], ['add-secret', 'typo-secret-0123456789', '--file', typo]]) {
      expectError(await admin(args), /^turnadmin: directory .*no-such-dir does not exist/);
    }
    expect(existsSync(path.join(dir, 'no-such-dir'))).toBe(false);
  });

  it('a file other than the relay\'s gets a note after success (never on errors)', async () => {
    const r = await admin(['-f', file, 'add-user', '-u', 'a', '-p', 'b']);
    expect(r.code).toBe(0);
    expect(r.stderr.trim()).toMatch(/^turnadmin: note: the relay reads .*turn-users\.json \(TURN_USERS_FILE\)/);
    const same = await admin(['-f', path.join(dir, 'data', 'turn-users.json'), 'add-user', '-u', 'a', '-p', 'b']);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).toBe('');
  });
});

describe.skipIf(!built)('turnadmin atomic writes', () => {
  it('a crash (SIGKILL) between temp write and rename leaves the old file intact and valid', async () => {
    await admin(['--file', file, 'add-user', '-u', 'alice', '-p', 'a']);
    await admin(['--file', file, 'add-secret', 'keep-me-0123456789abcdef']);
    const before = readFileSync(file, 'utf8');
    const r = await admin(['--file', file, 'add-user', '-u', 'bob', '-p', 'b'], { TURNADMIN_TEST_CRASH_BEFORE_RENAME: '1' });
    expect(r.signal).toBe('SIGKILL');
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(readJson()).toMatchObject({ users: [{ name: 'alice' }], secrets: [{ value: 'keep-me-0123456789abcdef' }] });
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

  it('signs with the newest secret in use: added, else TURN_SECRET, else the generated one (made as the web server would)', async () => {
    // No TURN_SECRET and no users file: the generated secret.
    let r = await admin(['--file', file, 'mint', '-u', 'c']);
    expect(r.code, r.stderr).toBe(0);
    const generated = readFileSync(path.join(dir, 'data', 'turn-secret'), 'utf8').trim();
    expect(generated.length).toBeGreaterThan(40);
    verify(r.stdout, generated, 'c', 600); // TURN_CREDENTIAL_TTL's default
    // TURN_SECRET replaces the generated one; its first entry is the newest.
    r = await admin(['--file', file, 'mint', '-u', 'a'], { TURN_SECRET: 'env-one-0123456789abc,env-two-0123456789abc', TURN_CREDENTIAL_TTL: '300' });
    verify(r.stdout, 'env-one-0123456789abc', 'a', 300);
    // A secret added with turnadmin is newer than both.
    await admin(['--file', file, 'add-secret', 'old-file-secret-0123456789']);
    await admin(['--file', file, 'add-secret', 'new-file-secret-0123456789']);
    r = await admin(['--file', file, 'mint', '-u', 'b', '--ttl', '60'], { TURN_SECRET: 'env-one-0123456789abc' });
    verify(r.stdout, 'new-file-secret-0123456789', 'b', 60);
    // Without -u: a random 12-hex user id, as GET /api/ice-servers makes.
    r = await admin(['--file', file, 'mint']);
    expect(JSON.parse(r.stdout).username).toMatch(/^\d+:[0-9a-f]{12}$/);
  });

  it('bad user id → clear error', async () => {
    expectError(await admin(['--file', file, 'mint', '-u', 'a:b', '--secret', 's']), /^turnadmin: user id must not contain ":"/);
  });
});
