/**
 * Bad networks in the NAT lab: loss, delay and a bandwidth limit on one peer's link, changeable at
 * run time (impair mid-call, then restore).
 *
 * The kernel here has no `netem` qdisc, so the impairment is a userspace element: a "shaper"
 * namespace (`sa` for peer A, `sb` for B) spliced into the cable between the peer's host and its
 * router, where shaper.py bridges the two veth ends with AF_PACKET raw sockets (see that file for
 * the link model). It is transparent to everything above Ethernet (ARP, IP, NAT, ICE: the host and
 * router see each other's MAC addresses as before) and applies loss, rate and delay in one place,
 * per direction:
 *
 *   [a] eth0 ── h0 [sa: shaper.py] r0 ── lan [ra] wan ── ...
 *        "up" = a → ra (what the peer sends), "down" = ra → a (what it receives)
 *
 * The veth ends that feed the shaper get `ethtool -K … tx off`: with checksum offload a frame
 * crosses a veth with its UDP/TCP checksum not yet filled in (and TCP as 64 KB TSO super-frames),
 * which a raw socket would copy as is and the far end would drop.
 *
 * Needs python3 (only python3-minimal modules) and ethtool, besides what the lab needs; use
 * {@link shaperUnavailableReason} to skip loudly otherwise.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LAB_ADDR, type LabPeer, type NatLab } from './lab.js';

/** Impairment of one direction of a link. Omitted fields are 0 (none). */
export interface LinkImpairment {
  /** Random loss, percent of frames (0–100). */
  lossPct?: number;
  /** Added one-way delay, ms (0–10 000). Applied to each direction the impairment is set on. */
  delayMs?: number;
  /** Bottleneck rate, kbit/s of whole Ethernet frames; 0 = unlimited. */
  rateKbit?: number;
  /**
   * Bottleneck queue, ms of sending time at `rateKbit` it may hold before tail-dropping (default
   * {@link DEFAULT_QUEUE_MS}). Ignored without a rate.
   */
  queueMs?: number;
}

/** Which way(s) of the link an impairment applies to: `up` = from the peer's host, `down` = to it. */
export type ImpairDirection = 'up' | 'down' | 'both';

/** Default bottleneck queue, ms (like `tbf … latency 300ms` on a home router). */
export const DEFAULT_QUEUE_MS = 300;

/** Counters of one direction of the shaper (frames unless named bytes). */
export interface ShaperDirectionStats {
  /** Frames that entered the shaper. */
  rx: number;
  /** Dropped by random loss. */
  lost: number;
  /** Dropped because the bottleneck queue (or the delay line) was full. */
  queueDrops: number;
  /** Frames sent on. */
  tx: number;
  /** Sends that failed (e.g. ENOBUFS). */
  txErrors: number;
  rxBytes: number;
  txBytes: number;
  /** Most frames ever waiting at once, and waiting now. */
  maxLine: number;
  queued: number;
  /** Frames sent more than 2 / 5 ms after their due time (the shaper's own timing error). */
  lateOver2ms: number;
  lateOver5ms: number;
  /** Largest and summed lateness against the due time, ms (mean = lateSumMs / tx). */
  lateMaxMs: number;
  lateSumMs: number;
  /** Longest time a frame spent in the shaper (queue + delay + lateness), ms. */
  maxWaitMs: number;
}

