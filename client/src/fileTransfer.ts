/**
 * File transfer during a call, each file over an `RTCDataChannel` of its own (label
 * {@link FILE_CHANNEL_LABEL}, reliable and ordered), so one transfer failing or being cancelled
 * never touches the call, the chat or another transfer. No DOM here (fileTransferView.ts shows it).
 *
 * Protocol on a transfer's channel (text frames are JSON, binary frames are file bytes):
 *   sender   → {t:'offer', name, size, mime}        once the channel opens
 *   receiver → {t:'accept'} | {t:'decline'}
 *   sender   → binary chunks of CHUNK_BYTES, in order, then {t:'end', sha256}
 *   receiver → {t:'result', ok}                      ok: the SHA-256 of what arrived matches
 *   either   → {t:'cancel'}, then closes the channel  (a close before the end = failed)
 *
 * Memory: the sender reads the file in READ_BYTES slices (`Blob.slice`), never whole; the receiver
 * hands every BLOB_PART_BYTES of chunks to a `Blob` (the browser's blob store, which may page to
 * disk) and keeps only those Blobs, so a file is never held twice in script memory. Backpressure:
 * the sender stops queuing above HIGH_WATER_BYTES of `bufferedAmount` and goes on at the
 * `bufferedamountlow` event (`bufferedAmountLowThreshold` = LOW_WATER_BYTES).
 * Integrity: both sides hash incrementally (SHA-256 from @noble/hashes: WebCrypto has no
 * streaming digest); the receiver compares its own hash with the sender's.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { CallExtension, CallRoom } from './callExtension.js';
import type { PeerSession } from './peerSession.js';

/** Label of every transfer's data channel. */
export const FILE_CHANNEL_LABEL = 'file';
/** Bytes per binary message (well under every browser's max-message-size of 256 KiB+). */
export const CHUNK_BYTES = 64 * 1024;
/** Bytes read from the file at a time. */
export const READ_BYTES = 1024 * 1024;
/** Sender pauses above this `bufferedAmount` (Chromium closes a channel past 16 MiB). */
export const HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** …and resumes when it drops to this. */
export const LOW_WATER_BYTES = 2 * 1024 * 1024;
/** Receiver moves received chunks into a Blob every this many bytes. */
export const BLOB_PART_BYTES = 8 * 1024 * 1024;
/** Longest file name accepted in an offer, characters. */
export const MAX_NAME_LENGTH = 255;
/** Progress events at most this often, ms. */
const PROGRESS_EVERY_MS = 100;

export type TransferState = 'offered' | 'sending' | 'receiving' | 'done' | 'declined' | 'cancelled' | 'failed';
export type TransferDirection = 'send' | 'receive';
/** Why a transfer failed. */
export type FailReason = 'hash-mismatch' | 'connection-lost' | 'read-error' | 'protocol';

/** One transfer as the page shows it. */
export interface Transfer {
  /** Local id (unique in this page). */
  readonly id: string;
  readonly direction: TransferDirection;
  readonly name: string;
  /** bytes */
  readonly size: number;
  readonly mime: string;
  state: TransferState;
  /** Bytes through so far (sender: handed to the network, i.e. sent minus still buffered). */
  bytes: number;
  /** Recent speed, bytes per second (null before the first second). */
  speed: number | null;
  /** SHA-256 of the whole file, hex, once done. */
  sha256?: string;
  /** The received file, once done (receiver). */
  blob?: Blob;
  /** Who declined or cancelled. */
  by?: 'me' | 'them';
  reason?: FailReason;
}

/** What {@link FileTransfers} tells the page. */
export interface FileTransferEvents {
  /** A transfer was added or changed (progress at most every 100 ms, state changes at once). */
  changed(t: Transfer): void;
  log?(msg: string): void;
}

const isFinal = (s: TransferState) => s === 'done' || s === 'declined' || s === 'cancelled' || s === 'failed';
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** A file name safe to offer for download: no path, no control characters, not empty, bounded. */
export function safeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop()!.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return (base && base !== '.' && base !== '..' ? base : 'file').slice(0, MAX_NAME_LENGTH);
}

