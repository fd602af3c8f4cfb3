/**
 * Text forms of hosts and transport addresses, written once: IPv6 literals go in brackets in a URI
 * authority and in `[ip]:port` (RFC 3986 §3.2.2).
 */

/** `host` for a URI authority: an IPv6 literal (contains ':') in brackets, anything else unchanged. */
export function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `ip:port`, or `[ip]:port` for IPv6. */
export function formatHostPort(host: string, port: number): string {
  return `${hostForUrl(host)}:${port}`;
}
