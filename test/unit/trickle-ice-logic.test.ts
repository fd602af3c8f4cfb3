/**
 * The trickle-ICE page's pure logic (no browser): ICE URL validation (RFC 7064/7065), priority
 * split (RFC 8445 §5.1.2.1), candidate rows, verdict attribution as measured with Chromium 156,
 * saved-state merging and the export's password redaction.
 */
import { describe, expect, it } from 'vitest';
import { candidateRow, parseCandidateLine, relayProtocolFromTypePreference, splitPriority, type CandidateErrorRow, type CandidateRow } from '../../client/src/trickle-ice/candidates.js';
import { parseIceUrl, validateServerEntry, splitUrls } from '../../client/src/trickle-ice/iceUrl.js';
import { buildReport, REDACTED } from '../../client/src/trickle-ice/report.js';
import { deploymentEntries, loadState, mergeWithDefaults, saveState, STORAGE_KEY, type ServerEntry } from '../../client/src/trickle-ice/store.js';
import { computeVerdicts } from '../../client/src/trickle-ice/verdict.js';
import { fragmentWithoutToken, storedToken, storeToken, tokenFromFragment, TOKEN_STORAGE_KEY } from '../../client/src/trickle-ice/testerToken.js';

describe('parseIceUrl', () => {
  it('parses stun:, turn: and turns: with defaults', () => {
    expect(parseIceUrl('stun:stun.example.org')).toMatchObject({ scheme: 'stun', host: 'stun.example.org', port: 3478, transport: 'udp', explicitPort: false });
    expect(parseIceUrl('turn:10.0.0.1:3479?transport=tcp')).toMatchObject({ scheme: 'turn', host: '10.0.0.1', port: 3479, transport: 'tcp' });
    expect(parseIceUrl('turns:relay.example.org')).toMatchObject({ scheme: 'turns', port: 5349, transport: 'tcp' });
    expect(parseIceUrl('TURN:[2001:DB8::1]:443?transport=UDP')).toMatchObject({ scheme: 'turn', host: '2001:db8::1', port: 443, transport: 'udp' });
  });

  it.each([
    ['turn://example.org:3478', /remove the "\/\/"/],
    ['example.org:3478', /no scheme|unsupported scheme/],
    ['http://example.org', /unsupported scheme/],
    ['stuns:example.org', /not supported by browsers/],
    ['turn:', /host is missing/],
    ['turn:example.org:0', /port "0" must be a number from 1 to 65535/],
    ['turn:example.org:70000', /1 to 65535/],
    ['turn:example.org:abc', /port "abc"/],
    ['stun:example.org?transport=udp', /stun: URLs take no/],
    ['turn:example.org?transport=sctp', /only query allowed/],
    ['turns:example.org?transport=udp', /turns: over udp/],
    ['turn:2001:db8::1:3478', /in brackets/],
    ['turn:user:pw@example.org', /credentials do not go into the URL|brackets/],
    ['turn:256.1.1.1', /not a valid host/],
    ['turn:bad_host', /not a valid host/],
    ['turn:[2001:db8::1', /closing "\]"/],
  ])('refuses %s with a clear message', (url, re) => {
    expect(() => parseIceUrl(url)).toThrow(re);
  });

  it('validates whole entries: TURN needs credentials', () => {
    expect(validateServerEntry({ urls: ['stun:example.org'] })).toEqual([]);
    expect(validateServerEntry({ urls: ['turn:example.org'] })[0]).toMatch(/need a username and a password/);
    expect(validateServerEntry({ urls: ['turn:example.org'], username: 'u', credential: 'p' })).toEqual([]);
    expect(validateServerEntry({ urls: [] })[0]).toMatch(/at least one URL/);
    expect(splitUrls(' stun:a.org, turn:b.org\nturns:c.org ')).toEqual(['stun:a.org', 'turn:b.org', 'turns:c.org']);
  });
});

