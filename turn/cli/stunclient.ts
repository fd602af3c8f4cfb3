#!/usr/bin/env node
/**
 * `stunclient`: STUN Binding requests (RFC 8489 §3, §6) to a STUN/TURN server; prints the mapped
 * address (XOR-MAPPED-ADDRESS) and the round-trip time, like coturn's `turnutils_stunclient`.
 *
 * ```
 * stunclient HOST [-p PORT] [--transport udp|tcp|tls] [-c COUNT] [-i INTERVAL_MS] [--timeout MS] [--rto MS]
 * ```
 * Over UDP each request is retransmitted per RFC 8489 §6.2.1 (RTO 500 ms by default, doubling,
 * at most 7 transmissions, last wait 16 × RTO) within `--timeout` per request (default 9 500 ms:
 * sends at 0, 0.5, 1.5, 3.5, 7.5 s). With `--count` > 1 it prints a loss and RTT summary.
 * Exit code 0 when at least one response arrived, 1 otherwise (and on bad arguments).
 */
import { Command, Option } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TurnTransport } from '../../contracts/relay.js';
import { StunTransactions, TransactionTimeoutError, openServerConnection } from '../client/index.js';
import { AttributeType, StunClass, StunMethod, encodeMessage, Attr } from '../stun/index.js';
import { CliError, configureCommand, exitWithError, formatAddress, intArg, portArg } from './common.js';

const PROG = 'stunclient';

interface StunClientOptions {
  port?: number;
  transport: TurnTransport;
  count: number;
  interval: number;
  timeout: number;
  rto: number;
  local?: string;
  ca?: string;
  json?: boolean;
}

/** Result of one Binding transaction, as printed with `--json`. */
interface BindingResult {
  seq: number;
  ok: boolean;
  mapped?: string;
  rttMs?: number;
  transmissions?: number;
  error?: string;
}

async function main(): Promise<void> {
  const program = configureCommand(new Command(PROG), PROG)
    .description('Send STUN Binding requests (RFC 8489) and print the mapped address and round-trip time.')
    .argument('<host>', 'STUN/TURN server host or IP')
    .option('-p, --port <port>', 'server port (default 3478, 5349 for tls)', portArg)
    .addOption(new Option('-T, --transport <transport>', 'transport to the server').choices(['udp', 'tcp', 'tls']).default('udp'))
    .option('-c, --count <n>', 'number of Binding requests', intArg(1, 1_000_000), 1)
    .option('-i, --interval <ms>', 'time between requests, ms', intArg(0, 3_600_000), 1000)
    .option('--timeout <ms>', 'give up on one request after this many ms', intArg(1, 600_000), 9500)
    .option('--rto <ms>', 'initial retransmission timeout, ms (RFC 8489 §6.2.1)', intArg(1, 60_000), 500)
    .option('-L, --local <addr>', 'local address to send from')
    .option('--ca <file>', 'TLS: verify the server against these CA certificates (default: not verified)')
    .option('--json', 'print one JSON object per response and a JSON summary')
    .parse(process.argv);
  const host = program.args[0]!;
  const opts = program.opts<StunClientOptions>();
  const port = opts.port ?? (opts.transport === 'tls' ? 5349 : 3478);

  let transport;
  try {
    transport = await openServerConnection({ transport: opts.transport, host, port, localAddress: opts.local, caFile: opts.ca });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const tx = new StunTransactions(transport, undefined, { rtoMs: opts.rto, timeoutMs: opts.timeout });
  const server = formatAddress(transport.server.address, port);
  const results: BindingResult[] = [];
  try {
    for (let seq = 1; seq <= opts.count; seq++) {
      const request = encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, attributes: [Attr.software('webrtc-call stunclient')] }, { fingerprint: true });
      const r: BindingResult = { seq, ok: false };
      try {
        const { response, rttMs, transmissions } = await tx.request(request);
        r.rttMs = Math.round(rttMs * 1000) / 1000;
        r.transmissions = transmissions;
        if (response.cls === StunClass.ErrorResponse) {
          const e = response.getErrorCode();
          r.error = `error response ${e ? `${e.code} ${e.reason}` : '(no ERROR-CODE)'}`;
        } else {
          const mapped = response.getXorAddress(AttributeType.XOR_MAPPED_ADDRESS) ?? response.getAddress(AttributeType.MAPPED_ADDRESS);
          if (!mapped) r.error = 'success response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS';
          else {
            r.ok = true;
            r.mapped = formatAddress(mapped.address, mapped.port);
          }
        }
      } catch (err) {
        r.error = err instanceof TransactionTimeoutError || tx.closedError ? (err as Error).message : `bad response: ${(err as Error).message}`;
      }
      results.push(r);
      report(r, server, opts.json);
      if (tx.closedError) break;
      if (seq < opts.count && opts.interval > 0) await sleep(opts.interval);
    }
  } finally {
    tx.failAll(new Error('closing'));
    transport.close();
  }

  const ok = results.filter((r) => r.ok);
  if (opts.count > 1 || opts.json) {
    const rtts = ok.map((r) => r.rttMs!);
    const summary = {
      server,
      transport: opts.transport,
      sent: results.length,
      received: ok.length,
      lossPercent: results.length === 0 ? 0 : Math.round(((results.length - ok.length) / results.length) * 10000) / 100,
      rttMinMs: rtts.length ? Math.min(...rtts) : undefined,
      rttAvgMs: rtts.length ? Math.round((rtts.reduce((a, b) => a + b, 0) / rtts.length) * 1000) / 1000 : undefined,
      rttMaxMs: rtts.length ? Math.max(...rtts) : undefined,
    };
    if (opts.json) console.log(JSON.stringify({ summary }));
    else
      console.log(
        `--- ${server} stun statistics ---\n${summary.sent} requests, ${summary.received} responses, ${summary.lossPercent}% loss` +
          (rtts.length ? `\nrtt min/avg/max = ${summary.rttMinMs}/${summary.rttAvgMs}/${summary.rttMaxMs} ms` : ''),
      );
  }
  if (ok.length === 0) {
    console.error(`${PROG}: no Binding response from ${server} (${opts.transport})`);
    process.exitCode = 1;
  }
}

function report(r: BindingResult, server: string, json?: boolean): void {
  if (json) console.log(JSON.stringify(r));
  else if (r.ok) console.log(`${server}: XOR-MAPPED-ADDRESS ${r.mapped} rtt=${r.rttMs} ms${r.transmissions! > 1 ? ` (${r.transmissions} transmissions)` : ''}`);
  else console.log(`${server}: request ${r.seq}: ${r.error}`);
}

main().catch((err: unknown) => exitWithError(PROG, err));
