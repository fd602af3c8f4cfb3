/**
 * ICE candidates as table rows: fields from `RTCIceCandidate` (falling back to parsing the
 * `candidate:` attribute line of RFC 8839 §5.1 when a browser leaves a field null), the priority
 * split into its RFC 8445 §5.1.2.1 parts, and the relay protocol. Pure functions, no DOM.
 */
import { relayProtocolOfUrl, tryParseIceUrl } from './iceUrl.js';

/** The parts of a candidate priority (RFC 8445 §5.1.2.1). */
export interface PriorityParts {
  /** Type preference, 0–126 (bits 24–31). */
  typePreference: number;
  /** Local preference, 0–65535 (bits 8–23). */
  localPreference: number;
  /** The low byte, `256 − component ID`. */
  componentPart: number;
  /** Component ID recovered from the low byte (1 = RTP, 2 = RTCP). */
  component: number;
}

/**
 * Split a priority: `priority = 2^24·typePreference + 2^8·localPreference + (256 − component)`
 * (RFC 8445 §5.1.2.1).
 * @param priority  unsigned 32-bit integer.
 * @throws RangeError when `priority` is not an integer in 0–2^32−1.
 */
export function splitPriority(priority: number): PriorityParts {
  if (!Number.isInteger(priority) || priority < 0 || priority > 0xffffffff) throw new RangeError(`priority must be a 32-bit unsigned integer, got ${priority}`);
  const componentPart = priority & 0xff;
  return {
    typePreference: Math.floor(priority / 2 ** 24),
    localPreference: (priority >>> 8) & 0xffff,
    componentPart,
    component: 256 - componentPart,
  };
}

/**
 * The relay protocol (client ↔ TURN server transport) implied by a relay candidate's type
 * preference in Chromium (libwebrtc): 0 = tls, 1 = tcp, 2 and above = udp (Chromium 156 was
 * measured giving 3 for udp relay candidates). Only a fallback when neither
 * `RTCIceCandidate.relayProtocol` nor the server URL tells.
 */
export function relayProtocolFromTypePreference(typePreference: number): 'udp' | 'tcp' | 'tls' {
  if (typePreference <= 0) return 'tls';
  if (typePreference === 1) return 'tcp';
  return 'udp';
}

/** Fields of a parsed `candidate:` line (RFC 8839 §5.1). */
export interface CandidateLine {
  foundation: string;
  component: number;
  protocol: string;
  priority: number;
  address: string;
  port: number;
  type: string;
  relatedAddress?: string;
  relatedPort?: number;
  tcpType?: string;
}

/**
 * Parse an ICE candidate attribute (with or without the `a=` / `candidate:` prefix).
 * @returns the fields, or undefined when the line is not a candidate.
 */
export function parseCandidateLine(line: string): CandidateLine | undefined {
  const s = line.trim().replace(/^a=/, '').replace(/^candidate:/, '');
  const f = s.split(/\s+/);
  if (f.length < 8 || f[6] !== 'typ') return undefined;
  const out: CandidateLine = {
    foundation: f[0]!,
    component: Number(f[1]),
    protocol: f[2]!.toLowerCase(),
    priority: Number(f[3]),
    address: f[4]!,
    port: Number(f[5]),
    type: f[7]!,
  };
  if (!Number.isInteger(out.component) || !Number.isInteger(out.priority) || !Number.isInteger(out.port)) return undefined;
  for (let i = 8; i + 1 < f.length; i += 2) {
    const k = f[i]!;
    const v = f[i + 1]!;
    if (k === 'raddr') out.relatedAddress = v;
    else if (k === 'rport') out.relatedPort = Number(v);
    else if (k === 'tcptype') out.tcpType = v;
  }
  return out;
}

/** What the page takes from an `RTCIceCandidate` (a structural subset, so tests can pass plain objects). */
export interface CandidateLike {
  candidate: string;
  foundation?: string | null;
  component?: string | null;
  protocol?: string | null;
  priority?: number | null;
  address?: string | null;
  port?: number | null;
  type?: string | null;
  relatedAddress?: string | null;
  relatedPort?: number | null;
  tcpType?: string | null;
  relayProtocol?: string | null;
  url?: string | null;
}

