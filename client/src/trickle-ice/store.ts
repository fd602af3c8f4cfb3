/**
 * The page's saved state in `localStorage` (key {@link STORAGE_KEY}): the server list and the
 * options. Entries that came from this deployment's `/api/ice-servers` are marked
 * `origin: 'deployment'` and are replaced by freshly minted ones on every load, so their
 * short-lived TURN REST credentials never go stale; entries the user added or edited are kept as
 * typed. Pure functions over a `Storage`-like object, no DOM.
 */
import { t } from '../i18n/index.js';
import type { ServerEntryInput } from './iceUrl.js';

export const STORAGE_KEY = 'trickle-ice.v1';

/** A server entry in the list: one `RTCIceServer` plus where it came from. */
export interface ServerEntry extends ServerEntryInput {
  origin: 'deployment' | 'user';
}

/** Gathering options. */
export interface Options {
  /** `RTCConfiguration.iceTransportPolicy`. */
  policy: 'all' | 'relay';
  /** `RTCConfiguration.iceCandidatePoolSize`, 0–10 (browsers cap it). */
  poolSize: number;
  /** Ask for microphone/camera permission before gathering (browsers then expose every interface's host candidate). */
  getUserMedia: boolean;
  /** Page-side time limit for gathering, seconds (Chromium itself gives up on an unreachable UDP server after ≈ 40 s). */
  timeoutS: number;
}

export const DEFAULT_OPTIONS: Options = { policy: 'all', poolSize: 0, getUserMedia: false, timeoutS: 45 };

/** What is saved. */
export interface SavedState {
  servers: ServerEntry[];
  options: Options;
}

/** The minimal `Storage` surface used (so tests can pass a Map-backed fake). */
export type StorageLike = Pick<Storage, 'getItem' | 'setItem'>;

function isEntry(v: unknown): v is ServerEntry {
  if (!v || typeof v !== 'object') return false;
  const e = v as Record<string, unknown>;
  return (
    Array.isArray(e.urls) &&
    e.urls.every((u) => typeof u === 'string') &&
    (e.username === undefined || typeof e.username === 'string') &&
    (e.credential === undefined || typeof e.credential === 'string') &&
    (e.origin === 'deployment' || e.origin === 'user')
  );
}

/** Clamp and default options read from storage or the form. */
export function normalizeOptions(o: Partial<Record<keyof Options, unknown>> | undefined): Options {
  const poolSize = Number(o?.poolSize);
  const timeoutS = Number(o?.timeoutS);
  return {
    policy: o?.policy === 'relay' ? 'relay' : 'all',
    poolSize: Number.isInteger(poolSize) && poolSize >= 0 && poolSize <= 10 ? poolSize : DEFAULT_OPTIONS.poolSize,
    getUserMedia: o?.getUserMedia === true,
    timeoutS: Number.isFinite(timeoutS) && timeoutS >= 1 && timeoutS <= 300 ? Math.round(timeoutS) : DEFAULT_OPTIONS.timeoutS,
  };
}

/**
 * Read the saved state.
 * @returns the state, or undefined when nothing (or something unreadable) is saved; a malformed
 *          value is ignored rather than thrown, invalid entries are dropped.
 */
export function loadState(storage: StorageLike): SavedState | undefined {
  let raw: string | null;
  try {
    raw = storage.getItem(STORAGE_KEY);
  } catch {
    return undefined;
  }
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as { servers?: unknown; options?: unknown };
    if (!v || !Array.isArray(v.servers)) return undefined;
    return { servers: v.servers.filter(isEntry).map((e) => ({ ...e, urls: [...e.urls] })), options: normalizeOptions(v.options as Partial<Options>) };
  } catch {
    return undefined;
  }
}

/** Save the state. @returns false when storage refused (quota, privacy mode). */
export function saveState(storage: StorageLike, state: SavedState): boolean {
  try {
    storage.setItem(STORAGE_KEY, JSON.stringify(state));
    return true;
  } catch {
    return false;
  }
}

/** Turn `/api/ice-servers` entries into deployment list entries (malformed entries are dropped). */
export function deploymentEntries(iceServers: unknown): ServerEntry[] {
  if (!Array.isArray(iceServers)) return [];
  const out: ServerEntry[] = [];
  for (const s of iceServers) {
    if (!s || typeof s !== 'object') continue;
    const o = s as Record<string, unknown>;
    const urls = typeof o.urls === 'string' ? [o.urls] : Array.isArray(o.urls) ? o.urls.filter((u): u is string => typeof u === 'string') : [];
    if (urls.length === 0) continue;
    const e: ServerEntry = { urls, origin: 'deployment' };
    if (typeof o.username === 'string') e.username = o.username;
    if (typeof o.credential === 'string') e.credential = o.credential;
    out.push(e);
  }
  return out;
}

/**
 * The list to show after a load.
 * - Nothing saved: the deployment's defaults.
 * - Saved: the saved list, with its deployment entries (stale credentials) replaced by the fresh
 *   defaults at the position of the first one. A saved list without deployment entries (the user
 *   removed them) stays without them.
 * - Defaults unavailable (`fresh` undefined): the saved list as is.
 */
export function mergeWithDefaults(saved: ServerEntry[] | undefined, fresh: ServerEntry[] | undefined): ServerEntry[] {
  if (!saved) return fresh ? [...fresh] : [];
  if (!fresh) return [...saved];
  const first = saved.findIndex((e) => e.origin === 'deployment');
  if (first < 0) return [...saved];
  const out: ServerEntry[] = [];
  saved.forEach((e, i) => {
    if (i === first) out.push(...fresh);
    if (e.origin !== 'deployment') out.push(e);
  });
  return out;
}

/** One-line label of an entry for the list, password never shown. */
export function entryLabel(e: ServerEntry): string {
  const cred = e.username ? ` [${e.username}${e.credential ? ':••••' : ''}]` : '';
  const label = `${e.urls.join(' ')}${cred}`;
  return e.origin === 'deployment' ? t('trickle.deploymentEntry', { urls: label }) : label;
}
