/**
 * Candidate gathering: one `RTCPeerConnection` per server entry, so every candidate and every
 * `icecandidateerror` is attributable to the entry that produced it (browsers report errors per
 * URL, but srflx candidates and some errors carry a different URL than the one configured; see
 * verdict.ts). Each connection gets a data channel (something to gather for), then
 * createOffer + setLocalDescription starts gathering (RFC 8838 trickle ICE: candidates arrive one
 * by one in `icecandidate` events, a null candidate ends gathering).
 */
import { candidateRow, type CandidateErrorRow, type CandidateRow } from './candidates.js';
import type { ServerEntryInput } from './iceUrl.js';
import type { Options } from './store.js';

/** Per-entry state during and after gathering. */
export interface EntryProgress {
  entry: number;
  state: 'gathering' | 'complete' | 'timeout' | 'refused' | 'stopped';
  /** ms from start to `iceGatheringState === 'complete'`. */
  completeMs?: number;
  /** Why the browser refused the configuration (constructor or setLocalDescription error). */
  refused?: string;
}

/** Callbacks of {@link startGathering}; all optional. */
export interface GatherCallbacks {
  onCandidate?(row: CandidateRow): void;
  onError?(err: CandidateErrorRow): void;
  onProgress?(p: EntryProgress): void;
  /** getUserMedia was asked for: `null` when granted, else the error message (gathering goes on). */
  onPermission?(error: string | null): void;
}

/** Result of a finished gathering run. */
export interface GatherResult {
  /** When gathering started (ms since epoch). */
  startedAt: number;
  /** ms from start until the last entry finished (complete, timed out or stopped). */
  durationMs: number;
  rows: CandidateRow[];
  errors: CandidateErrorRow[];
  entries: EntryProgress[];
}

/** A running gathering. */
export interface GatherRun {
  /** Close every peer connection now; unfinished entries become `stopped`. */
  stop(): void;
  /** Resolves when every entry is complete, timed out or stopped. Never rejects. */
  done: Promise<GatherResult>;
}

/** `RTCIceServer` for an entry (no empty username/credential keys). */
export function toRtcIceServer(e: ServerEntryInput): RTCIceServer {
  const s: RTCIceServer = { urls: [...e.urls] };
  if (e.username) s.username = e.username;
  if (e.credential) s.credential = e.credential;
  return s;
}

/**
 * The relay protocol of a relay candidate as the browser's stats give it (`local-candidate`
 * `relayProtocol`, W3C webrtc-stats RTCIceCandidateStats), matched by address and port. For browsers that put it
 * neither on the candidate nor in a URL (Firefox), whose priorities do not tell tcp from tls.
 * @returns null when the stats do not say (or the connection is closed).
 */
async function relayProtocolFromStats(pc: RTCPeerConnection, row: CandidateRow): Promise<string | null> {
  let found: string | null = null;
  (await pc.getStats()).forEach((s: Record<string, unknown>) => {
    const address = String(s.address ?? s.ip ?? '').replace(/^\[|\]$/g, '');
    if (s.type === 'local-candidate' && s.candidateType === 'relay' && s.port === row.port && address === row.address && typeof s.relayProtocol === 'string') {
      found = s.relayProtocol;
    }
  });
  return found;
}

/**
 * Start gathering.
 * @param entries  server entries; an empty list gathers once with no ICE servers (host candidates only).
 * @param options  policy, candidate pool size, getUserMedia first, time limit (s).
 * @param cb       called as candidates, errors and state changes arrive.
 * @returns a handle; `done` resolves after every entry finished or `options.timeoutS` passed.
 */
