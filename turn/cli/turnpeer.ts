#!/usr/bin/env node
/**
 * `turnpeer`: a UDP echo peer like coturn's `turnutils_peer`. Every datagram received
 * is sent back unchanged to its source: put it behind a TURN relay as the peer of `uclient`.
 *
 * ```
 * turnpeer [-L ADDR]... [-p PORT] [--single-port] [--max-seconds S] [-v]   # default 127.0.0.1:3480 and :3481
 * ```
 * Like `turnutils_peer` it listens on PORT and PORT+1, so the RTCP half of `turnutils_uclient`'s
 * RTP/RTCP pairs (sent to the peer port + 1) is echoed too; `--single-port` (or port 0 = any free
 * port) listens on one. Prints `listening on ADDR:PORT (udp)` per socket once bound (the real port
 * for 0), and `received N datagrams (B bytes), echoed M` on exit (SIGINT/SIGTERM, or after
 * `--max-seconds`).
 */
import { Command } from 'commander';
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { CliError, configureCommand, exitWithError, formatAddress, intArg, portArg } from './common.js';

const PROG = 'turnpeer';
/** Requested UDP socket buffer size, bytes (the kernel caps it at net.core.rmem_max / wmem_max). */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

interface PeerOptions {
  listen: string[];
  port: number;
  singlePort?: boolean;
  maxSeconds?: number;
  verbose?: boolean;
}

/** Echo counters. */
interface EchoStats {
  /** Datagrams received. */
  received: number;
  /** Payload bytes received. */
  bytes: number;
  /** Datagrams echoed (send completed without error). */
  echoed: number;
  /** Echo sends that failed. */
  sendErrors: number;
}

/**
 * Bind one UDP echo socket per address and port.
 * @param addresses  IPv4/IPv6 literals.
 * @param ports      UDP ports (0 = any).
 * @returns the bound sockets (same order) and live counters.
 * @throws Error when a bind fails (e.g. EADDRINUSE).
 */
async function startEchoPeer(addresses: string[], ports: number[], onDatagram?: (len: number, from: string) => void): Promise<{ sockets: Socket[]; stats: EchoStats }> {
  const stats: EchoStats = { received: 0, bytes: 0, echoed: 0, sendErrors: 0 };
  const sockets: Socket[] = [];
  for (const { address, port } of addresses.flatMap((a) => ports.map((p) => ({ address: a, port: p })))) {
    // Large socket buffers (capped by net.core.rmem_max/wmem_max) absorb bursts from many clients.
    const sock = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4', ipv6Only: isIP(address) === 6, recvBufferSize: SOCKET_BUFFER_BYTES, sendBufferSize: SOCKET_BUFFER_BYTES });
    sock.on('message', (msg, rinfo) => {
      stats.received++;
      stats.bytes += msg.length;
      onDatagram?.(msg.length, formatAddress(rinfo.address, rinfo.port));
      sock.send(msg, rinfo.port, rinfo.address, (err) => {
        if (err) stats.sendErrors++;
        else stats.echoed++;
      });
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, address, () => {
        sock.off('error', reject);
        // Later socket errors (e.g. ICMP-induced) must not kill the peer.
        sock.on('error', () => stats.sendErrors++);
        resolve();
      });
    });
    sockets.push(sock);
  }
  return { sockets, stats };
}

async function main(): Promise<void> {
  const program = configureCommand(new Command(PROG), PROG)
    .description('UDP echo peer for TURN tests (like turnutils_peer): echoes every datagram to its sender.')
    .option('-L, --listen <addr>', 'listening address, repeatable (default 127.0.0.1)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('-p, --port <port>', 'UDP port; PORT+1 too, for RTCP (0 = one free port)', portArg, 3480)
    .option('--single-port', 'listen on PORT only (not PORT+1)')
    .option('--max-seconds <s>', 'exit after this many seconds', intArg(1, 7 * 86_400))
    .option('-v, --verbose', 'print every datagram')
    .parse(process.argv);
  const opts = program.opts<PeerOptions>();
  const listen = opts.listen ?? ['127.0.0.1'];
  for (const a of listen) if (isIP(a) === 0) throw new CliError(`bad listening address ${JSON.stringify(a)}: expected an IPv4 or IPv6 address`);

  let peer;
  try {
    const ports = opts.port === 0 || opts.singlePort || opts.port === 65535 ? [opts.port] : [opts.port, opts.port + 1];
    peer = await startEchoPeer(listen, ports, opts.verbose ? (len, from) => console.log(`${len} bytes from ${from}`) : undefined);
  } catch (err) {
    throw new CliError(`cannot listen on port ${opts.port}: ${(err as Error).message}`);
  }
  for (const s of peer.sockets) {
    const a = s.address();
    console.log(`listening on ${formatAddress(a.address, a.port)} (udp)`);
  }

  let timer: NodeJS.Timeout | undefined;
  const finish = () => {
    if (timer) clearTimeout(timer);
    for (const s of peer.sockets) s.close();
    const st = peer.stats;
    console.log(`received ${st.received} datagrams (${st.bytes} bytes), echoed ${st.echoed}, send errors ${st.sendErrors}`);
    process.exit(0);
  };
  process.once('SIGINT', finish);
  process.once('SIGTERM', finish);
  if (opts.maxSeconds !== undefined) timer = setTimeout(finish, opts.maxSeconds * 1000);
}

main().catch((err: unknown) => exitWithError(PROG, err));
