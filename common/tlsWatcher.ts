/**
 * Notices when the certificate files in use change (an ACME renewal, certbot replacing
 * `TLS_CERT`, a regenerated self-signed pair) so a TLS listener can swap its secure context
 * without a restart. A cheap poll of `stat()` (inode, size, mtime) every few seconds: portable,
 * works for files replaced by rename (what certbot and our own writer do) and on network file
 * systems where inotify does not.
 */
import { statSync } from 'node:fs';
import type { TlsPair } from './tlsFiles.js';

/** Options of {@link TlsFileWatcher}. */
export interface TlsFileWatcherOptions {
  /** The files whose change may change the choice (e.g. `candidateTlsFiles`). */
  files: () => string[];
  /** Read the pair to serve now (e.g. `chooseTlsFiles`); may throw. */
  load: () => TlsPair | undefined;
  /** Called with a pair whose leaf differs from the current one; may throw (reported to `onError`). */
  onChange: (pair: TlsPair, previous: TlsPair | undefined) => void;
  /** A load or swap failed; the current pair stays in use. */
  onError: (err: Error) => void;
  /** Poll interval, ms (default 5000). */
  intervalMs?: number;
  /** The pair already in use at start. */
  current?: TlsPair;
}

/** Polls certificate files and reports a changed pair once. */
export class TlsFileWatcher {
  private timer: NodeJS.Timeout | undefined;
  private signature: string;
  /** A changed signature seen once; acted on when the next poll sees it unchanged. */
  private pending: string | undefined;
  private pair: TlsPair | undefined;

  constructor(private readonly o: TlsFileWatcherOptions) {
    this.pair = o.current;
    // Empty: the first poll loads and compares by fingerprint, so a pair written between the
    // caller's initial load and this constructor is not mistaken for the one in use.
    this.signature = '';
  }

  /** The pair in use (the last one passed to `onChange`, or the initial one). */
  get current(): TlsPair | undefined {
    return this.pair;
  }

  /** Start polling (the timer does not keep the process alive). Idempotent. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.o.intervalMs ?? 5000);
    this.timer.unref();
  }

  /** Stop polling. Idempotent. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Look at the files. A poll acts on a change only when two consecutive polls see the same
   * file state, so a pair being replaced file by file (certbot, our own writer) is never read
   * half-way; `force` (the ACME client, after it wrote both files) acts at once.
   * A still-valid ACME certificate is never replaced by the self-signed fallback (the ACME files
   * became unusable): it is reported and kept.
   * @returns true when `onChange` accepted a new pair.
   */
  check(force = false): boolean {
    const sig = this.stat();
    if (!force) {
      if (sig === this.signature) return false;
      if (sig !== this.pending) {
        this.pending = sig;
        return false;
      }
    }
    // Remember the signature even when loading fails: a broken file is reported once, not every poll.
    this.signature = sig;
    this.pending = undefined;
    try {
      const next = this.o.load();
      if (!next || (this.pair && next.x509.fingerprint256 === this.pair.x509.fingerprint256 && next.cert === this.pair.cert)) return false;
      if (this.pair?.source === 'acme' && next.source === 'self-signed' && new Date(this.pair.x509.validTo).getTime() > Date.now()) {
        throw new Error(`the ACME certificate files are missing or unusable; the self-signed fallback does not replace a valid ACME certificate`);
      }
      const previous = this.pair;
      this.o.onChange(next, previous);
      this.pair = next;
      return true;
    } catch (err) {
      this.o.onError(err as Error);
      return false;
    }
  }

  private stat(): string {
    return this.o
      .files()
      .map((f) => {
        try {
          const s = statSync(f);
          return `${f}:${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch {
          return `${f}:-`;
        }
      })
      .join('|');
  }
}
