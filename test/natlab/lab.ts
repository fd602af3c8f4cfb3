/**
 * NAT lab: real NATs and firewalls on one machine with Linux network namespaces, veth pairs and
 * iptables (nft backend), for end-to-end ICE/TURN tests.
 *
 * Topology (addresses are fixed; namespace names are unique per lab):
 *
 *   [a] 10.0.1.2 ── lan 10.0.1.1 [ra] wan 203.0.113.2 ──┐
 *                                                        ├─ br0 [pub] 203.0.113.10 (+ .11), the server/relay
 *   [b] 10.0.2.2 ── lan 10.0.2.1 [rb] wan 203.0.113.3 ──┘
 *
 * - `a`, `b`: the two peers' hosts (one interface `eth0`, default route via their router).
 * - `ra`, `rb`: home routers. NAT on the WAN side: `port-preserving` (MASQUERADE: keeps the source
 *   port when free, endpoint-independent mapping) or `symmetric` (MASQUERADE --random-fully: a new
 *   random port per five-tuple, i.e. address-and-port-dependent mapping, RFC 4787 §4.1).
 *   FORWARD accepts from the WAN side only ESTABLISHED,RELATED (address-and-port-dependent
 *   filtering); INPUT drops unsolicited NEW/INVALID packets on the WAN side (otherwise conntrack
 *   entries created by unsolicited packets collide with later mappings and a port-preserving NAT
 *   behaves symmetric). A firewall preset filters what the LAN may send out (see {@link FirewallPreset}),
 *   and `cut()`/`restore()` drop/let through all traffic of a peer.
 * - `pub`: the "Internet": a bridge joining both routers' WAN sides; holds the server and relay at
 *   {@link LAB_ADDR}.server (and a second address `.11` for RFC 5780 tests). Its default route (and the
 *   routers') points at 203.0.113.254, a permanent neighbour entry with a MAC nobody owns: sends to an
 *   unroutable address (e.g. a peer's private host candidate) succeed locally and vanish, as on the
 *   Internet, instead of failing with ENETUNREACH.
 * - IPv6 is disabled in every namespace (else link-local addresses appear late and Chromium aborts
 *   page loads with net::ERR_NETWORK_CHANGED).
 *
 * A link can be made bad (loss, delay, bandwidth) by splicing a shaper into it: see shaper.ts.
 *
 * The test process stays in the root namespace and has NO route into the lab: run programs inside
 * with {@link NatLab.run} / {@link NatLab.spawn} (or `ip netns exec NS ...`).
 *
 * Lifecycle: `await lab.setup()`, then `lab.teardown()` (idempotent, synchronous) in `afterAll`. Each
 * lab also registers a `process.on('exit')` teardown, and `setup()` first deletes namespaces left by
 * dead processes of earlier runs (names carry the creating pid).
 *
 * Needs root, `ip netns` and `iptables`; use {@link labUnavailableReason} to skip loudly otherwise.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** NAT behaviour of a router. */
export type NatType = 'port-preserving' | 'symmetric';

/**
 * What a router lets its LAN send to the WAN (traffic from the WAN is always limited to
 * ESTABLISHED,RELATED):
 * - `open`: everything.
 * - `block-udp-except-none`: all UDP dropped; TCP only to the server's web port (page + signaling)
 *   and to the relay's TURN TCP port. Everything else dropped.
 * - `tls-only`: TCP only to the server's web port and to the relay's TURN TLS port; everything else
 *   (all UDP, other TCP) dropped.
 */
export type FirewallPreset = 'open' | 'block-udp-except-none' | 'tls-only';

/** Ports the firewall presets allow (on {@link LAB_ADDR}.server). */
export interface FirewallPorts {
  /** HTTPS port of the web server (page, Socket.IO, /api/ice-servers). */
  httpsPort?: number;
  /** TURN port (TCP) for `block-udp-except-none`. */
  turnPort?: number;
  /** TURN TLS port for `tls-only`. */
  turnTlsPort?: number;
}

/**
 * Lab hosts: the two peers, their routers and the public network; `sa`/`sb` are the optional link
 * shapers between a peer and its router (they exist only after `attachShaper`, see shaper.ts).
 */
export type LabNode = 'a' | 'b' | 'ra' | 'rb' | 'pub' | 'sa' | 'sb';

/** The peers a router belongs to. */
export type LabPeer = 'a' | 'b';

