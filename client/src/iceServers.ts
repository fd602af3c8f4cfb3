/**
 * ICE servers (STUN/TURN) for the pages, and the freshness of their TURN REST credentials.
 *
 * - {@link IceServersSource}: where the servers come from. The call page: the signaling
 *   connection (credentials come with `joined`, renewals with `ice-servers`, see call.ts); the
 *   trickle-ICE page: {@link httpIceServersSource} (`GET /api/ice-servers` with the tester token,
 *   body checked by `contracts/http.ts`).
 * - {@link IceServers}: the servers a call uses. TURN REST credentials expire (`ttl`), so they are
 *   fetched again before they get old ({@link RENEW_AT_FRACTION} of their lifetime) and before an
 *   ICE restart or a rebuild when they are past half of it ({@link IceServers.ensureFresh}).
 *   Listeners get every new set (the call gives it to its current peer connection).
 *
 * No DOM here; `fetch` and timers are used only when called.
 */
import { parseIceServersResponse } from '../../contracts/http.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';

/** ICE servers and how long their credentials stay valid. */
export interface IceServersResult {
  iceServers: RTCIceServer[];
  /** Seconds the credentials stay valid (0 when unknown). */
  ttl: number;
}

/** Where ICE servers come from. */
export interface IceServersSource {
  /**
   * The current ICE servers.
   * @param signal aborts the request (the caller's timeout); a source may ignore it.
   * @throws Error whose message says why in a few words ("HTTP 503", "no iceServers in the answer").
   */
  get(signal?: AbortSignal): Promise<IceServersResult>;
}

/** `GET /api/ice-servers` refused: HTTP status and the server's stable code (`IceServersRefusal`), if any. */
export class IceServersHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(code ? `HTTP ${status} ${code}` : `HTTP ${status}`);
    this.name = 'IceServersHttpError';
  }
}

/**
 * `GET url` (default `/api/ice-servers`, body `{ iceServers, ttl }`), uncached.
 * @param timeoutMs abort after this long (ms, default 5 000) even when the caller passes no signal.
 * @param token     tester token (`ICE_TOKEN`), sent as `Authorization: Bearer`.
 * @throws IceServersHttpError for a non-2xx answer (with the server's code when it sent one).
 */
export function httpIceServersSource(url = '/api/ice-servers', timeoutMs = 5000, token?: string): IceServersSource {
  return {
    async get(signal?: AbortSignal): Promise<IceServersResult> {
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), timeoutMs);
      const abort = () => ctrl.abort();
      signal?.addEventListener('abort', abort, { once: true });
      try {
        const headers: Record<string, string> = { accept: 'application/json' };
        if (token) headers.authorization = `Bearer ${token}`;
        const res = await fetch(url, { cache: 'no-store', signal: ctrl.signal, headers });
        if (!res.ok) {
          const body = (await res.json().catch(() => ({}))) as { code?: unknown };
          throw new IceServersHttpError(res.status, typeof body.code === 'string' ? body.code.slice(0, 40) : undefined);
        }
        return parseIceServersResponse(await res.json());
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
      }
    },
  };
}

/** A short reason for a failed fetch: "timed out" for an abort, else the error's message. */
export function fetchFailureReason(err: unknown): string {
  if (err instanceof Error || err instanceof DOMException) return err.name === 'AbortError' || err.name === 'TimeoutError' ? 'timed out' : err.message;
  return String(err);
}

/** How long the first fetch of a call may take, ms. */
export const FIRST_FETCH_TIMEOUT_MS = 5000;
/** How long a refetch (renewal, before an ICE restart) may take, ms: it may run during a network cut. */
export const REFETCH_TIMEOUT_MS = 3000;
/** Credentials are renewed at this fraction of their lifetime (before {@link IceServers.fresh} turns false at half). */
export const RENEW_AT_FRACTION = 0.4;
/** After a failed renewal, the next try comes this much later (while the credentials are still valid), ms. */
export const RENEW_RETRY_MS = 30_000;

/** The ICE servers of one call, kept fresh (see the module comment). */
export class IceServers {
  /** The servers to use (empty until {@link load} succeeds). */
  servers: RTCIceServer[] = [];
  /** Seconds the credentials stay valid from {@link fetchedAt} (0: unknown). */
  ttl = 0;
  /** {@link Clock.now} of the last successful fetch (undefined: none since {@link load}). */
  fetchedAt: number | undefined;
  private readonly listeners = new Set<(servers: RTCIceServer[]) => void>();
  private renewTimer: TimerHandle | undefined;
  /** Bumped by {@link stop}: answers of older fetches are ignored. */
  private generation = 0;

