#!/usr/bin/env node
/**
 * `uclient`: TURN load/echo client in the spirit of coturn's `turnutils_uclient`. Each of
 * `--clients` concurrent clients opens its own transport to the relay, Allocates (RFC 8656 §7;
 * 401 → retry with long-term credentials), installs a permission and binds a channel to the peer,
 * then sends `--messages` messages of `--length` bytes every `--interval` ms as ChannelData (or Send
 * indications with `-s`), receives the peer's echoes through the relay, matches them by sequence
 * number and finally releases the allocation (Refresh LIFETIME 0).
 *
 * ```
 * uclient HOST [-p PORT] -e PEER_ADDR [-r PEER_PORT] [-u USER -w PASSWORD | -W SECRET] [--realm R]
 *         [-m CLIENTS] [-n MESSAGES] [-l LENGTH] [-z INTERVAL_MS] [-s] [--transport udp|tcp|tls | -t [-S]]
 *         [--ca FILE] [--max-seconds S] [--max-loss PCT] [--json]
 * ```
 * Payload: bytes 0–3 client index, 4–7 sequence number, then a pattern derived from both (checked
 * on receipt). RTT is measured per message from send to echo (ms); jitter is the mean absolute
 * difference between consecutive RTTs of a client (RFC 3550-style, unsmoothed), in ms.
 * Runs longer than 2 minutes refresh the allocation, permission and channel every 120 s.
 * Exit code 0 when every client completed and loss ≤ `--max-loss` (default 0: any lost message
 * fails the run, as a verification tool should), 1 otherwise.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeRestCredential } from '../auth/restCredentials.js';
import type { TransportAddress, TurnTransport } from '../../contracts/relay.js';
import { TurnClient, expectSuccess, type TurnCredentials } from '../client/index.js';
import { MIN_CHANNEL } from '../stun/index.js';
import { CliError, configureCommand, exitWithError, formatAddress, intArg, portArg } from './common.js';
import { MIN_SECRET_LENGTH } from '../auth/secretStore.js';

const PROG = 'uclient';
const HEADER = 8;
/** Period of Refresh + CreatePermission + ChannelBind during long runs, ms (below the 300 s permission lifetime). */
const REFRESH_EVERY_MS = 120_000;

interface UclientOptions {
  port?: number;
  peerAddress: string;
  peerPort: number;
  user?: string;
  password?: string;
  restSecret?: string;
  realm?: string;
  clients: number;
  messages: number;
  length: number;
  interval: number;
  sendIndications?: boolean;
  transport?: TurnTransport;
  tcp?: boolean;
  tls?: boolean;
  ca?: string;
  lifetime?: number;
  drain: number;
  timeout: number;
  maxSeconds: number;
  maxLoss: number;
  json?: boolean;
  verbose?: boolean;
}

/** Per-client results. */
interface ClientResult {
  index: number;
  ok: boolean;
  error?: string;
  relayed?: string;
  sent: number;
  sendBytes: number;
  received: number;
  recvBytes: number;
  duplicates: number;
  corrupted: number;
  rtts: number[];
  jitterSum: number;
  jitterCount: number;
  refreshed: boolean;
}

/** Fill the payload for (client, seq): header + pattern. */
function fillPayload(buf: Buffer, client: number, seq: number): void {
  buf.writeUInt32BE(client, 0);
  buf.writeUInt32BE(seq, 4);
  for (let i = HEADER; i < buf.length; i++) buf[i] = (seq + client + i) & 0xff;
}

function payloadIntact(buf: Buffer, client: number, seq: number): boolean {
  for (let i = HEADER; i < buf.length; i++) if (buf[i] !== ((seq + client + i) & 0xff)) return false;
  return true;
}