/** Fixed addresses of the lab (IPv4). */
export const LAB_ADDR = {
  /** Server and relay in `pub`. */
  server: '203.0.113.10',
  /** Second address of `pub` (alternate address for RFC 5780 NAT behaviour discovery). */
  serverAlt: '203.0.113.11',
  /** WAN (public) address of router `ra`, i.e. peer A's server-reflexive address. */
  raWan: '203.0.113.2',
  /** WAN (public) address of router `rb`. */
  rbWan: '203.0.113.3',
  /** The "Internet" next hop that silently swallows everything. */
  blackhole: '203.0.113.254',
  /** Public prefix (documentation range TEST-NET-3, RFC 5737). */
  publicPrefix: '203.0.113.0/24',
  a: '10.0.1.2',
  raLan: '10.0.1.1',
  b: '10.0.2.2',
  rbLan: '10.0.2.1',
} as const;

/** Options of a lab. */
export interface LabOptions {
  /** Namespace name prefix (default `natlab`). Names are `<prefix>-<pid>-<random>-<node>`. */
  prefix?: string;
  /** NAT of router `ra` (default `port-preserving`). */
  natA?: NatType;
  /** NAT of router `rb` (default `port-preserving`). */
  natB?: NatType;
}

/** Result of {@link NatLab.run}. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the command was killed because `timeoutMs` passed. */
  timedOut: boolean;
}

const BLACKHOLE_MAC = '02:00:5e:00:53:fe';

/**
 * Why the lab cannot run here, or `null` when it can: needs root, a working `ip netns` and
 * `iptables`/`iptables-restore`.
 */
export function labUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `NAT lab needs Linux network namespaces (platform ${process.platform})`;
  if (process.getuid?.() !== 0) return 'NAT lab needs root (network namespaces, iptables)';
  const ip = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (ip.error || ip.status !== 0) return `\`ip netns list\` failed: ${ip.error?.message ?? ip.stderr.trim()} (install iproute2)`;
  for (const bin of ['iptables', 'iptables-restore']) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return `\`${bin}\` not usable: ${r.error?.message ?? r.stderr.trim()} (install iptables)`;
  }
  return null;
}

/** Print a loud skip banner (use with `describe.skipIf`). */
export function warnLabSkipped(reason: string, what = 'NAT lab tests'): void {
  const line = '!'.repeat(78);
  console.warn(`\n${line}\n!! SKIPPING ${what}: ${reason}\n${line}\n`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNetns(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n): n is string => !!n);
}

/** SIGKILL every process still inside namespace `ns`, then delete it. Errors are ignored. */
function killAndDeleteNetns(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  if (pids.status === 0) {
    for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
  }
  spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
}

/**
 * Delete namespaces `<prefix>-<pid>-...` whose creating process no longer exists (left by a run
 * that was killed before its teardown). @returns the deleted names.
 */
export function sweepStaleLabs(prefix = 'natlab'): string[] {
  const re = new RegExp(`^${prefix.replace(/[^a-zA-Z0-9]/g, '\\$&')}-(\\d+)-[0-9a-f]+-(?:pub|ra|rb|a|b|sa|sb)$`);
  const removed: string[] = [];
  for (const ns of listNetns()) {
    const m = re.exec(ns);
    if (m && !pidAlive(Number(m[1]))) {
      killAndDeleteNetns(ns);
      removed.push(ns);
    }
  }
  return removed;
}

/** Configuration of one router (see {@link NatLab.routerState}). */
export interface RouterState {
  nat: NatType;
  firewall: FirewallPreset;
  ports: FirewallPorts;
  /** True between {@link NatLab.cut} and {@link NatLab.restore}. */
  cut: boolean;
}

/**
 * One NAT lab (five namespaces). Not usable before {@link NatLab.setup} resolves.
 */
export class NatLab {
  /** Unique id of this lab (`<prefix>-<pid>-<random>`). */
  readonly id: string;
  /** Namespace name of each node. */
  readonly ns: Readonly<Record<LabNode, string>>;
  private readonly routers: Record<LabPeer, RouterState>;
  private readonly children = new Set<ChildProcess>();
  private created = false;
  private tornDown = false;
  private readonly onExit = () => this.teardown();

  constructor(opts: LabOptions = {}) {
    const prefix = opts.prefix ?? 'natlab';
    if (!/^[a-zA-Z0-9_]{1,20}$/.test(prefix)) throw new RangeError(`lab prefix must be 1-20 of [A-Za-z0-9_], got ${JSON.stringify(prefix)}`);
    this.id = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.ns = { pub: `${this.id}-pub`, ra: `${this.id}-ra`, rb: `${this.id}-rb`, a: `${this.id}-a`, b: `${this.id}-b`, sa: `${this.id}-sa`, sb: `${this.id}-sb` };
    this.routers = {
      a: { nat: opts.natA ?? 'port-preserving', firewall: 'open', ports: {}, cut: false },
      b: { nat: opts.natB ?? 'port-preserving', firewall: 'open', ports: {}, cut: false },
    };
  }

