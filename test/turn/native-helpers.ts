/**
 * Helpers for the native data path tests: the addon (or the loud reason it is missing), a data
 * path on 127.0.0.1, raw UDP endpoints with a receive queue, allocations created the way the
 * control plane will (a STUN request tells the worker; bindRelay + createAllocation).
 */
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { createNativeDataPath, loadNativeAddon, NativeDataPath, type NativePacket, type NativePolicy, type NativeDataPathOptions } from '../../turn/native/nativeDataPath.js';
import { KNOWN_REQUIRED } from '../../turn/handlers/context.js';
import { Attr, AttributeType, StunClass, StunMethod, encodeMessage, newTransactionId, type OutgoingAttribute, type TransportAddress } from '../../turn/stun/index.js';

export const loaded = loadNativeAddon();
/** Why the native tests are skipped (undefined when the addon is built). */
export const skipReason = loaded.ok ? undefined : loaded.reason;
if (skipReason) console.warn(`\n*** NATIVE DATA PATH TESTS SKIPPED: ${skipReason} ***\n`);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns true (every 5 ms, at most `timeoutMs`). @returns the last result. */
export async function until(fn: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (fn()) return true;
    await sleep(5);
  }
  return fn();
}

/** Open file descriptors of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** A UDP endpoint with a queue of received datagrams. */
export class Udp {
  readonly received: Array<{ data: Buffer; address: string; port: number }> = [];
  private constructor(readonly socket: Socket) {
    socket.on('message', (data, r) => this.received.push({ data, address: r.address, port: r.port }));
  }

  static async open(ip = '127.0.0.1', port = 0): Promise<Udp> {
    const s = createSocket(ip.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, ip, () => resolve());
    });
    return new Udp(s);
  }

  get port(): number {
    return this.socket.address().port;
  }

  get address(): TransportAddress {
    const a = this.socket.address();
    return { family: a.family === 'IPv6' ? 6 : 4, address: a.address, port: a.port };
  }

  send(data: Buffer, port: number, ip = '127.0.0.1'): void {
    this.socket.send(data, port, ip);
  }

  /** The next datagram, waiting at most `timeoutMs`. @throws Error on timeout. */
  async next(timeoutMs = 2000): Promise<{ data: Buffer; address: string; port: number }> {
    if (!(await until(() => this.received.length > 0, timeoutMs))) throw new Error('no datagram received');
    return this.received.shift()!;
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      /* closed */
    }
  }
}

/** A started data path on 127.0.0.1 with one listener group; `packets` collects what it hands to JavaScript. */
export interface TestDataPath {
  dp: NativeDataPath;
  port: number;
  packets: NativePacket[];
  close(): void;
}

/** The relay's list of understood comprehension-required attributes, as the relay passes it. */
export const knownRequired = [...KNOWN_REQUIRED];

/** Default policy: the whole port space is "relay ports" except the listener (tests bind relay sockets on port 0). */
export async function startDataPath(options: Partial<NativeDataPathOptions> = {}, policy: Partial<NativePolicy> = {}): Promise<TestDataPath> {
  const packets: NativePacket[] = [];
  const dp = createNativeDataPath({ threads: 2, knownRequired, ...options }, (batch) => packets.push(...batch));
  if (!(dp instanceof NativeDataPath)) throw new Error(dp.reason);
  const l = dp.addListener('127.0.0.1', 0);
  if ('error' in l) throw new Error(l.error);
  dp.setPolicy({ minPort: 1024, maxPort: 65535, listeningPorts: [l.port], localRelayIps: ['127.0.0.1'], ...policy });
  const err = dp.start();
  if (err) throw new Error(err);
  return { dp, port: l.port, packets, close: () => dp.stop() };
}

/** A Binding request (what a client sends first). */
export function bindingRequest(): Buffer {
  return encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request }, { fingerprint: true });
}

/** A Send indication to `peer` carrying `data` (RFC 8656 §10.2), optionally with extra attributes first. */
export function sendIndication(peer: TransportAddress, data: Buffer, extra: OutgoingAttribute[] = [], tid = newTransactionId()): Buffer {
  return encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, transactionId: tid, attributes: [...extra, Attr.xorPeerAddress(peer, tid), Attr.data(data)] });
}

/** The Data indication the JavaScript data path sends for `data` from `peer` (RFC 8656 §10.3; no FINGERPRINT). */
export function dataIndication(tid: Buffer, peer: TransportAddress, data: Buffer): Buffer {
  return encodeMessage({ method: StunMethod.Data, cls: StunClass.Indication, transactionId: tid, attributes: [Attr.xorPeerAddress(peer, tid), Attr.raw(AttributeType.DATA, data)] });
}

/** ChannelData over UDP (no padding). */
export function channelData(channel: number, data: Buffer): Buffer {
  const out = Buffer.alloc(4 + data.length);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  data.copy(out, 4);
  return out;
}

/** An allocation of a UDP client: its handle, relay port and the transaction id of its Data indications. */
export interface TestAllocation {
  handle: number;
  relayPort: number;
  worker: number;
  tid: Buffer;
}

/**
 * Allocate for `client` the way the control plane does: the client's first STUN request tells which
 * worker its five-tuple lands on; a relay socket is bound and given to a new allocation there.
 * @throws Error when a step fails.
 */
export async function allocate(t: TestDataPath, client: Udp, opts: { relayRange?: { min: number; max: number }; maxBps?: number } = {}): Promise<TestAllocation> {
  client.send(bindingRequest(), t.port);
  let packet: NativePacket | undefined;
  await until(() => (packet = t.packets.find((p) => p.kind === 'stun' && p.port === client.port)) !== undefined);
  if (!packet || packet.kind !== 'stun') throw new Error('no STUN hand-off for the client');
  t.packets.splice(t.packets.indexOf(packet), 1);
  const relay = bindRelayIn(t, opts.relayRange);
  const tid = newTransactionId();
  const handle = t.dp.createAllocation({ socket: relay.socket, worker: packet.worker, stream: false, group: packet.group, clientIp: '127.0.0.1', clientPort: client.port, transactionId: tid, maxBps: opts.maxBps ?? 0 });
  if (typeof handle !== 'number') throw new Error(handle);
  return { handle, relayPort: relay.port, worker: packet.worker, tid };
}

/** Bind a relay socket on 127.0.0.1, on a free port of `range` (default: any port). @throws Error when none is free. */
export function bindRelayIn(t: TestDataPath, range?: { min: number; max: number }): { socket: number; port: number } {
  if (!range) {
    const r = t.dp.bindRelay('127.0.0.1', 0);
    if ('error' in r) throw new Error(r.error);
    return r;
  }
  const size = range.max - range.min + 1;
  const start = Math.floor(Math.random() * size);
  for (let i = 0; i < size; i++) {
    const r = t.dp.bindRelay('127.0.0.1', range.min + ((start + i) % size));
    if (!('error' in r)) return r;
    if (r.error !== 'EADDRINUSE' && r.error !== 'EACCES') throw new Error(r.error);
  }
  throw new Error('no free relay port');
}

/** Drops counted under `reason`. */
export function dropped(t: TestDataPath, reason: string): number {
  return t.dp.stats().dropped[reason] ?? 0;
}

/** Whether two `{ reason: count }` maps are equal (key order ignored). */
export function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const norm = (o: Record<string, number>) => JSON.stringify(Object.entries(o).sort(([x], [y]) => (x < y ? -1 : 1)));
  return norm(a) === norm(b);
}
