/**
 * UDP measurement tools for the NAT lab (no ping/iperf needed): an echo server and a prober, each a
 * short-lived Node process inside a lab namespace. Used to check the link shaper (shaper.ts).
 *
 * Probe packets: `[u32 seq][u8 flags][padding to size]`. The echo server sends each packet back
 * whole, or only its first 8 bytes when flags bit 0 is set (an "ack", so that a rate test loads only
 * the direction under test).
 */
import type { ChildProcess } from 'node:child_process';
import type { LabNode, NatLab } from './lab.js';

/** UDP port of the echo server. */
export const ECHO_PORT = 7007;

const ECHO_SERVER = `
const s = require('dgram').createSocket('udp4');
s.on('message', (m, r) => s.send((m[4] & 1) ? m.subarray(0, 8) : m, r.port, r.address));
s.bind(Number(process.argv[2]), process.argv[1], () => process.stdout.write('listening\\n'));
`;

const PROBER = `
const [host, port, count, intervalMs, size, ackOnly, waitMs] = process.argv.slice(1);
const n = Number(count), every = Number(intervalMs), len = Math.max(8, Number(size));
const s = require('dgram').createSocket('udp4');
const sentAt = new Float64Array(n), rtt = new Float64Array(n).fill(-1);
let received = 0, receivedBytes = 0, firstRecv = -1, lastRecv = -1;
const now = () => Number(process.hrtime.bigint()) / 1e6;
s.on('message', (m) => {
  const seq = m.readUInt32BE(0), t = now();
  if (seq >= n || rtt[seq] >= 0) return;
  rtt[seq] = t - sentAt[seq]; received++; receivedBytes += ackOnly === '1' ? len : m.length;
  if (firstRecv < 0) firstRecv = t; lastRecv = t;
});
s.bind(0, () => {
  const t0 = now(); let next = 0;
  const buf = () => { const b = Buffer.alloc(len); b[4] = ackOnly === '1' ? 1 : 0; return b; };
  const tick = () => {
    // At most 32 per tick: after the process waited for the CPU, no burst that overflows a socket buffer.
    const due = Math.min(n, next + 32, Math.floor((now() - t0) / every) + 1);
    for (; next < due; next++) { const b = buf(); b.writeUInt32BE(next, 0); sentAt[next] = now(); s.send(b, Number(port), host); }
    if (next < n) setTimeout(tick, Math.max(0, every / 2)); else setTimeout(done, Number(waitMs));
  };
  const done = () => {
    process.stdout.write(JSON.stringify({ sent: n, received, receivedBytes, firstRecvMs: firstRecv - t0, lastRecvMs: lastRecv - t0, rttMs: Array.from(rtt) }));
    s.close();
  };
  tick();
});
`;

/** Result of {@link udpProbe}. */
export interface ProbeResult {
  sent: number;
  received: number;
  /** Payload bytes that came back (of the probes themselves when `ackOnly`). */
  receivedBytes: number;
  /** ms from the first send to the first / last reply. */
  firstRecvMs: number;
  lastRecvMs: number;
  /** Round-trip time per sequence number, ms; -1 for a packet that never came back. */
  rttMs: number[];
}

/**
 * Start the UDP echo server in `node`, listening on `host`:{@link ECHO_PORT}. The lab's teardown
 * kills it (or kill the returned process).
 * @throws Error when it does not listen within 10 s.
 */
export async function startEchoServer(lab: NatLab, node: LabNode, host: string): Promise<ChildProcess> {
  const proc = lab.spawn(node, [process.execPath, '-e', ECHO_SERVER, host, String(ECHO_PORT)]);
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`UDP echo server did not start: ${err}`)), 10_000);
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout!.once('data', () => {
      clearTimeout(t);
      resolve();
    });
  });
  return proc;
}

/** Options of {@link udpProbe}. */
export interface ProbeOptions {
  /** Packets to send (default 200). */
  count?: number;
  /** ms between packets (default 10; may be fractional). */
  intervalMs?: number;
  /** Payload bytes per packet (default 64, at least 8). */
  size?: number;
  /** Ask for 8-byte acks instead of full echoes (default false). */
  ackOnly?: boolean;
  /** ms to wait for late replies after the last send (default 1000). */
  waitMs?: number;
}

/**
 * Send `count` UDP probes from `node` to the echo server at `host`:{@link ECHO_PORT}, paced every
 * `intervalMs` (catching up at most 32 at a time when the prober was kept from the CPU), and
 * collect round-trip times.
 * @throws Error with the prober's output when it fails.
 */
export async function udpProbe(lab: NatLab, node: LabNode, host: string, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const count = opts.count ?? 200;
  const intervalMs = opts.intervalMs ?? 10;
  const waitMs = opts.waitMs ?? 1000;
  const argv = [process.execPath, '-e', PROBER, host, String(ECHO_PORT), String(count), String(intervalMs), String(opts.size ?? 64), opts.ackOnly ? '1' : '0', String(waitMs)];
  const r = await lab.run(node, argv, { timeoutMs: count * intervalMs + waitMs + 15_000 });
  try {
    return JSON.parse(r.stdout) as ProbeResult;
  } catch {
    throw new Error(`UDP prober failed (code ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr}${r.stdout.slice(0, 500)}`);
  }
}

/** Round-trip times of the packets that came back. */
export function answered(r: ProbeResult): number[] {
  return r.rttMs.filter((x) => x >= 0);
}

/** The `q` quantile (0..1) of `xs` (nearest rank); NaN when empty. */
export function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