async function runClient(index: number, opts: UclientOptions, host: string, port: number, transport: TurnTransport, peer: TransportAddress, creds: TurnCredentials | undefined, deadline: number, log: (s: string) => void): Promise<ClientResult> {
  const r: ClientResult = { index, ok: false, sent: 0, sendBytes: 0, received: 0, recvBytes: 0, duplicates: 0, corrupted: 0, rtts: [], jitterSum: 0, jitterCount: 0, refreshed: false };
  const sendTimes = new Float64Array(opts.messages).fill(-1);
  const seen = new Uint8Array(opts.messages);
  let lastRtt = -1;
  let session: TurnClient | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  try {
    session = await TurnClient.connect({ transport, host, port, caFile: opts.ca }, creds, { timeoutMs: Math.min(opts.timeout, Math.max(1, deadline - Date.now())) });
    session.onPeerData = (data) => {
      if (data.length < HEADER || data.readUInt32BE(0) !== index) {
        r.corrupted++;
        return;
      }
      const seq = data.readUInt32BE(4);
      if (seq >= opts.messages || sendTimes[seq]! < 0) {
        r.corrupted++;
        return;
      }
      if (seen[seq]) {
        r.duplicates++;
        return;
      }
      if (data.length !== opts.length || !payloadIntact(data, index, seq)) {
        r.corrupted++;
        return;
      }
      seen[seq] = 1;
      r.received++;
      r.recvBytes += data.length;
      const rtt = performance.now() - sendTimes[seq]!;
      r.rtts.push(rtt);
      if (lastRtt >= 0) {
        r.jitterSum += Math.abs(rtt - lastRtt);
        r.jitterCount++;
      }
      lastRtt = rtt;
    };
    const relayed = await session.allocateRelayed({ lifetime: opts.lifetime, family: peer.family });
    r.relayed = formatAddress(relayed.address, relayed.port);
    expectSuccess(await session.createPermission(peer));
    const channel = MIN_CHANNEL + (index % 0x1000);
    if (!opts.sendIndications) expectSuccess(await session.channelBind(channel, peer));
    // Long runs: keep the allocation (600 s), permission (300 s) and channel (600 s) alive (RFC 8656 §7.2, §9, §11).
    const s = session;
    refreshTimer = setInterval(() => {
      void (async () => {
        expectSuccess(await s.refresh(opts.lifetime ?? 600));
        expectSuccess(await s.createPermission(peer));
        if (!opts.sendIndications) expectSuccess(await s.channelBind(channel, peer));
      })().catch((err: unknown) => {
        if (opts.verbose) log(`client ${index}: refresh failed: ${(err as Error).message}`);
      });
    }, REFRESH_EVERY_MS);
    if (opts.verbose) log(`client ${index}: relayed ${r.relayed}, mapped ${session.mapped ? formatAddress(session.mapped.address, session.mapped.port) : '?'}`);

    const payload = Buffer.alloc(opts.length);
    const start = performance.now();
    for (let seq = 0; seq < opts.messages; seq++) {
      if (Date.now() > deadline) throw new Error('--max-seconds reached while sending');
      if (session.closedError) throw session.closedError;
      // Pace against the schedule (no drift): message seq goes out at start + seq × interval.
      const due = start + seq * opts.interval;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      else if (seq % 64 === 63) await new Promise((res) => setImmediate(res));
      fillPayload(payload, index, seq);
      sendTimes[seq] = performance.now();
      if (opts.sendIndications) session.sendIndication(peer, payload);
      else session.sendChannelData(channel, payload);
      r.sent++;
      r.sendBytes += payload.length;
    }
    // Wait for the echoes: until all arrived, or --drain ms after the last send, or the deadline.
    const drainEnd = Math.min(performance.now() + opts.drain, performance.now() + Math.max(0, deadline - Date.now()));
    while (r.received < r.sent && performance.now() < drainEnd && !session.closedError) await sleep(5);
    r.ok = true;
  } catch (err) {
    r.error = (err as Error).message;
  } finally {
    clearInterval(refreshTimer);
    // Release the allocation (Refresh LIFETIME 0), also after a failure mid-run; bounded to 3 s.
    if (session?.relayed && !session.closedError) {
      try {
        expectSuccess(await session.refresh(0, 3000));
        r.refreshed = true;
      } catch (err) {
        if (opts.verbose) log(`client ${index}: Refresh 0 failed: ${(err as Error).message}`);
      }
    }
    session?.close();
  }
  return r;
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

async function main(): Promise<void> {
  const program = configureCommand(new Command(PROG), PROG)
    .description('TURN load/echo client (like turnutils_uclient): allocate, bind a channel to an echo peer, send and match echoes, report loss, RTT and jitter.')
    .argument('<host>', 'TURN server host or IP')
    .option('-p, --port <port>', 'server port (default 3478, 5349 for tls)', portArg)
    .requiredOption('-e, --peer-address <addr>', 'peer IP address (an echo peer, e.g. turnpeer)')
    .option('-r, --peer-port <port>', 'peer port', portArg, 3480)
    .option('-u, --user <name>', 'long-term credential user name')
    .option('-w, --password <password>', 'long-term credential password')
    .option('-W, --rest-secret <secret>', 'TURN REST shared secret: mint a username/password (instead of -u/-w)')
    .option('--realm <realm>', 'realm (default: from the server 401)')
    .option('-m, --clients <n>', 'concurrent clients (one allocation each)', intArg(1, 1000), 1)
    .option('-n, --messages <n>', 'messages per client', intArg(0, 1_000_000), 5)
    .option('-l, --length <bytes>', `message length, bytes (${HEADER}–60000)`, intArg(HEADER, 60_000), 100)
    .option('-z, --interval <ms>', 'time between messages of a client, ms', intArg(0, 60_000), 20)
    .option('-s, --send-indications', 'send Send indications instead of ChannelData')
    .addOption(new Option('--transport <transport>', 'transport to the server').choices(['udp', 'tcp', 'tls']))
    .option('-t, --tcp', 'same as --transport tcp')
    .option('-S, --tls', 'with -t: same as --transport tls')
    .option('--ca <file>', 'TLS: verify the server against these CA certificates (default: not verified)')
    .option('--lifetime <s>', 'requested allocation LIFETIME, s (default: server default)', intArg(0, 86_400))
    .option('--drain <ms>', 'after the last send, wait at most this long for echoes, ms', intArg(0, 600_000), 2000)
    .option('--timeout <ms>', 'give up on one STUN transaction after this many ms (UDP retransmits per RFC 8489 §6.2.1 within it)', intArg(1, 600_000), 9500)
    .option('--max-seconds <s>', 'safety limit for the whole run, s', intArg(1, 86_400), 120)
    .option('--max-loss <pct>', 'exit 1 when loss exceeds this percentage (100: never fail on loss)', (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('expected a percentage from 0 to 100');
      return n;
    }, 0)
    .option('--json', 'print a JSON summary instead of text')
    .option('-v, --verbose', 'print per-client progress')
    .parse(process.argv);
  const host = program.args[0]!;
  const opts = program.opts<UclientOptions>();

  const transport: TurnTransport = opts.transport ?? (opts.tcp ? (opts.tls ? 'tls' : 'tcp') : 'udp');
  if (opts.tls && !opts.tcp && !opts.transport) throw new CliError('-S (TLS) needs -t (this client has no DTLS)');
  const port = opts.port ?? (transport === 'tls' ? 5349 : 3478);
  if (isIP(opts.peerAddress) === 0) throw new CliError(`bad peer address ${JSON.stringify(opts.peerAddress)}: expected an IPv4 or IPv6 address`);
  const peer: TransportAddress = { family: isIP(opts.peerAddress) === 6 ? 6 : 4, address: opts.peerAddress, port: opts.peerPort };

  let creds: TurnCredentials | undefined;
  if (opts.restSecret !== undefined) {
    if (opts.restSecret === '') throw new CliError('-W: empty secret (is the variable you passed set? the relay\'s secrets: turnadmin list-secrets; the generated one is in data/turn-secret)');
    if (opts.restSecret.length < MIN_SECRET_LENGTH) console.error(`${PROG}: warning: -W secret shorter than ${MIN_SECRET_LENGTH} characters`);
    if (opts.user !== undefined && opts.password !== undefined) throw new CliError('use either -u/-w or -W, not both');
    const c = makeRestCredential(opts.restSecret, (opts.user ?? 'uclient').replace(/:/g, '_'), Math.max(3600, opts.maxSeconds * 2));
    creds = { username: c.username, password: c.password, realm: opts.realm };
  } else if (opts.user !== undefined || opts.password !== undefined) {
    if (opts.user === undefined || opts.password === undefined) throw new CliError('-u USER and -w PASSWORD go together');
    creds = { username: opts.user, password: opts.password, realm: opts.realm };
  }

  const log = (s: string) => {
    if (!opts.json) console.log(s);
  };
  const mode = opts.sendIndications ? 'Send indications' : 'ChannelData';
  log(`${PROG}: ${opts.clients} client(s) to ${formatAddress(host, port)} over ${transport}, peer ${formatAddress(peer.address, peer.port)}, ${mode}, ${opts.messages} messages x ${opts.length} bytes every ${opts.interval} ms each`);

  const t0 = performance.now();
  const deadline = Date.now() + opts.maxSeconds * 1000;
  let deadlineTimer: NodeJS.Timeout | undefined;
  const hardStop = new Promise<'deadline'>((resolve) => {
    // A little slack past the soft deadline for the Refresh 0 and closing.
    deadlineTimer = setTimeout(() => resolve('deadline'), opts.maxSeconds * 1000 + 5000);
  });
  const all = Promise.all(Array.from({ length: opts.clients }, (_, i) => runClient(i, opts, host, port, transport, peer, creds, deadline, log)));
  const outcome = await Promise.race([all, hardStop]);
  clearTimeout(deadlineTimer);
  if (outcome === 'deadline') {
    console.error(`${PROG}: --max-seconds ${opts.maxSeconds} exceeded; aborting`);
    process.exit(1);
  }
  const results = outcome;
  const elapsedS = (performance.now() - t0) / 1000;

  const failed = results.filter((r) => !r.ok);
  const sent = results.reduce((a, r) => a + r.sent, 0);
  const received = results.reduce((a, r) => a + r.received, 0);
  const sendBytes = results.reduce((a, r) => a + r.sendBytes, 0);
  const recvBytes = results.reduce((a, r) => a + r.recvBytes, 0);
  const lost = sent - received;
  const lossPercent = sent === 0 ? 0 : (lost / sent) * 100;
  const rtts = results.flatMap((r) => r.rtts);
  const rttAvg = rtts.length ? rtts.reduce((a, b) => a + b, 0) / rtts.length : 0;
  const jitterCount = results.reduce((a, r) => a + r.jitterCount, 0);
  const jitter = jitterCount ? results.reduce((a, r) => a + r.jitterSum, 0) / jitterCount : 0;
  const summary = {
    transport,
    mode: opts.sendIndications ? 'send-indications' : 'channels',
    clients: opts.clients,
    clientsFailed: failed.length,
    errors: [...new Set(failed.map((r) => r.error ?? 'failed'))],
    sent,
    received,
    sendBytes,
    recvBytes,
    lost,
    lossPercent: round(lossPercent, 2),
    duplicates: results.reduce((a, r) => a + r.duplicates, 0),
    corrupted: results.reduce((a, r) => a + r.corrupted, 0),
    rttAvgMs: round(rttAvg),
    rttMinMs: rtts.length ? round(Math.min(...rtts)) : 0,
    rttMaxMs: rtts.length ? round(rtts.reduce((a, b) => Math.max(a, b), 0)) : 0,
    jitterMs: round(jitter),
    allocationsReleased: results.filter((r) => r.refreshed).length,
    elapsedS: round(elapsedS, 2),
  };
  if (opts.json) console.log(JSON.stringify(summary));
  else {
    for (const r of failed) console.log(`client ${r.index}: FAILED: ${r.error}`);
    console.log(`Total transmit time is ${summary.elapsedS} s`);
    console.log(`Total sent ${sent} messages (${sendBytes} bytes), received ${received} (${recvBytes} bytes)`);
    console.log(`Total lost packets ${lost} (${summary.lossPercent.toFixed(2)}%), duplicates ${summary.duplicates}, corrupted ${summary.corrupted}`);
    console.log(`Average round trip delay ${summary.rttAvgMs} ms; min = ${summary.rttMinMs} ms, max = ${summary.rttMaxMs} ms`);
    console.log(`Average jitter ${summary.jitterMs} ms`);
    console.log(`Allocations released (Refresh 0): ${summary.allocationsReleased}/${opts.clients}`);
  }
  if (failed.length > 0) console.error(`${PROG}: ${failed.length} of ${opts.clients} client(s) failed: ${summary.errors.join('; ')}`);
  else if (lossPercent > opts.maxLoss) console.error(`${PROG}: loss ${summary.lossPercent}% exceeds --max-loss ${opts.maxLoss}%`);
  process.exitCode = failed.length > 0 || lossPercent > opts.maxLoss ? 1 : 0;
}

main().catch((err: unknown) => exitWithError(PROG, err));
