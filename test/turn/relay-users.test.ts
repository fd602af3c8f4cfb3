/** Static users and extra secrets from the users file, picked up without restart; revoking a user. */
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hmacKey, type TurnServer, type UsersFile } from '../../turn/index.js';
import { StunClass } from '../../turn/stun/index.js';
import { REALM, TestClient, restCreds, sleep, startRelay } from './helpers.js';

let dir: string;
let file: string;
let relay: TurnServer;
let port: number;

/** Write atomically, as the turnadmin CLI does. */
function writeUsers(content: UsersFile | string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, typeof content === 'string' ? content : JSON.stringify(content));
  renameSync(tmp, file);
}

async function allocateAs(username: string, password: string): Promise<number | 'ok'> {
  const c = await TestClient.open(port, { username, password });
  try {
    const res = await c.allocate();
    if (res.cls === StunClass.SuccessResponse) {
      await c.refresh(0);
      return 'ok';
    }
    return res.getErrorCode()!.code;
  } finally {
    c.close();
  }
}

async function eventually(f: () => Promise<unknown>, expected: unknown, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    last = await f();
    if (last === expected) return;
    await sleep(200);
  }
  expect(last).toBe(expected);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'turn-users-'));
  file = path.join(dir, 'turn-users.json');
  // The file does not exist yet: no static users.
  ({ relay, port } = await startRelay({ usersFile: file, usersFilePollMs: 100 }));
});
afterAll(async () => {
  await relay.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('users file', () => {
  it('missing file: static user unknown; REST still works', async () => {
    expect(await allocateAs('alice', 'wonderland')).toBe(401);
    const r = restCreds();
    expect(await allocateAs(r.username, r.password)).toBe('ok');
  });

  it('adding a user takes effect without restart; other realms are ignored', async () => {
    writeUsers({
      version: 1,
      users: [
        { name: 'alice', realm: REALM, key: hmacKey('alice', REALM, 'wonderland') },
        { name: 'bob', realm: 'elsewhere', key: hmacKey('bob', 'elsewhere', 'builder') },
      ],
      secrets: [],
    });
    await eventually(() => allocateAs('alice', 'wonderland'), 'ok');
    expect(await allocateAs('alice', 'wrong')).toBe(401);
    expect(await allocateAs('bob', 'builder')).toBe(401);
  });

  it('a secret in the file is accepted in addition to the configured one (rotation)', async () => {
    const rotated = restCreds('carol', 3600, 'rotated-secret');
    expect(await allocateAs(rotated.username, rotated.password)).toBe(401);
    writeUsers({ version: 1, users: [{ name: 'alice', realm: REALM, key: hmacKey('alice', REALM, 'wonderland') }], secrets: [{ value: 'rotated-secret', added: new Date().toISOString() }] });
    await eventually(() => allocateAs(rotated.username, rotated.password), 'ok');
    const configured = restCreds();
    expect(await allocateAs(configured.username, configured.password)).toBe('ok');
  });

  it('a malformed file keeps the last good contents; removing a user revokes it', async () => {
    writeUsers('{"version":1,"users":[{"name":"al');
    await sleep(400);
    expect(await allocateAs('alice', 'wonderland')).toBe('ok');
    writeUsers({ version: 1, users: [], secrets: [] });
    await eventually(() => allocateAs('alice', 'wonderland'), 401);
  });

  it('revokeUser: removed from the file (lock, atomic, 0600; the rest kept) and its allocations ended at once', async () => {
    writeUsers({
      version: 1,
      users: [
        { name: 'dora', realm: REALM, key: hmacKey('dora', REALM, 'explorer') },
        { name: 'dora', realm: 'elsewhere', key: hmacKey('dora', 'elsewhere', 'explorer') },
        { name: 'erin', realm: REALM, key: hmacKey('erin', REALM, 'pw') },
      ],
      secrets: [{ value: 'kept-secret', added: new Date().toISOString() }],
    });
    await eventually(() => allocateAs('dora', 'explorer'), 'ok');
    const dora = await TestClient.open(port, { username: 'dora', password: 'explorer' });
    const rest = await TestClient.open(port, restCreds('dora'));
    try {
      await dora.allocateRelayed();
      await rest.allocateRelayed();
      expect(relay.revokeUser('dora')).toEqual({ removed: true, endedAllocations: 1 });
      const after = JSON.parse(readFileSync(file, 'utf8')) as UsersFile;
      expect(after.users.map((u) => `${u.name}@${u.realm}`)).toEqual(['dora@elsewhere', 'erin@test.realm']);
      expect(after.secrets.map((x) => x.value)).toEqual(['kept-secret']);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      // No waiting for the file poll: refused at once. The REST user "<expiry>:dora" is someone else.
      expect(await allocateAs('dora', 'explorer')).toBe(401);
      expect(relay.listAllocations().map((a) => a.username)).toEqual([rest.credentials!.username]);
      expect(relay.stats().allocations.current).toBe(1);
      expect(relay.revokeUser('dora')).toEqual({ removed: false, endedAllocations: 0 });
    } finally {
      dora.close();
      rest.close();
    }
  });
});