describe('candidates', () => {
  it('splits priorities per RFC 8445 §5.1.2.1', () => {
    // Chromium host candidate: 126 << 24 | 30 << 8 | 255
    expect(splitPriority(2113937151)).toEqual({ typePreference: 126, localPreference: 30, componentPart: 255, component: 1 });
    expect(splitPriority(126 * 2 ** 24 + 65535 * 256 + 254)).toEqual({ typePreference: 126, localPreference: 65535, componentPart: 254, component: 2 });
    expect(() => splitPriority(-1)).toThrow(RangeError);
    expect(() => splitPriority(2 ** 32)).toThrow(RangeError);
  });

  it('infers relay protocol: browser field, then URL, then type preference', () => {
    expect([0, 1, 2, 3].map(relayProtocolFromTypePreference)).toEqual(['tls', 'tcp', 'udp', 'udp']);
    const line = 'candidate:1 1 udp 16785407 203.0.113.1 50000 typ relay raddr 198.51.100.2 rport 40000 generation 0';
    expect(candidateRow({ candidate: line, relayProtocol: 'tls' }, 5, 0)).toMatchObject({ relayProtocol: 'tls', relayProtocolSource: 'browser' });
    expect(candidateRow({ candidate: line, url: 'turns:r.example.org:5349?transport=tcp' }, 5, 0)).toMatchObject({ relayProtocol: 'tls', relayProtocolSource: 'url' });
    expect(candidateRow({ candidate: line }, 5, 0, null)).toMatchObject({
      relayProtocol: 'tcp',
      relayProtocolSource: 'priority',
      address: '203.0.113.1',
      port: 50000,
      relatedAddress: '198.51.100.2',
      relatedPort: 40000,
      typePreference: 1,
      component: 1,
    });
  });

  it('parses candidate lines and unbrackets IPv6 addresses', () => {
    expect(parseCandidateLine('a=candidate:9 1 tcp 1518280447 192.0.2.2 9 typ host tcptype active')).toMatchObject({ protocol: 'tcp', tcpType: 'active', port: 9 });
    expect(parseCandidateLine('not a candidate')).toBeUndefined();
    const row = candidateRow({ candidate: 'candidate:8 1 udp 2113942271 fd00::2 56730 typ host', address: '[fd00::2]', component: 'rtp' }, 1.4, 2);
    expect(row).toMatchObject({ address: 'fd00::2', entry: 2, elapsedMs: 1, type: 'host', relayProtocol: null });
  });
});

function row(p: Partial<CandidateRow>): CandidateRow {
  return {
    elapsedMs: 1, entry: 0, component: 1, type: 'host', foundation: 'f', protocol: 'udp', address: '192.0.2.2', port: 5000,
    priority: 1, typePreference: 0, localPreference: 0, componentPart: 255, relatedAddress: null, relatedPort: null,
    tcpType: null, relayProtocol: null, relayProtocolSource: null, url: null, candidate: '', ...p,
  };
}
function err(p: Partial<CandidateErrorRow>): CandidateErrorRow {
  return { elapsedMs: 1, entry: 0, url: '', errorCode: 701, errorText: 'STUN binding request timed out.', address: null, port: null, ...p };
}