type Control =
  | { t: 'offer'; name: string; size: number; mime: string }
  | { t: 'accept' }
  | { t: 'decline' }
  | { t: 'end'; sha256: string }
  | { t: 'result'; ok: boolean }
  | { t: 'cancel' };

/** Parse a text frame; null for anything not exactly one of {@link Control}. */
export function parseControl(text: string): Control | null {
  if (text.length > 4096) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  switch (o.t) {
    case 'offer':
      if (typeof o.name !== 'string' || o.name.length > 4 * MAX_NAME_LENGTH) return null;
      if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) return null;
      if (typeof o.mime !== 'string' || o.mime.length > 255) return null;
      return { t: 'offer', name: safeFileName(o.name), size: o.size, mime: /^[\w.+-]+\/[\w.+-]+$/.test(o.mime) ? o.mime : 'application/octet-stream' };
    case 'end':
      return typeof o.sha256 === 'string' && /^[0-9a-f]{64}$/.test(o.sha256) ? { t: 'end', sha256: o.sha256 } : null;
    case 'result':
      return typeof o.ok === 'boolean' ? { t: 'result', ok: o.ok } : null;
    case 'accept':
    case 'decline':
    case 'cancel':
      return { t: o.t };
    default:
      return null;
  }
}

/** One transfer's channel and its bookkeeping. */
interface Slot {
  t: Transfer;
  dc: RTCDataChannel;
  file?: Blob;
  hash: ReturnType<typeof sha256.create>;
  /** Sender: the end frame (with the hash) went out. */
  endSent?: boolean;
  /** Receiver: chunks not yet moved into a Blob, and the Blobs. */
  pending: ArrayBuffer[];
  pendingBytes: number;
  parts: Blob[];
  lastEmit: number;
  /** Speed window: bytes and time of the last sample. */
  speedAt: number;
  speedBytes: number;
  wake?: () => void;
}

let nextId = 1;

/** The call's file transfers (see the module comment). */
export class FileTransfers implements CallExtension {
  private readonly slots = new Map<string, Slot>();
  private peer: PeerSession | null = null;

  constructor(
    private readonly call: CallRoom,
    private readonly events: FileTransferEvents,
  ) {}

  /** Every transfer of this page, oldest first. */
  get transfers(): Transfer[] {
    return [...this.slots.values()].map((s) => s.t);
  }

  /** True when a file can be sent now (a connected call). */
  get ready(): boolean {
    const p = this.call.peer;
    return !!p && !p.closed && p.connectionState === 'connected';
  }

  /**
   * Offer `file` to the other person.
   * @returns the transfer, or null when the call is not connected.
   */
  send(file: File): Transfer | null {
    const peer = this.call.peer;
    if (!peer || !this.ready) return null;
    const dc = peer.pc.createDataChannel(FILE_CHANNEL_LABEL, { ordered: true });
    const t: Transfer = { id: `f${nextId++}`, direction: 'send', name: safeFileName(file.name), size: file.size, mime: file.type || 'application/octet-stream', state: 'offered', bytes: 0, speed: null };
    const slot = this.addSlot(t, dc);
    slot.file = file;
    dc.onopen = () => this.control(slot, { t: 'offer', name: t.name, size: t.size, mime: t.mime });
    return t;
  }

  /** Accept an offered file (receiver). */
  accept(id: string): void {
    const s = this.slots.get(id);
    if (!s || s.t.direction !== 'receive' || s.t.state !== 'offered') return;
    this.control(s, { t: 'accept' });
    this.setState(s, 'receiving');
  }

  /** Decline an offered file (receiver). */
  decline(id: string): void {
    const s = this.slots.get(id);
    if (!s || s.t.direction !== 'receive' || s.t.state !== 'offered') return;
    this.control(s, { t: 'decline' });
    s.t.by = 'me';
    this.finish(s, 'declined');
  }

  /** Cancel a transfer that is not finished (either side). */
  cancel(id: string): void {
    const s = this.slots.get(id);
    if (!s || isFinal(s.t.state)) return;
    this.control(s, { t: 'cancel' });
    s.t.by = 'me';
    this.finish(s, 'cancelled');
  }

  // ------------------------------------------------------------------ CallExtension

