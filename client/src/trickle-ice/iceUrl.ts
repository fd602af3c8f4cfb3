/**
 * Parsing and validation of ICE server URLs as browsers accept them in `RTCIceServer.urls`:
 * `stun:host[:port]` (RFC 7064) and `turn:host[:port][?transport=udp|tcp]`,
 * `turns:host[:port][?transport=tcp]` (RFC 7065). Pure functions, no DOM: unit-tested in Node.
 */
import { formatHostPort } from '../../../common/hostPort.js';
import { t } from '../i18n/index.js';

/** Default ports (RFC 8489 §9 / RFC 8656 §4: 3478 for stun:/turn:, 5349 for turns:). */
export const DEFAULT_PORT = { stun: 3478, turn: 3478, turns: 5349 } as const;

/** A parsed ICE server URL. */
export interface IceUrl {
  /** Lower-case scheme. */
  scheme: 'stun' | 'turn' | 'turns';
  /** Host name or IP literal as written, IPv6 without brackets, lower-case. */
  host: string;
  /** Port, explicit or the scheme's default. */
  port: number;
  /** True when the port was written in the URL. */
  explicitPort: boolean;
  /** Transport to the server: `udp`/`tcp` from `?transport=`, else udp for stun:/turn:, tcp for turns:. */
  transport: 'udp' | 'tcp';
  /** The URL as written (trimmed). */
  url: string;
}

/** Thrown by {@link parseIceUrl}; `message` says what is wrong and how to write it instead. */
export class IceUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IceUrlError';
  }
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** True for an IPv6 literal without brackets (loose check: hex groups, `::`, optional dotted tail). */
function isIpv6(s: string): boolean {
  if (!/^[0-9a-f:.]+$/i.test(s) || !s.includes(':')) return false;
  if ((s.match(/::/g) ?? []).length > 1) return false;
  const parts = s.split(':');
  if (parts.length > 8) return false;
  const last = parts[parts.length - 1]!;
  if (last.includes('.') && !IPV4.test(last)) return false;
  return parts.every((p, i) => p === '' || /^[0-9a-f]{1,4}$/i.test(p) || (i === parts.length - 1 && IPV4.test(p)));
}

/**
 * Parse one ICE server URL.
 * @param input  e.g. `turn:relay.example.org:3478?transport=tcp`, `stun:[2001:db8::1]:3478`.
 * @returns the parsed URL with defaults applied.
 * @throws IceUrlError with a human-readable reason, e.g. for `turn://host` ("remove the //"),
 *         a missing host, a port outside 1–65535, `stun:` with `?transport`, `turns:` over udp,
 *         or an unsupported scheme such as `stuns:` or `http:`.
 */