describe('computeVerdicts', () => {
  const stun = 'stun:127.0.0.1:3478';
  const udp = 'turn:127.0.0.1:3478?transport=udp';
  const tcp = 'turn:127.0.0.1:3478?transport=tcp';
  const tls = 'turns:127.0.0.1:5349?transport=tcp';
  const base = { entry: 0, policy: 'all' as const, complete: true };

  it('OK verdicts from srflx and relay candidates (srflx attributed by endpoint)', () => {
    const v = computeVerdicts({
      ...base,
      urls: [stun, udp, tcp],
      rows: [row({}), row({ type: 'srflx', url: stun, address: '127.0.0.1' }), row({ type: 'relay', url: udp, relayProtocol: 'udp' }), row({ type: 'relay', url: tcp, relayProtocol: 'tcp' })],
      errors: [],
    });
    expect(v.map((x) => [x.status, x.text.split(' (')[0]])).toEqual([
      ['ok', 'STUN OK'],
      ['ok', 'TURN OK over udp'],
      ['ok', 'TURN OK over tcp'],
    ]);
  });

  it('401 → authentication failed; 701 reported for stun:host:port → TURN udp not reachable; silent TCP → not reachable', () => {
    const v = computeVerdicts({
      ...base,
      urls: [udp, 'turn:127.0.0.1:9?transport=udp', 'turn:127.0.0.1:9?transport=tcp', tls],
      rows: [row({})],
      errors: [err({ url: udp, errorCode: 401, errorText: 'Unauthorized.' }), err({ url: 'stun:127.0.0.1:9' })],
    });
    expect(v[0]).toMatchObject({ status: 'fail', errorCode: 401 });
    expect(v[0]!.text).toMatch(/^authentication failed \(401\)/);
    expect(v[1]).toMatchObject({ status: 'fail', text: 'not reachable (timeout)', errorCode: 701 });
    expect(v[2]!.text).toMatch(/^not reachable \(no relay candidate and no error reported: the TCP connection/);
    expect(v[3]!.text).toMatch(/TLS connection/);
  });

  it('no srflx from a STUN server on the same network → warning; relay policy → skipped; unfinished → pending or timeout', () => {
    expect(computeVerdicts({ ...base, urls: [stun], rows: [row({})], errors: [] })[0]).toMatchObject({ status: 'warn', text: expect.stringMatching(/^STUN: no srflx \(same as host\?\)/) });
    expect(computeVerdicts({ ...base, policy: 'relay', urls: [stun], rows: [], errors: [] })[0]!.status).toBe('skip');
    expect(computeVerdicts({ ...base, complete: false, urls: [udp], rows: [], errors: [] })[0]!.status).toBe('pending');
    expect(computeVerdicts({ ...base, complete: false, timedOutAfterS: 5, urls: [udp], rows: [], errors: [] })[0]).toMatchObject({ status: 'fail', text: 'not reachable (no answer within 5 s)' });
    expect(computeVerdicts({ ...base, refused: 'bad', urls: [udp], rows: [], errors: [] })[0]!.text).toMatch(/refused/);
  });
});

describe('saved state', () => {
  const dep = (u: string, user = 'new'): ServerEntry => ({ urls: [u], username: user, credential: 'c', origin: 'deployment' });
  it('replaces stale deployment entries with fresh ones in place, keeps user entries and removals', () => {
    const saved: ServerEntry[] = [{ urls: ['stun:a.org'], origin: 'user' }, dep('turn:x', 'old'), dep('stun:x', 'old')];
    const fresh = [dep('stun:x'), dep('turn:x')];
    expect(mergeWithDefaults(saved, fresh)).toEqual([saved[0], ...fresh]);
    expect(mergeWithDefaults(undefined, fresh)).toEqual(fresh);
    expect(mergeWithDefaults([saved[0]!], fresh)).toEqual([saved[0]]);
    expect(mergeWithDefaults(saved, undefined)).toEqual(saved);
  });

  it('round-trips through storage and ignores garbage', () => {
    const m = new Map<string, string>();
    const storage = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
    expect(loadState(storage)).toBeUndefined();
    m.set(STORAGE_KEY, '{not json');
    expect(loadState(storage)).toBeUndefined();
    saveState(storage, { servers: [dep('turn:x')], options: { policy: 'relay', poolSize: 2, getUserMedia: true, timeoutS: 10 } });
    expect(loadState(storage)).toEqual({ servers: [dep('turn:x')], options: { policy: 'relay', poolSize: 2, getUserMedia: true, timeoutS: 10 } });
    m.set(STORAGE_KEY, JSON.stringify({ servers: [{ urls: 'x' }, dep('stun:y')], options: { poolSize: 99 } }));
    expect(loadState(storage)).toEqual({ servers: [dep('stun:y')], options: { policy: 'all', poolSize: 0, getUserMedia: false, timeoutS: 45 } });
    expect(deploymentEntries([{ urls: 'stun:a' }, { urls: [] }, null, { urls: ['turn:b'], username: 'u', credential: 'p' }])).toEqual([
      { urls: ['stun:a'], origin: 'deployment' },
      { urls: ['turn:b'], username: 'u', credential: 'p', origin: 'deployment' },
    ]);
  });

  it('export redacts every password', () => {
    const r = buildReport({ servers: [dep('turn:x')], options: { policy: 'all', poolSize: 0, getUserMedia: false, timeoutS: 45 }, userAgent: 'ua', page: 'p' });
    expect(r.servers[0]).toEqual({ urls: ['turn:x'], username: 'new', credential: REDACTED, origin: 'deployment' });
    expect(JSON.stringify(r)).not.toContain('"c"');
  });
});

describe('tester token', () => {
  it('is read from #token= and removed from the fragment, other parameters kept', () => {
    expect(tokenFromFragment('#token=abc%2B1')).toBe('abc+1');
    expect(tokenFromFragment('#x=1&token=t0k')).toBe('t0k');
    expect(tokenFromFragment('#token=')).toBeUndefined();
    expect(tokenFromFragment('')).toBeUndefined();
    expect(fragmentWithoutToken('#token=t0k')).toBe('');
    expect(fragmentWithoutToken('#x=1&token=t0k')).toBe('#x=1');
  });

  it('is kept in (session) storage; an empty one is forgotten; a broken storage is survived', () => {
    const m = new Map<string, string>();
    const storage = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
    storeToken(storage, 't0k');
    expect(m.get(TOKEN_STORAGE_KEY)).toBe('t0k');
    expect(storedToken(storage)).toBe('t0k');
    storeToken(storage, undefined);
    expect(storedToken(storage)).toBeUndefined();
    const broken = { getItem: () => { throw new Error('denied'); }, setItem: () => { throw new Error('denied'); }, removeItem: () => { throw new Error('denied'); } };
    expect(storedToken(broken)).toBeUndefined();
    expect(() => storeToken(broken, 'x')).not.toThrow();
  });
});
