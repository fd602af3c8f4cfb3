/**
 * Verdicts: for each URL of each configured server entry, what gathering showed, in words
 * ("STUN OK (srflx seen)", "TURN OK over udp (relay seen)", "authentication failed (401)",
 * "not reachable (timeout)", ...). Pure functions, no DOM.
 *
 * Attribution (Chromium 156, measured): relay candidates carry the exact TURN URL; srflx
 * candidates carry a `stun:host:port` URL even when they came from a `turn:` URL; candidate errors
 * carry the exact URL, except that an unreachable `turn:...?transport=udp` server is reported as a
 * 701 for `stun:host:port`. So candidates and errors are matched by exact URL first and by
 * server endpoint (host:port) for the UDP cases. Each entry gathers on its own peer connection, so
 * rows never mix between entries.
 */
import type { CandidateErrorRow, CandidateRow } from './candidates.js';
import { t } from '../i18n/index.js';
import { endpointOf, relayProtocolOfUrl, tryParseIceUrl, type IceUrl } from './iceUrl.js';

/** How a URL fared. `pending` while gathering runs; `skip` when the options made a test impossible. */
export type VerdictStatus = 'ok' | 'warn' | 'fail' | 'skip' | 'pending';

/** The verdict for one URL of one server entry. */
export interface Verdict {
  entry: number;
  url: string;
  status: VerdictStatus;
  /** Human-readable verdict in the current language, e.g. `TURN OK over udp (relay seen: 203.0.113.1:49200)`. */
  text: string;
  /** The STUN/browser error code the verdict is based on, if any. */
  errorCode?: number;
}

/** STUN/TURN error codes with a sentence of their own (RFC 8489 §14.8, RFC 8656 §19) and Chromium's 701. */
export const KNOWN_ERROR_CODES = [300, 400, 401, 403, 420, 437, 438, 440, 441, 442, 443, 486, 500, 508, 701] as const;
type KnownErrorCode = (typeof KNOWN_ERROR_CODES)[number];

/** The meaning of a STUN/TURN error code in the current language, or undefined for a code without one. */
export function errorMeaning(code: number): string | undefined {
  return (KNOWN_ERROR_CODES as readonly number[]).includes(code) ? t(`trickle.verdict.error.${code as KnownErrorCode}`) : undefined;
}

/** Inputs of {@link computeVerdicts} for one entry. */
export interface EntryResult {
  entry: number;
  urls: string[];
  rows: CandidateRow[];
  errors: CandidateErrorRow[];
  /** ICE transport policy used. */
  policy: 'all' | 'relay';
  /** Gathering state of this entry's peer connection reached `complete`. */
  complete: boolean;
  /** The page's time limit passed before `complete`; seconds of the limit. */
  timedOutAfterS?: number;
  /** The browser refused the configuration (RTCPeerConnection constructor threw): its message. */
  refused?: string;
}

function sameUrl(a: string | null | undefined, b: string): boolean {
  return !!a && a.trim().toLowerCase() === b.trim().toLowerCase();
}

function sameEndpoint(a: string | null | undefined, b: IceUrl): boolean {
  const p = tryParseIceUrl(a);
  return !!p && endpointOf(p) === endpointOf(b);
}

/**
 * Words for one candidate error.
 * @param u  the URL the verdict is for (adds a hint for failed TCP/TLS connections).
 */
export function describeError(e: Pick<CandidateErrorRow, 'errorCode' | 'errorText'>, u?: IceUrl): string {
  if (e.errorCode === 701) {
    if (/timed? ?out/i.test(e.errorText)) return t('trickle.verdict.timeout');
    const vars = { code: 701, detail: e.errorText || t('trickle.verdict.connectionFailed') };
    if (u?.scheme === 'turns') return t('trickle.verdict.unreachableTls', vars);
    if (u?.transport === 'tcp') return t('trickle.verdict.unreachableTcp', vars);
    return t('trickle.verdict.unreachable', vars);
  }
  if (e.errorCode >= 700 && e.errorCode <= 799) return t('trickle.verdict.unreachable', { code: e.errorCode, detail: e.errorText });
  const meaning = errorMeaning(e.errorCode);
  if (!meaning) return t('trickle.verdict.unknownError', { code: e.errorCode, detail: e.errorText });
  return e.errorText ? t('trickle.verdict.withServerText', { meaning, detail: e.errorText }) : meaning;
}