  constructor(
    private readonly source: IceServersSource,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Fetch the servers for a new call and keep them fresh until {@link stop}. Never throws.
   * @returns undefined on success, else why they could not be fetched (the list is then empty:
   *   a call on the same network can still work with host candidates).
   */
  async load(): Promise<string | undefined> {
    this.stop();
    const generation = this.generation;
    try {
      const result = await this.fetch(FIRST_FETCH_TIMEOUT_MS);
      if (generation === this.generation) this.take(result);
      return undefined;
    } catch (err) {
      return fetchFailureReason(err);
    }
  }

  /** Forget the servers and stop renewing them (Leave). */
  stop(): void {
    this.generation++;
    if (this.renewTimer) this.clock.clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    this.servers = [];
    this.ttl = 0;
    this.fetchedAt = undefined;
  }

  /**
   * Use servers handed over by the server itself (e.g. with `joined`), as if just fetched: renewal
   * is scheduled from now. Ignores an empty answer. Listeners are not called: the servers serve
   * connections made from now on, and an existing connection gets them with the next renewal or
   * before its next ICE restart.
   */
  accept(result: IceServersResult): void {
    if (result.iceServers.length === 0) return;
    this.take(result);
  }

  /** Call `fn` with every new set of servers after the first; returns a function that removes it. */
  onRenewed(fn: (servers: RTCIceServer[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** True when some server is a TURN server (`turn:`/`turns:` URL). */
  hasTurn(): boolean {
    return this.servers.some((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => /^turns?:/i.test(u)));
  }

  /**
   * True when the servers were fetched and their TURN REST credentials (if any) are less than
   * half-way through their lifetime (`ttl`).
   */
  fresh(): boolean {
    if (this.fetchedAt === undefined) return false;
    if (!this.servers.some((s) => s.credential !== undefined)) return true;
    return this.ttl > 0 && this.clock.now() - this.fetchedAt < (this.ttl * 1000) / 2;
  }

  /**
   * Fetch the servers again (at most {@link REFETCH_TIMEOUT_MS}); listeners get the new ones.
   * Keeps the old ones when the fetch fails. Never throws.
   * @returns true when new servers were taken.
   */
  async refresh(): Promise<boolean> {
    const generation = this.generation;
    try {
      const result = await this.fetch(REFETCH_TIMEOUT_MS);
      if (generation !== this.generation) return false;
      this.take(result);
      for (const fn of this.listeners) fn(this.servers);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Resolve once the servers are usable for an ICE restart or a rebuild: at once while the
   * credentials are fresh (so a restart during a network cut is not held up by a fetch that cannot
   * succeed), else after a {@link refresh}. Never rejects.
   */
  async ensureFresh(): Promise<void> {
    if (!this.fresh()) await this.refresh();
  }

  private async fetch(timeoutMs: number): Promise<IceServersResult> {
    const ctrl = new AbortController();
    let timer: TimerHandle | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = this.clock.setTimeout(() => {
        reject(new Error('timed out'));
        ctrl.abort();
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.source.get(ctrl.signal), deadline]);
    } finally {
      if (timer) this.clock.clearTimeout(timer);
    }
  }

  private take(result: IceServersResult): void {
    this.servers = result.iceServers;
    this.ttl = result.ttl;
    this.fetchedAt = this.clock.now();
    this.scheduleRenewal(RENEW_AT_FRACTION * result.ttl * 1000);
  }

  /** Renew credentials `inMs` from now (only servers with credentials and a known lifetime). */
  private scheduleRenewal(inMs: number): void {
    if (this.renewTimer) this.clock.clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    if (this.ttl <= 0 || !this.servers.some((s) => s.credential !== undefined)) return;
    const generation = this.generation;
    this.renewTimer = this.clock.setTimeout(
      () => {
        this.renewTimer = undefined;
        void this.refresh().then((ok) => {
          // Failed: try again while the credentials are still valid (take() rescheduled on success).
          if (ok || generation !== this.generation) return;
          const left = (this.fetchedAt ?? 0) + this.ttl * 1000 - this.clock.now();
          if (left > RENEW_RETRY_MS) this.scheduleRenewal(RENEW_RETRY_MS);
        });
      },
      Math.min(inMs, 2 ** 31 - 1),
    );
  }
}
