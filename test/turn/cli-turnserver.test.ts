/**
 * The coturn-style `turnserver` command without a relay running: coturn's address ranges become
 * CIDRs, every supported coturn option is in README's table, and bad input (a coturn SQLite userdb,
 * malformed users, secrets or addresses) is one line with exit code 1 before anything listens. The
 * relay itself is exercised with coturn's client in test/interop/turnserver-coturn.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COTURN_OPTIONS, configKey } from '../../turn/cli/coturnOptions.js';
import { peerSpecToCidrs, rangeToCidrs } from '../../turn/cli/ipRanges.js';
import { clisBuilt, runCli, ROOT } from './cli-helpers.js';

describe("coturn's peer address forms", () => {
  it.each([
    ['10.0.0.0', '10.0.0.255', ['10.0.0.0/24']],
    ['10.0.0.1', '10.0.0.6', ['10.0.0.1/32', '10.0.0.2/31', '10.0.0.4/31', '10.0.0.6/32']],
    ['192.168.1.7', '192.168.1.7', ['192.168.1.7/32']],
    ['0.0.0.0', '255.255.255.255', ['0.0.0.0/0']],
    ['2001:db8::', '2001:db8::ffff', ['2001:db8:0:0:0:0:0:0/112']],
    ['::ffff:10.0.0.0', '::ffff:10.0.0.3', ['0:0:0:0:0:ffff:a00:0/126']],
  ])('%s-%s → %j', (first, last, want) => {
    expect(rangeToCidrs(first, last)).toEqual(want);
  });

  it('single addresses, CIDRs and ranges; bad ones are clear errors', () => {
    expect(peerSpecToCidrs('127.0.0.1')).toEqual(['127.0.0.1/32']);
    expect(peerSpecToCidrs('fd00::/8')).toEqual(['fd00::/8']);
    expect(peerSpecToCidrs(' 10.1.0.0 - 10.1.255.255 ')).toEqual(['10.1.0.0/16']);
    expect(() => peerSpecToCidrs('10.0.0.9-10.0.0.1')).toThrow(/first address is above the last/);
    expect(() => peerSpecToCidrs('10.0.0.1-::1')).toThrow(/two IPv4 or two IPv6/);
    expect(() => peerSpecToCidrs('10.0.0.0/33')).toThrow(/bad peer address/);
    expect(() => peerSpecToCidrs('example.com')).toThrow(/bad peer address/);
  });
});

describe('the option table', () => {
  it('config-file keys are unique', () => {
    const keys = COTURN_OPTIONS.map(configKey).filter((k) => k !== undefined);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("every coturn option that does something here is in README's coturn table", () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('| coturn option (`turnserver.conf` key) | here |'));
    // Supported ones, and those accepted because they are what happens here anyway.
    for (const o of COTURN_OPTIONS.filter((x) => !x.ignore && configKey(x))) {
      expect(table, configKey(o)).toContain(`\`${configKey(o)}`);
    }
  });
});

const built = clisBuilt();
if (!built) console.warn('SKIPPING turnserver CLI tests: dist/turn/cli/*.js missing; run `npm run build:server` first');

describe.skipIf(!built)('turnserver: bad input is one line, exit code 1, before anything listens', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'turnserver-cli-'));
    writeFileSync(path.join(dir, 'turndb'), 'SQLite format 3\u0000\u0000\u0000binary');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [['-n', '--userdb=turndb'], /^turnserver: users file .*turndb is malformed: .*coturn's SQLite database is not read here: add its users with turnadmin -a\)$/],
    [['-n', '-u', 'alice'], /^turnserver: --user: expected NAME:PASSWORD, got "alice"$/],
    [['-n', '-u', 'a:b:c', '-u', ' padded:pw'], /^turnserver: bad user name " padded": must not start or end with whitespace$/],
    [['-n', '--static-auth-secret=one,two'], /^turnserver: --static-auth-secret: a secret containing "," is not supported$/],
    [['-n', '-E', '127.0.0.1', '-E', '127.0.0.2'], /^turnserver: --relay-ip: one relay address is supported/],
    [['-n', '-X', '203.0.113.1/not-an-ip'], /^turnserver: --external-ip: expected PUBLIC or PUBLIC\/PRIVATE addresses/],
    [['-n', '--denied-peer-ip=10.0.0.9-10.0.0.1'], /^turnserver: bad address range 10\.0\.0\.9-10\.0\.0\.1/],
    [['-n', '--min-port=60000', '--max-port=50000'], /^turnserver: invalid option: --min-port \(TURN_MIN_PORT\): must not exceed TURN_MAX_PORT/],
    [['-n', '--realm'], /^turnserver: option '-r, --realm <realm>' argument missing$/],
  ])('%j', async (args, re) => {
    const r = await runCli('turnserver', args, { cwd: dir, env: { DATA_DIR: path.join(dir, 'data') }, timeoutMs: 30_000 });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(re);
  });
});
