/**
 * ICE servers of the pages (client/src/iceServers.ts) on fake timers: the first fetch and its
 * failures, freshness of TURN REST credentials (half their lifetime), renewal before they expire,
 * fresh ones before an ICE restart, a source that never answers, and the HTTP source.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  FIRST_FETCH_TIMEOUT_MS,
  httpIceServersSource,
  IceServersHttpError,
  IceServers,
  REFETCH_TIMEOUT_MS,
  RENEW_AT_FRACTION,
  RENEW_RETRY_MS,
  type IceServersResult,
  type IceServersSource,
} from '../../client/src/iceServers.js';

const TTL_S = 600;
const turn = (n: number): RTCIceServer => ({ urls: ['turn:relay.example.org:3478?transport=udp'], username: `${1000 + n}:u`, credential: `secret-${n}` });
const stun: RTCIceServer = { urls: ['stun:relay.example.org:3478'] };

/** A source that answers from a script: each call takes the next answer (a result, an error, or 'hang'). */
function scriptedSource(answers: (IceServersResult | Error | 'hang')[]) {
  const calls: number[] = [];
  const source: IceServersSource = {
    get: (signal) => {
      calls.push(Date.now());
      const a = answers.shift() ?? new Error('no more answers');
      if (a === 'hang') return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted'))));
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
  };
  return { source, calls };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('IceServers', () => {
  it('loads the servers; their credentials are fresh until half of their lifetime', async () => {
    const { source } = scriptedSource([{ iceServers: [stun, turn(1)], ttl: TTL_S }]);
    const ice = new IceServers(source);
    expect(ice.fresh()).toBe(false);
    expect(await ice.load()).toBeUndefined();
    expect(ice.servers).toEqual([stun, turn(1)]);
    expect(ice.hasTurn()).toBe(true);
    expect(ice.fresh()).toBe(true);
    vi.setSystemTime((TTL_S * 1000) / 2 - 1);
    expect(ice.fresh()).toBe(true);
    vi.setSystemTime((TTL_S * 1000) / 2);
    expect(ice.fresh()).toBe(false);
    ice.stop();
  });

  it('servers without credentials stay fresh and are never fetched again', async () => {
    const { source, calls } = scriptedSource([{ iceServers: [stun], ttl: TTL_S }]);
    const ice = new IceServers(source);
    await ice.load();
    expect(ice.hasTurn()).toBe(false);
    await vi.advanceTimersByTimeAsync(TTL_S * 1000 * 3);
    expect(ice.fresh()).toBe(true);
    await ice.ensureFresh();
    expect(calls).toEqual([0]);
  });

  it('renews the credentials before they expire and hands the new ones to the listeners', async () => {
    const { source, calls } = scriptedSource([
      { iceServers: [turn(1)], ttl: TTL_S },
      { iceServers: [turn(2)], ttl: TTL_S },
      { iceServers: [turn(3)], ttl: TTL_S },
    ]);
    const ice = new IceServers(source);
    const renewed: RTCIceServer[][] = [];
    ice.onRenewed((s) => renewed.push(s));
    await ice.load();
    const renewAt = RENEW_AT_FRACTION * TTL_S * 1000;
    await vi.advanceTimersByTimeAsync(renewAt - 1);
    expect(calls).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([0, renewAt]);
    expect(renewed).toEqual([[turn(2)]]);
    expect(ice.servers).toEqual([turn(2)]);
    // Fresh all along: the next renewal is due RENEW_AT_FRACTION of the lifetime after this one.
    expect(ice.fresh()).toBe(true);
    await vi.advanceTimersByTimeAsync(renewAt);
    expect(calls).toEqual([0, renewAt, 2 * renewAt]);
    expect(renewed).toEqual([[turn(2)], [turn(3)]]);
    ice.stop();
  });

  it('retries a failed renewal while the credentials are valid, then stops', async () => {
    const { source, calls } = scriptedSource([{ iceServers: [turn(1)], ttl: TTL_S }]); // every later call fails
    const ice = new IceServers(source);
    await ice.load();
    await vi.advanceTimersByTimeAsync(TTL_S * 1000 * 3);
    const renewAt = RENEW_AT_FRACTION * TTL_S * 1000;
    const expected = [0];
    for (let t = renewAt; t < TTL_S * 1000; t += RENEW_RETRY_MS) expected.push(t);
    expect(calls).toEqual(expected);
    expect(expected.at(-1)!).toBeGreaterThan(TTL_S * 1000 - 2 * RENEW_RETRY_MS);
    // The old servers stay.
    expect(ice.servers).toEqual([turn(1)]);
  });

  it('ensureFresh() does not fetch while fresh, fetches when stale, and keeps the old servers when that fails', async () => {
    const { source, calls } = scriptedSource([{ iceServers: [turn(1)], ttl: TTL_S }, new Error('HTTP 503'), { iceServers: [turn(2)], ttl: TTL_S }]);
    const ice = new IceServers(source);
    await ice.load();
    ice.stop(); // no background renewal in this test
    await ice.ensureFresh(); // stop() forgot them: fetch
    expect(calls).toEqual([0, 0]);
    expect(ice.servers).toEqual([]);
    await ice.ensureFresh();
    expect(calls).toEqual([0, 0, 0]);
    expect(ice.servers).toEqual([turn(2)]);
    await ice.ensureFresh();
    expect(calls).toHaveLength(3);
  });

  it('a source that never answers: the first load gives up after FIRST_FETCH_TIMEOUT_MS, a refetch after REFETCH_TIMEOUT_MS', async () => {
    const { source } = scriptedSource(['hang', { iceServers: [turn(1)], ttl: 1 }, 'hang']);
    const ice = new IceServers(source);
    const first = ice.load();
    let reason: string | undefined = 'pending';
    void first.then((r) => (reason = r));
    await vi.advanceTimersByTimeAsync(FIRST_FETCH_TIMEOUT_MS - 1);
    expect(reason).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(reason).toBe('timed out');
    expect(ice.servers).toEqual([]);

    expect(await ice.load()).toBeUndefined();
    ice.stop();
    const startedAt = Date.now();
    let done = false;
    void ice.ensureFresh().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(REFETCH_TIMEOUT_MS - 1);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
    expect(Date.now() - startedAt).toBe(REFETCH_TIMEOUT_MS);
  });

  it('stop() during a fetch: its answer is not taken', async () => {
    let answer!: (r: IceServersResult) => void;
    const ice = new IceServers({ get: () => new Promise((resolve) => (answer = resolve)) });
    const loading = ice.load();
    ice.stop();
    answer({ iceServers: [turn(1)], ttl: TTL_S });
    expect(await loading).toBeUndefined();
    expect(ice.servers).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('accept(): servers handed over with joined are used at once and renewed from the source at 40 % of their lifetime (listeners get the renewal)', async () => {
    const { source, calls } = scriptedSource([{ iceServers: [turn(2)], ttl: 4 }]);
    const ice = new IceServers(source);
    const seen: RTCIceServer[][] = [];
    ice.onRenewed((s) => seen.push(s));
    ice.accept({ iceServers: [], ttl: 4 }); // an empty answer changes nothing
    expect(ice.servers).toEqual([]);
    ice.accept({ iceServers: [stun, turn(1)], ttl: 4 });
    expect(ice.servers).toEqual([stun, turn(1)]);
    expect(ice.fresh()).toBe(true);
    expect(seen).toEqual([]);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(RENEW_AT_FRACTION * 4000);
    expect(calls).toEqual([RENEW_AT_FRACTION * 4000]);
    expect(ice.servers).toEqual([turn(2)]);
    expect(seen.at(-1)).toEqual([turn(2)]);
    ice.stop();
  });

  it('load() failure says why', async () => {
    const ice = new IceServers(scriptedSource([new Error('HTTP 503')]).source);
    expect(await ice.load()).toBe('HTTP 503');
    expect(ice.servers).toEqual([]);
    expect(ice.fresh()).toBe(false);
  });
});

describe('httpIceServersSource', () => {
  it('GETs /api/ice-servers uncached and checks the body', async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify({ iceServers: [{ urls: 'stun:a.example' }, { urls: 5 }], ttl: 60 }), { status: 200 }));
    vi.stubGlobal('fetch', fetchMock);
    const result = await httpIceServersSource().get();
    expect(result).toEqual({ iceServers: [{ urls: ['stun:a.example'] }], ttl: 60 });
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/ice-servers');
    expect(init.cache).toBe('no-store');
  });

  it('sends the tester token as a bearer token; a refusal carries the server code', async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify({ error: 'x', code: 'wrong-token' }), { status: 401 }));
    vi.stubGlobal('fetch', fetchMock);
    const err = await httpIceServersSource(undefined, undefined, 'tok-0123456789abcdef').get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IceServersHttpError);
    expect(err).toMatchObject({ status: 401, code: 'wrong-token', message: 'HTTP 401 wrong-token' });
    const [, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect((init.headers as Record<string, string>).authorization).toBe('Bearer tok-0123456789abcdef');
    await httpIceServersSource().get().catch(() => undefined);
    const [, plain] = fetchMock.mock.calls[1] as unknown as [string, RequestInit];
    expect((plain.headers as Record<string, string>).authorization).toBeUndefined();
  });

  it('throws short reasons: HTTP status, a body without servers', async () => {
    vi.stubGlobal('fetch', async () => new Response('{"error":"x"}', { status: 503 }));
    await expect(httpIceServersSource().get()).rejects.toThrow(/^HTTP 503$/);
    vi.stubGlobal('fetch', async () => new Response('{"nothing":1}', { status: 200 }));
    await expect(httpIceServersSource().get()).rejects.toThrow(/no iceServers/);
  });

  it("aborts the request when the caller's signal aborts, and after its own timeout", async () => {
    const seen: AbortSignal[] = [];
    vi.stubGlobal('fetch', (_url: string, init: RequestInit) => {
      seen.push(init.signal!);
      return new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
    });
    const ctrl = new AbortController();
    const byCaller = httpIceServersSource().get(ctrl.signal);
    ctrl.abort();
    await expect(byCaller).rejects.toThrow(/aborted/);
    const byTimeout = httpIceServersSource('/x', 2000).get();
    const settled = expect(byTimeout).rejects.toThrow(/aborted/);
    await vi.advanceTimersByTimeAsync(1999);
    expect(seen[1]!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await settled;
  });
});