  /**
   * Create the namespaces, links, addresses, routes and router rules.
   * @throws Error with the failing command's output; whatever was created is torn down first.
   */
  async setup(): Promise<void> {
    if (this.created) throw new Error('lab already set up');
    const prefix = this.id.split('-')[0]!;
    sweepStaleLabs(prefix);
    this.created = true;
    process.on('exit', this.onExit);
    const { pub, ra, rb, a, b } = this.ns;
    const L = LAB_ADDR;
    const lines: string[] = [];
    for (const ns of [pub, ra, rb, a, b]) {
      lines.push(`ip netns add ${ns}`);
      lines.push(`ip netns exec ${ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`);
      lines.push(`ip -n ${ns} link set lo up`);
    }
    // The public network: a bridge holding the server's addresses.
    lines.push(
      `ip -n ${pub} link add br0 type bridge`,
      `ip -n ${pub} addr add ${L.server}/24 dev br0`,
      `ip -n ${pub} addr add ${L.serverAlt}/24 dev br0`,
      `ip -n ${pub} link set br0 up`,
    );
    const router = (r: string, host: string, port: string, wan: string, lan: string, hostAddr: string) => {
      lines.push(
        // WAN side: veth wan (router) <-> port (pub bridge)
        `ip -n ${r} link add wan type veth peer name ${port} netns ${pub}`,
        `ip -n ${pub} link set ${port} master br0`,
        `ip -n ${pub} link set ${port} up`,
        `ip -n ${r} addr add ${wan}/24 dev wan`,
        `ip -n ${r} link set wan up`,
        // LAN side: veth lan (router) <-> eth0 (host)
        `ip -n ${r} link add lan type veth peer name eth0 netns ${host}`,
        `ip -n ${r} addr add ${lan}/24 dev lan`,
        `ip -n ${r} link set lan up`,
        `ip -n ${host} addr add ${hostAddr}/24 dev eth0`,
        `ip -n ${host} link set eth0 up`,
        `ip -n ${host} route add default via ${lan}`,
        `ip netns exec ${r} sysctl -qw net.ipv4.ip_forward=1`,
        `ip -n ${r} neigh replace ${L.blackhole} lladdr ${BLACKHOLE_MAC} dev wan nud permanent`,
        `ip -n ${r} route add default via ${L.blackhole} dev wan`,
      );
    };
    router(ra, a, 'pra', L.raWan, L.raLan, L.a);
    router(rb, b, 'prb', L.rbWan, L.rbLan, L.b);
    lines.push(
      `ip -n ${pub} neigh replace ${L.blackhole} lladdr ${BLACKHOLE_MAC} dev br0 nud permanent`,
      `ip -n ${pub} route add default via ${L.blackhole} dev br0`,
    );
    const script = `set -e\n${lines.join('\n')}\n`;
    const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) {
      const msg = `NAT lab setup failed (status ${r.status}): ${r.error?.message ?? ''}${r.stderr}`;
      this.teardown();
      throw new Error(msg);
    }
    try {
      this.applyRules('a');
      this.applyRules('b');
    } catch (e) {
      this.teardown();
      throw e;
    }
  }

  /** Current NAT type, firewall preset and cut state of a peer's router. */
  routerState(peer: LabPeer): Readonly<RouterState> {
    return { ...this.routers[peer], ports: { ...this.routers[peer].ports } };
  }

  /** Change the NAT type of `peer`'s router (existing conntrack mappings stay until they time out). */
  setNat(peer: LabPeer, nat: NatType): void {
    this.routers[peer].nat = nat;
    this.applyRules(peer);
  }

  /**
   * Apply a firewall preset on `peer`'s router (outbound from the LAN; see {@link FirewallPreset}).
   * @throws RangeError when the preset needs a port that `ports` does not give.
   */
  setFirewall(peer: LabPeer, preset: FirewallPreset, ports: FirewallPorts = {}): void {
    if (preset === 'block-udp-except-none' && !ports.turnPort) throw new RangeError('block-udp-except-none needs ports.turnPort');
    if (preset === 'tls-only' && !ports.turnTlsPort) throw new RangeError('tls-only needs ports.turnTlsPort');
    this.routers[peer].firewall = preset;
    this.routers[peer].ports = { ...ports };
    this.applyRules(peer);
  }

  /** Drop all traffic of `peer` (both directions, at its router) until {@link restore}. */
  cut(peer: LabPeer = 'a'): void {
    this.routers[peer].cut = true;
    this.applyRules(peer);
  }

  /** Undo {@link cut}. */
  restore(peer: LabPeer = 'a'): void {
    this.routers[peer].cut = false;
    this.applyRules(peer);
  }

  /** The iptables-restore ruleset of `peer`'s router for its current state. */
  rulesFor(peer: LabPeer): string {
    const s = this.routers[peer];
    const server = LAB_ADDR.server;
    const fw: string[] = [];
    const allowTcp = (port: number | undefined) => {
      if (port) fw.push(`-A LAB-FW -p tcp -d ${server} --dport ${port} -j RETURN`);
    };
    if (s.firewall === 'block-udp-except-none') {
      allowTcp(s.ports.httpsPort);
      allowTcp(s.ports.turnPort);
      fw.push('-A LAB-FW -j DROP');
    } else if (s.firewall === 'tls-only') {
      allowTcp(s.ports.httpsPort);
      allowTcp(s.ports.turnTlsPort);
      fw.push('-A LAB-FW -j DROP');
    }
    const cut = s.cut ? ['-A LAB-CUT -i lan -j DROP', '-A LAB-CUT -o lan -j DROP'] : [];
    return [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD DROP [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':LAB-CUT - [0:0]',
      ':LAB-FW - [0:0]',
      ...cut,
      ...fw,
      '-A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
      '-A INPUT -i wan -j DROP',
      '-A FORWARD -j LAB-CUT',
      '-A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
      '-A FORWARD -i lan -o wan -j LAB-FW',
      '-A FORWARD -i lan -o wan -j ACCEPT',
      'COMMIT',
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':INPUT ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      `-A POSTROUTING -o wan -j MASQUERADE${s.nat === 'symmetric' ? ' --random-fully' : ''}`,
      'COMMIT',
      '',
    ].join('\n');
  }

  private applyRules(peer: LabPeer): void {
    if (!this.created || this.tornDown) throw new Error('lab is not set up');
    const ns = peer === 'a' ? this.ns.ra : this.ns.rb;
    const r = spawnSync('ip', ['netns', 'exec', ns, 'iptables-restore'], { input: this.rulesFor(peer), encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`iptables-restore in ${ns} failed: ${r.error?.message ?? ''}${r.stderr}`);
  }

  /** `['ip', 'netns', 'exec', NS]`: prefix to run a command inside `node` (e.g. for `startServer`). */
  prefix(node: LabNode): string[] {
    return ['ip', 'netns', 'exec', this.ns[node]];
  }

  /**
   * Run `argv` inside `node` and collect its output.
   * @param timeoutMs kill (SIGKILL) after this many ms (default 20 000); `timedOut` is then true.
   */
  run(node: LabNode, argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    const child = this.spawn(node, argv);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 20_000);
    return new Promise((resolve) => {
      child.once('error', (e) => {
        stderr += String(e);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, timedOut });
      });
    });
  }

  /**
   * HTTPS GET from inside `node` (self-signed certificates accepted), by a short-lived Node process
   * in that namespace. Never throws for network errors.
   * @returns status (0 when unreachable or timed out) and body text.
   */
  async httpsGet(node: LabNode, url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
    const script =
      'const u=process.argv[1],t=Number(process.argv[2]);' +
      "const r=require('https').get(u,{rejectUnauthorized:false,timeout:t},(res)=>{let b='';res.setEncoding('utf8');" +
      "res.on('data',(c)=>b+=c);res.on('end',()=>{process.stdout.write(JSON.stringify({status:res.statusCode,body:b}))})});" +
      "r.on('timeout',()=>r.destroy(new Error('timeout')));r.on('error',()=>process.stdout.write(JSON.stringify({status:0,body:''})));";
    const r = await this.run(node, [process.execPath, '-e', script, url, String(timeoutMs)], { timeoutMs: timeoutMs + 3000 });
    try {
      const v = JSON.parse(r.stdout) as { status: number; body: string };
      return { status: v.status ?? 0, body: v.body ?? '' };
    } catch {
      return { status: 0, body: '' };
    }
  }

  /**
   * Start `argv` inside `node` (stdio piped). The process is killed by {@link teardown} if still running.
   */
  spawn(node: LabNode, argv: string[]): ChildProcess {
    if (!this.created || this.tornDown) throw new Error('lab is not set up');
    const child = spawn('ip', ['netns', 'exec', this.ns[node], ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /**
   * Kill every process started in the lab (and any other process left inside its namespaces) and
   * delete every namespace this lab created. Synchronous and idempotent: safe in `afterAll`, after a
   * failed `setup()` and in `process.on('exit')`.
   */
  teardown(): void {
    if (this.tornDown || !this.created) return;
    this.tornDown = true;
    process.off('exit', this.onExit);
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    this.children.clear();
    const mine = new Set(Object.values(this.ns));
    for (const ns of listNetns()) if (mine.has(ns)) killAndDeleteNetns(ns);
  }

  /** Names of this lab's namespaces that still exist (empty after teardown). */
  remainingNamespaces(): string[] {
    const mine = new Set(Object.values(this.ns));
    return listNetns().filter((n) => mine.has(n));
  }
}