/** One row of the candidates table (and of the export). */
export interface CandidateRow {
  /** Milliseconds from the click on "Gather candidates" to this candidate. */
  elapsedMs: number;
  /** Index of the server entry whose peer connection produced it (0-based). */
  entry: number;
  /** Component ID (1 = RTP, 2 = RTCP). */
  component: number;
  type: string;
  foundation: string;
  /** Transport of the candidate itself: udp or tcp. */
  protocol: string;
  address: string;
  port: number;
  priority: number;
  typePreference: number;
  localPreference: number;
  componentPart: number;
  relatedAddress: string | null;
  relatedPort: number | null;
  /** `active`/`passive`/`so` for TCP candidates. */
  tcpType: string | null;
  /** Relay candidates only: udp/tcp/tls between browser and TURN server. */
  relayProtocol: string | null;
  /** Where `relayProtocol` came from: the browser, the server URL, or the priority's type preference. */
  relayProtocolSource: 'browser' | 'url' | 'priority' | null;
  /** STUN/TURN server URL the candidate came from (`RTCIceCandidate.url` or the event's `url`); null for host. */
  url: string | null;
  /** The raw `candidate:` line. */
  candidate: string;
}

function unbracket(a: string): string {
  return a.startsWith('[') && a.endsWith(']') ? a.slice(1, -1) : a;
}

/**
 * Build a table row.
 * @param c          the candidate (fields may be null; the `candidate` line fills gaps).
 * @param elapsedMs  ms since gathering started.
 * @param entry      server entry index.
 * @param eventUrl   `RTCPeerConnectionIceEvent.url` (older browsers carry the URL there).
 * @throws Error when the candidate line cannot be parsed and the object lacks the fields.
 */
export function candidateRow(c: CandidateLike, elapsedMs: number, entry: number, eventUrl?: string | null): CandidateRow {
  const line = parseCandidateLine(c.candidate);
  const priority = c.priority ?? line?.priority;
  const address = c.address ?? line?.address;
  const port = c.port ?? line?.port;
  const type = c.type ?? line?.type;
  if (priority == null || address == null || port == null || type == null) throw new Error(`unparseable ICE candidate: ${c.candidate}`);
  const parts = splitPriority(priority);
  const url = (c.url || eventUrl || null) as string | null;
  let relayProtocol: string | null = null;
  let relayProtocolSource: CandidateRow['relayProtocolSource'] = null;
  if (type === 'relay') {
    const fromUrl = tryParseIceUrl(url);
    if (c.relayProtocol) {
      relayProtocol = c.relayProtocol;
      relayProtocolSource = 'browser';
    } else if (fromUrl && relayProtocolOfUrl(fromUrl)) {
      relayProtocol = relayProtocolOfUrl(fromUrl)!;
      relayProtocolSource = 'url';
    } else {
      relayProtocol = relayProtocolFromTypePreference(parts.typePreference);
      relayProtocolSource = 'priority';
    }
  }
  const componentFromField = c.component === 'rtp' ? 1 : c.component === 'rtcp' ? 2 : undefined;
  return {
    elapsedMs: Math.round(elapsedMs),
    entry,
    component: componentFromField ?? line?.component ?? parts.component,
    type,
    foundation: c.foundation ?? line?.foundation ?? '',
    protocol: (c.protocol ?? line?.protocol ?? '').toLowerCase(),
    address: unbracket(address),
    port,
    priority,
    typePreference: parts.typePreference,
    localPreference: parts.localPreference,
    componentPart: parts.componentPart,
    relatedAddress: c.relatedAddress != null ? unbracket(c.relatedAddress) : (line?.relatedAddress ?? null),
    relatedPort: c.relatedPort ?? line?.relatedPort ?? null,
    tcpType: c.tcpType ?? line?.tcpType ?? null,
    relayProtocol,
    relayProtocolSource,
    url,
    candidate: c.candidate,
  };
}

/** One `icecandidateerror` (W3C webrtc-pc §4.8.2 RTCPeerConnectionIceErrorEvent). */
export interface CandidateErrorRow {
  elapsedMs: number;
  entry: number;
  /** The STUN/TURN server URL that failed. */
  url: string;
  /** STUN error code (RFC 8489 §14.8, e.g. 401, 403, 437, 486, 508) or 700–799 for browser-side failures (Chromium: 701 = server unreachable / timed out). */
  errorCode: number;
  errorText: string;
  /** Local address/port the request was sent from (partly hidden by browsers, e.g. `0.0.0.x`). */
  address: string | null;
  port: number | null;
}