function fromErrors(entry: number, url: string, errors: CandidateErrorRow[], u?: IceUrl): Verdict | undefined {
  if (errors.length === 0) return undefined;
  // Prefer an authentication or server error over a timeout, and the latest of each kind.
  const sorted = [...errors].sort((a, b) => (a.errorCode === 701 ? 1 : 0) - (b.errorCode === 701 ? 1 : 0) || b.elapsedMs - a.elapsedMs);
  const e = sorted[0]!;
  return { entry, url, status: 'fail', text: describeError(e, u), errorCode: e.errorCode };
}

/**
 * Compute the verdict of every URL of one entry.
 * @returns one verdict per URL, in the entry's order (an entry without URLs gives none).
 */
export function computeVerdicts(r: EntryResult): Verdict[] {
  const out: Verdict[] = [];
  for (const url of r.urls) {
    const u = tryParseIceUrl(url);
    if (!u) {
      out.push({ entry: r.entry, url, status: 'fail', text: t('trickle.verdict.invalidUrl') });
      continue;
    }
    if (r.refused) {
      out.push({ entry: r.entry, url, status: 'fail', text: t('trickle.verdict.refused', { detail: r.refused }) });
      continue;
    }
    const exactErrors = r.errors.filter((e) => sameUrl(e.url, url));
    const udpish = u.scheme === 'stun' || (u.scheme === 'turn' && u.transport === 'udp');
    const endpointErrors = udpish
      ? r.errors.filter((e) => {
          const p = tryParseIceUrl(e.url);
          return !!p && (p.scheme === 'stun' || (p.scheme === 'turn' && p.transport === 'udp')) && sameEndpoint(e.url, u);
        })
      : [];
    const errors = exactErrors.length > 0 ? exactErrors : endpointErrors;
    const timeout = r.timedOutAfterS !== undefined ? t('trickle.verdict.noAnswer', { s: r.timedOutAfterS }) : undefined;

    if (u.scheme === 'stun') {
      const srflx = r.rows.filter((row) => row.type === 'srflx' && (sameUrl(row.url, url) || sameEndpoint(row.url, u)));
      if (srflx.length > 0) {
        const s = srflx[0]!;
        out.push({ entry: r.entry, url, status: 'ok', text: t('trickle.verdict.stunOk', { endpoint: endpointOf({ host: s.address, port: s.port }) }) });
        continue;
      }
      if (r.policy === 'relay') {
        out.push({ entry: r.entry, url, status: 'skip', text: t('trickle.verdict.stunSkipped') });
        continue;
      }
      const err = fromErrors(r.entry, url, errors, u);
      if (err) out.push(err);
      else if (r.complete) {
        const hasHost = r.rows.some((row) => row.type === 'host');
        out.push({
          entry: r.entry,
          url,
          status: 'warn',
          text: hasHost ? t('trickle.verdict.stunSameAsHost') : t('trickle.verdict.stunNoHost'),
        });
      } else if (timeout) out.push({ entry: r.entry, url, status: 'fail', text: timeout });
      else out.push({ entry: r.entry, url, status: 'pending', text: t('trickle.verdict.waiting') });
      continue;
    }

    const proto = relayProtocolOfUrl(u)!;
    const relays = r.rows.filter(
      (row) => row.type === 'relay' && (sameUrl(row.url, url) || (!row.url && row.relayProtocol === proto)),
    );
    if (relays.length > 0) {
      const c = relays[0]!;
      out.push({ entry: r.entry, url, status: 'ok', text: t('trickle.verdict.turnOk', { protocol: proto, endpoint: endpointOf({ host: c.address, port: c.port }) }) });
      continue;
    }
    const err = fromErrors(r.entry, url, errors, u);
    if (err) out.push(err);
    else if (r.complete) {
      out.push({
        entry: r.entry,
        url,
        status: 'fail',
        text: t(proto === 'udp' ? 'trickle.verdict.noRelayUdp' : proto === 'tls' ? 'trickle.verdict.noRelayTls' : 'trickle.verdict.noRelayTcp'),
      });
    } else if (timeout) out.push({ entry: r.entry, url, status: 'fail', text: timeout });
    else out.push({ entry: r.entry, url, status: 'pending', text: t('trickle.verdict.waiting') });
  }
  return out;
}