  peerCreated(peer: PeerSession): void {
    this.peer = peer;
    peer.pc.addEventListener('datachannel', (ev) => {
      if (ev.channel.label === FILE_CHANNEL_LABEL && this.peer === peer) this.incoming(ev.channel);
    });
  }

  peerClosed(): void {
    this.peer = null;
    for (const s of this.slots.values()) if (!isFinal(s.t.state)) this.fail(s, 'connection-lost');
  }

  left(): void {
    this.peerClosed();
  }

  // ------------------------------------------------------------------ internals

  private addSlot(t: Transfer, dc: RTCDataChannel): Slot {
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = LOW_WATER_BYTES;
    const now = performance.now();
    const slot: Slot = { t, dc, hash: sha256.create(), pending: [], pendingBytes: 0, parts: [], lastEmit: 0, speedAt: now, speedBytes: 0 };
    this.slots.set(t.id, slot);
    dc.onmessage = (ev) => this.onMessage(slot, ev.data as ArrayBuffer | string);
    dc.onbufferedamountlow = () => slot.wake?.();
    dc.onclose = () => {
      slot.wake?.();
      if (!isFinal(t.state)) this.fail(slot, 'connection-lost');
    };
    this.emit(slot, true);
    return slot;
  }

  private incoming(dc: RTCDataChannel): void {
    // The transfer exists once its offer arrives (the first frame).
    dc.binaryType = 'arraybuffer';
    dc.onmessage = (ev) => {
      const c = typeof ev.data === 'string' ? parseControl(ev.data) : null;
      if (!c || c.t !== 'offer') {
        this.events.log?.('file channel without a valid offer: closed');
        dc.close();
        return;
      }
      const t: Transfer = { id: `f${nextId++}`, direction: 'receive', name: c.name, size: c.size, mime: c.mime, state: 'offered', bytes: 0, speed: null };
      this.addSlot(t, dc);
    };
  }

  private onMessage(s: Slot, data: ArrayBuffer | string): void {
    const t = s.t;
    if (isFinal(t.state)) return;
    if (typeof data !== 'string') {
      if (t.direction !== 'receive' || t.state !== 'receiving' || t.bytes + data.byteLength > t.size) return this.protocolError(s);
      s.hash.update(new Uint8Array(data));
      s.pending.push(data);
      s.pendingBytes += data.byteLength;
      t.bytes += data.byteLength;
      if (s.pendingBytes >= BLOB_PART_BYTES) this.flushParts(s);
      this.emit(s);
      return;
    }
    const c = parseControl(data);
    if (!c) return this.protocolError(s);
    if (c.t === 'cancel') {
      t.by = 'them';
      return this.finish(s, 'cancelled');
    }
    if (t.direction === 'send') {
      if (c.t === 'accept' && t.state === 'offered') void this.pump(s);
      else if (c.t === 'decline' && t.state === 'offered') {
        t.by = 'them';
        this.finish(s, 'declined');
      } else if (c.t === 'result' && t.state === 'sending' && s.endSent) {
        // Our own bufferedAmount may lag behind what the receiver already has (Firefox).
        t.bytes = t.size;
        if (c.ok) this.finish(s, 'done');
        else this.fail(s, 'hash-mismatch');
      } else this.protocolError(s);
      return;
    }
    if (c.t === 'end' && t.state === 'receiving' && t.bytes === t.size) {
      const mine = hex(s.hash.digest());
      const ok = mine === c.sha256;
      this.control(s, { t: 'result', ok });
      if (!ok) return this.fail(s, 'hash-mismatch');
      this.flushParts(s);
      t.sha256 = mine;
      t.blob = new Blob(s.parts, { type: t.mime });
      s.parts = [];
      this.finish(s, 'done');
      return;
    }
    this.protocolError(s);
  }