export function startGathering(entries: ServerEntryInput[], options: Options, cb: GatherCallbacks = {}): GatherRun {
  const startedAt = Date.now();
  const t0 = performance.now();
  const list = entries.length > 0 ? entries : [{ urls: [] }];
  const rows: CandidateRow[] = [];
  const errors: CandidateErrorRow[] = [];
  const progress: EntryProgress[] = list.map((_, i) => ({ entry: i, state: 'gathering' }));
  const pcs: (RTCPeerConnection | undefined)[] = list.map(() => undefined);
  /** Per entry: stats look-ups of relay protocols still running (an entry completes after them). */
  const lookups: Promise<void>[][] = list.map(() => []);
  let stream: MediaStream | undefined;
  let finished = false;
  let resolveDone!: (r: GatherResult) => void;
  const done = new Promise<GatherResult>((r) => (resolveDone = r));
  let timer: ReturnType<typeof setTimeout> | undefined;

  const elapsed = () => performance.now() - t0;

  function finishIfAllDone(): void {
    if (finished || progress.some((p) => p.state === 'gathering')) return;
    finished = true;
    if (timer) clearTimeout(timer);
    for (const pc of pcs) pc?.close();
    stream?.getTracks().forEach((t) => t.stop());
    resolveDone({ startedAt, durationMs: Math.round(elapsed()), rows, errors, entries: progress.map((p) => ({ ...p })) });
  }

  function settle(i: number, state: EntryProgress['state'], extra: Partial<EntryProgress> = {}): void {
    const p = progress[i]!;
    if (p.state !== 'gathering') return;
    Object.assign(p, { state, ...extra });
    cb.onProgress?.({ ...p });
    finishIfAllDone();
  }

  async function run(i: number): Promise<void> {
    const entry = list[i]!;
    let pc: RTCPeerConnection;
    try {
      pc = new RTCPeerConnection({
        iceServers: entry.urls.length > 0 ? [toRtcIceServer(entry)] : [],
        iceTransportPolicy: options.policy,
        iceCandidatePoolSize: options.poolSize,
      });
    } catch (err) {
      settle(i, 'refused', { refused: (err as Error).message });
      return;
    }
    pcs[i] = pc;
    const complete = () => {
      const completeMs = Math.round(elapsed());
      void Promise.all(lookups[i]!).then(() => settle(i, 'complete', { completeMs }));
    };
    pc.addEventListener('icecandidate', (e) => {
      if (progress[i]!.state !== 'gathering') return;
      if (!e.candidate || e.candidate.candidate === '') {
        complete();
        return;
      }
      let row: CandidateRow;
      try {
        row = candidateRow(e.candidate, elapsed(), i, (e as RTCPeerConnectionIceEvent & { url?: string | null }).url);
      } catch {
        return; // a candidate we cannot parse is not shown
      }
      const add = () => {
        rows.push(row);
        cb.onCandidate?.(row);
      };
      if (row.relayProtocolSource !== 'priority') {
        add();
        return;
      }
      // The priority only guesses the relay protocol: ask the stats before showing the row (a
      // row whose entry was stopped or timed out meanwhile is dropped, like later candidates).
      const lookup = relayProtocolFromStats(pc, row)
        .then((p) => {
          if (p) Object.assign(row, { relayProtocol: p, relayProtocolSource: 'browser' });
        })
        .catch(() => undefined)
        .then(() => {
          if (progress[i]!.state === 'gathering') add();
        });
      lookups[i]!.push(lookup);
    });
    pc.addEventListener('icecandidateerror', (ev) => {
      if (progress[i]!.state !== 'gathering') return;
      const e = ev as RTCPeerConnectionIceErrorEvent;
      const row: CandidateErrorRow = {
        elapsedMs: Math.round(elapsed()),
        entry: i,
        url: e.url ?? '',
        errorCode: e.errorCode,
        errorText: e.errorText ?? '',
        address: e.address ?? null,
        port: e.port ?? null,
      };
      errors.push(row);
      cb.onError?.(row);
    });
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') complete();
    });
    try {
      pc.createDataChannel('trickle-ice');
      await pc.setLocalDescription(await pc.createOffer());
    } catch (err) {
      settle(i, 'refused', { refused: (err as Error).message });
    }
  }

  async function begin(): Promise<void> {
    if (options.getUserMedia && navigator.mediaDevices?.getUserMedia) {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true }).catch(() => navigator.mediaDevices.getUserMedia({ audio: true }));
        cb.onPermission?.(null);
      } catch (err) {
        cb.onPermission?.((err as Error).message || String(err));
      }
    }
    if (finished) {
      stream?.getTracks().forEach((t) => t.stop());
      return;
    }
    timer = setTimeout(() => {
      progress.forEach((p, i) => {
        if (p.state === 'gathering') settle(i, 'timeout');
      });
    }, options.timeoutS * 1000);
    await Promise.all(list.map((_, i) => run(i)));
  }

  void begin();

  return {
    stop() {
      progress.forEach((p, i) => {
        if (p.state === 'gathering') settle(i, 'stopped');
      });
    },
    done,
  };
}