/** Both directions' counters. */
export interface ShaperStats {
  up: ShaperDirectionStats;
  down: ShaperDirectionStats;
}

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** shaper.py: next to this file when run from source; under the repository root from dist/. */
function shaperScript(): string {
  let dir = import.meta.dirname;
  for (let i = 0; i < 6; i++) {
    for (const p of [path.join(dir, 'shaper.py'), path.join(dir, 'test/natlab/shaper.py')]) if (existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  throw new Error(`shaper.py not found near ${import.meta.dirname}`);
}

/**
 * Why the shaper cannot run here, or `null` when it can (the lab itself is checked by
 * `labUnavailableReason`): needs python3 with AF_PACKET and ethtool.
 */
export function shaperUnavailableReason(): string | null {
  const py = spawnSync(PYTHON, ['-c', 'import socket, select; socket.AF_PACKET'], { encoding: 'utf8' });
  if (py.error || py.status !== 0) return `${PYTHON} with AF_PACKET not usable: ${py.error?.message ?? py.stderr.trim()} (install python3-minimal)`;
  const et = spawnSync('ethtool', ['--version'], { encoding: 'utf8' });
  if (et.error || et.status !== 0) return `ethtool not usable: ${et.error?.message ?? et.stderr.trim()} (install ethtool)`;
  return null;
}

/**
 * The shaper on one peer's link. Create with {@link attachShaper}; it lives as long as the lab
 * (the lab's teardown kills it with its namespace).
 */
export class LinkShaper {
  private readonly waiting: Array<(line: string) => void> = [];
  private buffered = '';
  private chain: Promise<unknown> = Promise.resolve();
  private settings: Record<'up' | 'down', Required<LinkImpairment>> = {
    up: { lossPct: 0, delayMs: 0, rateKbit: 0, queueMs: DEFAULT_QUEUE_MS },
    down: { lossPct: 0, delayMs: 0, rateKbit: 0, queueMs: DEFAULT_QUEUE_MS },
  };
  private stderr = '';
  /** Scheduling the shaper process got: `fifo` (real-time), `nice` (-10) or `normal`. */
  scheduling = 'normal';

  /** @internal use {@link attachShaper}. */
  constructor(
    readonly peer: LabPeer,
    private readonly proc: ChildProcess,
  ) {
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => {
      this.buffered += d;
      for (let i = this.buffered.indexOf('\n'); i >= 0; i = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, i);
        this.buffered = this.buffered.slice(i + 1);
        this.waiting.shift()?.(line);
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    proc.once('exit', (code, signal) => {
      for (const w of this.waiting.splice(0)) w(`error shaper exited (${code ?? signal}): ${this.stderr.trim()}`);
    });
  }

  /** Next reply line (the first one is "ready"). */
  nextLine(timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`shaper of ${this.peer}: no reply within ${timeoutMs} ms; stderr: ${this.stderr.trim()}`)), timeoutMs);
      this.waiting.push((line) => {
        clearTimeout(t);
        resolve(line);
      });
    });
  }

  /** Send one command and wait for its reply line (commands are serialized). */
  private command(cmd: string): Promise<string> {
    const run = async () => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`shaper of ${this.peer} is not running; stderr: ${this.stderr.trim()}`);
      const reply = this.nextLine();
      this.proc.stdin!.write(`${cmd}\n`);
      const line = await reply;
      if (line.startsWith('error')) throw new Error(`shaper of ${this.peer}: ${line}`);
      return line;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * Set the impairment of `dir` (default both ways; fields left out become 0). Takes effect for
   * frames arriving from now on.
   * @throws RangeError for values out of range; Error when the shaper process is gone.
   */
  async impair(imp: LinkImpairment, dir: ImpairDirection = 'both'): Promise<void> {
    const v: Required<LinkImpairment> = { lossPct: imp.lossPct ?? 0, delayMs: imp.delayMs ?? 0, rateKbit: imp.rateKbit ?? 0, queueMs: imp.queueMs ?? DEFAULT_QUEUE_MS };
    if (!(v.lossPct >= 0 && v.lossPct <= 100)) throw new RangeError(`lossPct must be 0-100, got ${v.lossPct}`);
    if (!(v.delayMs >= 0 && v.delayMs <= 10_000)) throw new RangeError(`delayMs must be 0-10000, got ${v.delayMs}`);
    if (!(v.rateKbit >= 0 && Number.isFinite(v.rateKbit))) throw new RangeError(`rateKbit must be >= 0, got ${v.rateKbit}`);
    if (!(v.queueMs > 0 && v.queueMs <= 10_000)) throw new RangeError(`queueMs must be 1-10000, got ${v.queueMs}`);
    for (const d of dir === 'both' ? (['up', 'down'] as const) : [dir]) {
      await this.command(`set ${d} ${v.lossPct} ${v.delayMs} ${v.rateKbit} ${v.queueMs}`);
      this.settings[d] = v;
    }
  }

  /** Remove every impairment (both ways): the link is a plain cable again. */
  clear(): Promise<void> {
    return this.impair({}, 'both');
  }

  /** The impairment currently set on each direction. */
  current(): Record<'up' | 'down', Required<LinkImpairment>> {
    return { up: { ...this.settings.up }, down: { ...this.settings.down } };
  }

  /** Counters since the shaper started or since the last {@link resetStats}. */
  async stats(): Promise<ShaperStats> {
    return JSON.parse(await this.command('stats')) as ShaperStats;
  }

  /** Zero the counters and maxima of both directions. */
  async resetStats(): Promise<void> {
    await this.command('reset');
  }
}