export function parseIceUrl(input: string): IceUrl {
  const url = input.trim();
  if (url === '') throw new IceUrlError(t('trickle.url.empty'));
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(url);
  if (!m) throw new IceUrlError(t('trickle.url.noScheme', { url }));
  const scheme = m[1]!.toLowerCase();
  let rest = m[2]!;
  if (scheme === 'stuns') throw new IceUrlError(t('trickle.url.stuns', { url }));
  if (scheme !== 'stun' && scheme !== 'turn' && scheme !== 'turns') {
    throw new IceUrlError(t('trickle.url.badScheme', { url, scheme }));
  }
  if (rest.startsWith('//')) {
    throw new IceUrlError(t('trickle.url.slashes', { url, scheme, fixed: `${scheme}:${rest.slice(2)}` }));
  }
  let query: string | undefined;
  const q = rest.indexOf('?');
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  if (rest.includes('@')) throw new IceUrlError(t('trickle.url.credentials', { url }));
  if (rest.includes('/')) throw new IceUrlError(t('trickle.url.path', { url }));

  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) throw new IceUrlError(t('trickle.url.ipv6Unclosed', { url }));
    host = rest.slice(1, end);
    const after = rest.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) throw new IceUrlError(t('trickle.url.afterIpv6', { url, after }));
    portText = after === '' ? undefined : after.slice(1);
    if (!isIpv6(host)) throw new IceUrlError(t('trickle.url.badIpv6', { url, host }));
  } else {
    const colons = rest.split(':').length - 1;
    if (colons > 1) throw new IceUrlError(t('trickle.url.ipv6Brackets', { url, scheme }));
    const c = rest.indexOf(':');
    host = c >= 0 ? rest.slice(0, c) : rest;
    portText = c >= 0 ? rest.slice(c + 1) : undefined;
    if (host === '') throw new IceUrlError(t('trickle.url.noHost', { url, scheme }));
    if (/^[\d.]+$/.test(host) ? !IPV4.test(host) : !HOSTNAME.test(host)) throw new IceUrlError(t('trickle.url.badHost', { url, host }));
  }

  let port: number = DEFAULT_PORT[scheme];
  const explicitPort = portText !== undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new IceUrlError(t('trickle.url.badPort', { url, port: portText }));
    }
    port = Number(portText);
  }

  let transport: 'udp' | 'tcp' = scheme === 'turns' ? 'tcp' : 'udp';
  if (query !== undefined) {
    if (scheme === 'stun') throw new IceUrlError(t('trickle.url.stunQuery', { url, query }));
    const tp = /^transport=(udp|tcp)$/i.exec(query);
    if (!tp) throw new IceUrlError(t('trickle.url.badQuery', { url }));
    transport = tp[1]!.toLowerCase() as 'udp' | 'tcp';
    if (scheme === 'turns' && transport === 'udp') throw new IceUrlError(t('trickle.url.turnsUdp', { url }));
  }
  return { scheme, host: host.toLowerCase().replace(/\.$/, ''), port, explicitPort, transport, url };
}

/** `host:port` with IPv6 in brackets, for comparisons and display. */
export function endpointOf(u: Pick<IceUrl, 'host' | 'port'>): string {
  return formatHostPort(u.host, u.port);
}

/**
 * The relay protocol a TURN URL gives relay candidates (the `relayProtocol` of RTCIceCandidate):
 * `udp` or `tcp` for turn:, `tls` for turns:. Undefined for stun:.
 */
export function relayProtocolOfUrl(u: IceUrl): 'udp' | 'tcp' | 'tls' | undefined {
  if (u.scheme === 'stun') return undefined;
  if (u.scheme === 'turns') return 'tls';
  return u.transport;
}

/** Parse without throwing: the parsed URL, or undefined. */
export function tryParseIceUrl(input: string | null | undefined): IceUrl | undefined {
  if (!input) return undefined;
  try {
    return parseIceUrl(input);
  } catch {
    return undefined;
  }
}

/** A server entry as the page keeps it: one `RTCIceServer`. */
export interface ServerEntryInput {
  urls: string[];
  username?: string;
  credential?: string;
}

/**
 * Split the URL field into URLs: separated by whitespace or commas.
 * @returns non-empty trimmed strings.
 */
export function splitUrls(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * Validate a server entry before it is added to the list.
 * @returns a list of human-readable problems; empty when the entry is usable. A turn:/turns: URL
 *          needs a username and a password (browsers throw InvalidAccessError otherwise, and the
 *          relay's long-term credential mechanism, RFC 8489 §9.2, needs them).
 */
export function validateServerEntry(entry: ServerEntryInput): string[] {
  const problems: string[] = [];
  if (entry.urls.length === 0) problems.push(t('trickle.form.noUrl'));
  let needsCredential = false;
  for (const u of entry.urls) {
    try {
      const p = parseIceUrl(u);
      if (p.scheme !== 'stun') needsCredential = true;
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (needsCredential && (!entry.username || !entry.credential)) {
    problems.push(t('trickle.form.needCredentials'));
  }
  if ((entry.username?.length ?? 0) > 512 || (entry.credential?.length ?? 0) > 512) problems.push(t('trickle.form.tooLong'));
  return problems;
}