  /** Send the file: read slices, hash them, queue chunks while the channel's buffer has room. */
  private async pump(s: Slot): Promise<void> {
    const { t, dc, file } = s;
    if (!file) return;
    this.setState(s, 'sending');
    let queued = 0;
    try {
      for (let offset = 0; offset < t.size; ) {
        const buf = new Uint8Array(await file.slice(offset, offset + READ_BYTES).arrayBuffer());
        if (t.state !== 'sending') return;
        if (buf.byteLength === 0) throw new Error('file shorter than announced');
        s.hash.update(buf);
        for (let i = 0; i < buf.byteLength; i += CHUNK_BYTES) {
          while (dc.bufferedAmount > HIGH_WATER_BYTES && t.state === 'sending' && dc.readyState === 'open') {
            await new Promise<void>((r) => (s.wake = r));
            s.wake = undefined;
            this.sentProgress(s, queued);
          }
          if (t.state !== 'sending' || dc.readyState !== 'open') return;
          const chunk = buf.subarray(i, Math.min(i + CHUNK_BYTES, buf.byteLength));
          dc.send(chunk);
          queued += chunk.byteLength;
        }
        offset += buf.byteLength;
        this.sentProgress(s, queued);
      }
      t.sha256 = hex(s.hash.digest());
      this.control(s, { t: 'end', sha256: t.sha256 });
      s.endSent = true;
      // Progress keeps moving while the last buffered bytes go out; the receiver's result ends it.
      while (t.state === 'sending' && dc.readyState === 'open' && dc.bufferedAmount > 0) {
        await new Promise((r) => setTimeout(r, PROGRESS_EVERY_MS));
        this.sentProgress(s, queued);
      }
    } catch (err) {
      this.events.log?.(`file ${t.name}: ${err instanceof Error ? err.message : String(err)}`);
      if (!isFinal(t.state)) {
        this.control(s, { t: 'cancel' });
        this.fail(s, dc.readyState === 'open' ? 'read-error' : 'connection-lost');
      }
    }
  }

  private sentProgress(s: Slot, queued: number): void {
    if (s.t.state !== 'sending') return;
    // bufferedAmount also holds the small control messages (the final {t:'end'}), which `queued`
    // does not count: never let the shown progress go back.
    s.t.bytes = Math.max(s.t.bytes, queued - (s.dc.readyState === 'open' ? s.dc.bufferedAmount : 0));
    this.emit(s);
  }

  private flushParts(s: Slot): void {
    if (s.pending.length === 0) return;
    s.parts.push(new Blob(s.pending));
    s.pending = [];
    s.pendingBytes = 0;
  }

  private control(s: Slot, c: Control): void {
    try {
      if (s.dc.readyState === 'open') s.dc.send(JSON.stringify(c));
    } catch {
      /* the channel is going away; its close event decides */
    }
  }

  private protocolError(s: Slot): void {
    this.events.log?.(`file ${s.t.name}: unexpected frame in state ${s.t.state}`);
    this.control(s, { t: 'cancel' });
    this.fail(s, 'protocol');
  }

  private fail(s: Slot, reason: FailReason): void {
    s.t.reason = reason;
    this.finish(s, 'failed');
  }

  private setState(s: Slot, state: TransferState): void {
    s.t.state = state;
    s.speedAt = performance.now();
    s.speedBytes = s.t.bytes;
    this.emit(s, true);
  }

  /** A final state: drop buffers, close the channel (after the last control frame went out). */
  private finish(s: Slot, state: TransferState): void {
    if (isFinal(s.t.state)) return;
    s.t.state = state;
    if (state !== 'done') {
      s.pending = [];
      s.parts = [];
      delete s.t.sha256;
    } else {
      s.t.bytes = s.t.size;
    }
    s.t.speed = null;
    s.file = undefined;
    s.wake?.();
    const dc = s.dc;
    // The receiver closes after its result, the sender after hearing it; a cancel closes at once.
    if (state !== 'done' || s.t.direction === 'send') setTimeout(() => dc.close(), state === 'done' ? 0 : 200);
    else setTimeout(() => dc.close(), 2000);
    this.emit(s, true);
  }

  private emit(s: Slot, force = false): void {
    const now = performance.now();
    if (now - s.speedAt >= 1000) {
      s.t.speed = ((s.t.bytes - s.speedBytes) * 1000) / (now - s.speedAt);
      s.speedAt = now;
      s.speedBytes = s.t.bytes;
    }
    if (!force && now - s.lastEmit < PROGRESS_EVERY_MS) return;
    s.lastEmit = now;
    this.events.changed(s.t);
  }
}
