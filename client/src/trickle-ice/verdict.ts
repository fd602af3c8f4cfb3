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
import { endpointOf, relayProtocolOfUrl, tryParseIceUrl, type IceUrl } from './iceUrl.js';

/** How a URL fared. `pending` while gathering runs; `skip` when the options made a test impossible. */
export type VerdictStatus = 'ok' | 'warn' | 'fail' | 'skip' | 'pending';

/** The verdict for one URL of one server entry. */
export interface Verdict {
  entry: number;
  url: string;
  status: VerdictStatus;
  /** Human-readable verdict, e.g. `TURN OK over udp (relay seen: 203.0.113.1:49200)`. */
  text: string;
  /** The STUN/browser error code the verdict is based on, if any. */
  errorCode?: number;
}

/** Meaning of STUN/TURN error codes (RFC 8489 §14.8, RFC 8656 §19) and Chromium's 7xx codes. */
export const ERROR_MEANINGS: Record<number, string> = {
  300: 'try alternate server',
  400: 'bad request (the server could not parse the request)',
  401: 'authentication failed (401): wrong username or password, or an expired TURN REST username',
  403: 'forbidden (403): the relay refused the request',
  420: 'unknown attribute (420)',
  437: 'allocation mismatch (437)',
  438: 'stale nonce (438)',
  440: 'address family not supported (440)',
  441: 'wrong credentials (441): the credentials differ from those the allocation was made with',
  442: 'unsupported transport protocol (442)',
  443: 'peer address family mismatch (443)',
  486: 'allocation quota reached (486): too many allocations for this user',
  500: 'server error (500)',
  508: 'insufficient capacity (508): the relay has no free relay ports',
  701: 'not reachable',
};

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
    if (/timed? ?out/i.test(e.errorText)) return 'not reachable (timeout)';
    const hint =
      u?.scheme === 'turns'
        ? ': TCP connect or TLS handshake failed — is the port open, and does the browser trust the relay certificate (a CA-signed certificate for this host name)?'
        : u?.transport === 'tcp'
          ? ': TCP connect failed — is the port open?'
          : '';
    return `not reachable (701: ${e.errorText || 'connection failed'})${hint}`;
  }
  if (e.errorCode >= 700 && e.errorCode <= 799) return `not reachable (${e.errorCode}: ${e.errorText})`;
  const meaning = ERROR_MEANINGS[e.errorCode];
  return meaning ? `${meaning}${e.errorText ? ` — server said "${e.errorText}"` : ''}` : `error ${e.errorCode}: ${e.errorText}`;
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
      out.push({ entry: r.entry, url, status: 'fail', text: 'invalid URL' });
      continue;
    }
    if (r.refused) {
      out.push({ entry: r.entry, url, status: 'fail', text: `browser refused the configuration: ${r.refused}` });
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
    const timeout = r.timedOutAfterS !== undefined ? `not reachable (no answer within ${r.timedOutAfterS} s)` : undefined;

    if (u.scheme === 'stun') {
      const srflx = r.rows.filter((row) => row.type === 'srflx' && (sameUrl(row.url, url) || sameEndpoint(row.url, u)));
      if (srflx.length > 0) {
        const s = srflx[0]!;
        out.push({ entry: r.entry, url, status: 'ok', text: `STUN OK (srflx seen: ${endpointOf({ host: s.address, port: s.port })})` });
        continue;
      }
      if (r.policy === 'relay') {
        out.push({ entry: r.entry, url, status: 'skip', text: 'not tested: ICE transport policy "relay" gathers relay candidates only' });
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
          text: hasHost
            ? 'STUN: no srflx (same as host?): no srflx candidate and no error; the server probably saw the host address itself (no NAT in between), which the browser does not repeat as srflx'
            : 'STUN: no srflx and no host candidate (no usable network interface?)',
        });
      } else if (timeout) out.push({ entry: r.entry, url, status: 'fail', text: timeout });
      else out.push({ entry: r.entry, url, status: 'pending', text: 'waiting…' });
      continue;
    }

    const proto = relayProtocolOfUrl(u)!;
    const relays = r.rows.filter(
      (row) => row.type === 'relay' && (sameUrl(row.url, url) || (!row.url && row.relayProtocol === proto)),
    );
    if (relays.length > 0) {
      const c = relays[0]!;
      out.push({ entry: r.entry, url, status: 'ok', text: `TURN OK over ${proto} (relay seen: ${endpointOf({ host: c.address, port: c.port })})` });
      continue;
    }
    const err = fromErrors(r.entry, url, errors, u);
    if (err) out.push(err);
    else if (r.complete) {
      out.push({
        entry: r.entry,
        url,
        status: 'fail',
        text:
          proto === 'udp'
            ? 'no relay candidate and no error reported'
            : `not reachable (no relay candidate and no error reported: the ${proto === 'tls' ? 'TLS' : 'TCP'} connection probably failed — port closed, or for turns: a certificate the browser does not trust)`,
      });
    } else if (timeout) out.push({ entry: r.entry, url, status: 'fail', text: timeout });
    else out.push({ entry: r.entry, url, status: 'pending', text: 'waiting…' });
  }
  return out;
}
