#!/usr/bin/env node
/**
 * Loopback micro-benchmark (not a test): forwarded packets per CPU-second of a relay process,
 * native data path vs a minimal Node dgram relay doing what turn/server.ts does per packet
 * (ChannelData → peer with send(buf, 4, len); peer → client with one new buffer per packet).
 *
 * Usage: node turn/native/bench/pps.mjs [clients=50] [packets per client=2000] [payload bytes=200]
 * Each client gets an allocation with a channel to one echo peer; clients send ChannelData at a
 * bounded rate, the peer echoes, clients count what comes back. The relay runs in a child process
 * whose CPU time (user + system, all threads) is measured over the load. Traffic stays on 127.0.0.1.
 */
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === 'relay') await relay(process.argv[3], Number(process.argv[4]));
else await main();

/** Child: a relay on 127.0.0.1 that gives each client (first datagram = any STUN) a channel 0x4000 to the peer. */
async function relay(mode, peerPort) {
  const bind = (s, port = 0) => new Promise((r) => s.bind(port, '127.0.0.1', r));
  if (mode === 'native') {
    const { createNativeDataPath, NativeDataPath } = await import('../../../dist/turn/native/nativeDataPath.js').catch(() => import('../nativeDataPath.ts'));
    const clients = new Set();
    let dp;
    dp = createNativeDataPath({}, (packets) => {
      for (const p of packets) {
        if (p.kind !== 'stun' || clients.has(p.port)) continue;
        clients.add(p.port);
        const r = dp.bindRelay('127.0.0.1', 0);
        const h = dp.createAllocation({ socket: r.socket, worker: p.worker, stream: false, group: p.group, clientIp: p.address, clientPort: p.port, transactionId: Buffer.alloc(12, 1) });
        dp.installPermission(h, '127.0.0.1', false);
        dp.bindChannel(h, 0x4000, '127.0.0.1', peerPort);
        dp.send(p.group, p.address, p.port, Buffer.from(String(r.port)));
      }
    });
    if (!(dp instanceof NativeDataPath)) throw new Error(dp.reason);
    const l = dp.addListener('127.0.0.1', 0);
    dp.setPolicy({ minPort: 1024, maxPort: 65535, listeningPorts: [l.port], localRelayIps: ['127.0.0.1'] });
    dp.start();
    process.send({ port: l.port, workers: dp.info().workers });
    process.on('message', (m) => {
      if (m === 'cpu') process.send({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss, stats: dp.stats() });
      if (m === 'exit') {
        dp.stop();
        process.exit(0);
      }
    });
    return;
  }
  const listener = createSocket('udp4');
  await bind(listener);
  listener.setRecvBufferSize(4 << 20);
  listener.setSendBufferSize(4 << 20);
  const byClient = new Map();
  listener.on('message', (msg, rinfo) => {
    const a = byClient.get(rinfo.port);
    if ((msg[0] & 0xc0) === 0x40) {
      if (a) a.send(msg, 4, msg.readUInt16BE(2), peerPort, '127.0.0.1');
      return;
    }
    if (a) return;
    const s = createSocket('udp4');
    byClient.set(rinfo.port, s);
    s.on('message', (data) => {
      const out = Buffer.allocUnsafe(4 + data.length);
      out.writeUInt16BE(0x4000, 0);
      out.writeUInt16BE(data.length, 2);
      data.copy(out, 4);
      listener.send(out, rinfo.port, rinfo.address);
    });
    s.bind(0, '127.0.0.1', () => {
      s.setRecvBufferSize(1 << 20);
      listener.send(Buffer.from(String(s.address().port)), rinfo.port, rinfo.address);
    });
  });
  process.send({ port: listener.address().port, workers: 1 });
  process.on('message', (m) => {
    if (m === 'cpu') process.send({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss });
    if (m === 'exit') process.exit(0);
  });
}

async function main() {
  const [nClients = 50, perClient = 2000, size = 200] = process.argv.slice(2).map(Number);
  for (const mode of ['js', 'native', 'js', 'native']) console.log(JSON.stringify(await round(mode, nClients, perClient, size)));
}

async function round(mode, nClients, perClient, size) {
  const bind = (s) => new Promise((r) => s.bind(0, '127.0.0.1', r));
  const peer = createSocket('udp4');
  await bind(peer);
  peer.setRecvBufferSize(4 << 20);
  peer.on('message', (m, r) => peer.send(m, r.port, r.address));
  const child = fork(self, ['relay', mode, String(peer.address().port)], { stdio: 'inherit' });
  const ask = () => new Promise((r) => child.once('message', r));
  const { port, workers } = await ask();
  const clients = [];
  let received = 0;
  for (let i = 0; i < nClients; i++) {
    const c = createSocket('udp4');
    await bind(c);
    c.setRecvBufferSize(1 << 20);
    const ready = new Promise((r) => c.once('message', r));
    const stun = Buffer.alloc(20);
    stun.writeUInt16BE(1, 0);
    stun.writeUInt32BE(0x2112a442, 4);
    c.send(stun, port, '127.0.0.1');
    await ready;
    c.on('message', () => received++);
    clients.push(c);
  }
  const pkt = Buffer.alloc(4 + size, 7);
  pkt.writeUInt16BE(0x4000, 0);
  pkt.writeUInt16BE(size, 2);
  const before = (await (child.send('cpu'), ask())).cpu;
  const t0 = Date.now();
  // Bounded rate: every ms each client sends one packet (50 clients: 50k packets/s each way at most).
  for (let n = 0; n < perClient; n++) {
    for (const c of clients) c.send(pkt, port, '127.0.0.1');
    if (n % 5 === 4) await new Promise((r) => setTimeout(r, 5));
  }
  const total = nClients * perClient;
  const deadline = Date.now() + 10_000;
  while (received < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const after = await (child.send('cpu'), ask());
  const cpuS = (after.cpu.user + after.cpu.system - before.user - before.system) / 1e6;
  child.send('exit');
  for (const c of clients) c.close();
  peer.close();
  const forwarded = 2 * received; // c2p + p2c of each echoed packet
  return { mode, workers, seconds: (Date.now() - t0) / 1000, sent: total, echoed: received, lossPct: +((100 * (total - received)) / total).toFixed(2), relayCpuS: +cpuS.toFixed(3), forwardedPerCpuS: Math.round(forwarded / cpuS), rssMB: Math.round(after.rss / 1e6), ...(after.stats ? { nativeDropped: after.stats.dropped, c2p: after.stats.c2pPackets, p2c: after.stats.p2cPackets } : {}) };
}