/**
 * Splice a shaper into `peer`'s link (host ↔ router) of a lab that is set up. Call it right after
 * `lab.setup()`, before anything runs in the lab: the host's `eth0` is re-created (addresses and
 * default route as before; the router's rules refer to interface names and stay valid). The link
 * starts unimpaired.
 * @param seed seed of the random loss (default: random), for repeatable runs.
 * @throws Error with the failing command's output, or when the shaper does not start.
 */
export async function attachShaper(lab: NatLab, peer: LabPeer, seed?: number): Promise<LinkShaper> {
  const host = lab.ns[peer];
  const router = lab.ns[peer === 'a' ? 'ra' : 'rb'];
  const shaper = lab.ns[peer === 'a' ? 'sa' : 'sb'];
  const hostAddr = peer === 'a' ? LAB_ADDR.a : LAB_ADDR.b;
  const lanAddr = peer === 'a' ? LAB_ADDR.raLan : LAB_ADDR.rbLan;
  const script = [
    'set -e',
    `ip netns add ${shaper}`,
    `ip netns exec ${shaper} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`,
    `ip -n ${shaper} link set lo up`,
    `ip -n ${router} link del lan`,
    `ip -n ${router} link add lan type veth peer name r0 netns ${shaper}`,
    `ip -n ${shaper} link add h0 type veth peer name eth0 netns ${host}`,
    `ip -n ${router} addr add ${lanAddr}/24 dev lan`,
    `ip -n ${router} link set lan up`,
    `ip -n ${host} addr add ${hostAddr}/24 dev eth0`,
    `ip -n ${host} link set eth0 up`,
    `ip -n ${host} route add default via ${lanAddr}`,
    // The shaper's ends carry no address: the kernel there ignores the frames, the raw sockets see all.
    `ip -n ${shaper} link set h0 promisc on up`,
    `ip -n ${shaper} link set r0 promisc on up`,
    `ip netns exec ${host} ethtool -K eth0 tx off >/dev/null`,
    `ip netns exec ${router} ethtool -K lan tx off >/dev/null`,
    `ip netns exec ${shaper} ethtool -K h0 tx off gro off >/dev/null`,
    `ip netns exec ${shaper} ethtool -K r0 tx off gro off >/dev/null`,
    '',
  ].join('\n');
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`splicing the shaper into ${peer}'s link failed (status ${r.status}): ${r.error?.message ?? ''}${r.stderr}`);
  const proc = lab.spawn(peer === 'a' ? 'sa' : 'sb', [PYTHON, '-u', shaperScript(), 'h0', 'r0', ...(seed === undefined ? [] : [String(seed)])]);
  const link = new LinkShaper(peer, proc);
  const first = await link.nextLine();
  const m = /^ready (\w+)$/.exec(first);
  if (!m) throw new Error(`shaper of ${peer} did not start: ${first}`);
  link.scheduling = m[1]!;
  return link;
}
