/**
 * "Test relay": two `RTCPeerConnection`s in this page, both with `iceTransportPolicy: 'relay'`
 * through one TURN URL, connected to each other (candidates handed over directly, no
 * signaling server), then a data channel carries numbered messages for a few seconds. The far
 * side echoes each message's sequence number back, so the page measures delivery and round-trip
 * time through the relay (relayed transport address ↔ relayed transport address: the relay must
 * allow its own relayed addresses as peers).
 */
import { msg, type Msg } from '../i18n/index.js';
import { toRtcIceServer } from './gather.js';
import type { ServerEntryInput } from './iceUrl.js';

/** Settings of a relay test. */
export interface RelayTestOptions {
  /** How long to send, ms (default 3000). */
  durationMs?: number;
  /** Interval between messages, ms (default 20). */
  intervalMs?: number;
  /** Size of each message, bytes (default 1000). */
  messageBytes?: number;
  /** Give up connecting after this many ms (default 15 000). */
  connectTimeoutMs?: number;
}

/** One side of the selected candidate pair. */
export interface PairEnd {
  type: string | null;
  address: string | null;
  port: number | null;
  protocol: string | null;
  relayProtocol: string | null;
}

/** Outcome of a relay test. */
export interface RelayTestResult {
  ok: boolean;
  /** One line: `OK: 150/150 messages delivered through the relay (udp), median RTT 2 ms` or `FAIL: ...`, as a message. */
  summary: Msg;
  url: string;
  connectMs: number | null;
  connectionState: string;
  /** Selected candidate pair of the offering side (A). */
  local: PairEnd | null;
  remote: PairEnd | null;
  /** ICE consent round-trip time of the selected pair (STUN binding, RFC 7675), ms. */
  iceRttMs: number | null;
  /** Median data-channel echo round-trip time, ms. */
  echoRttMedianMs: number | null;
  messagesSent: number;
  bytesSent: number;
  messagesDelivered: number;
  bytesDelivered: number;
  echoesReceived: number;
  relayCandidates: { a: number; b: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function selectedPair(pc: RTCPeerConnection): Promise<{ local: PairEnd | null; remote: PairEnd | null; rttMs: number | null }> {
  const stats = await pc.getStats();
  const byId = new Map<string, Record<string, unknown>>();
  stats.forEach((s: Record<string, unknown>) => byId.set(s.id as string, s));
  let pair: Record<string, unknown> | undefined;
  for (const s of byId.values()) {
    if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') pair = byId.get(s.selectedCandidatePairId);
  }
  if (!pair) {
    for (const s of byId.values()) if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  }
  if (!pair) return { local: null, remote: null, rttMs: null };
  const end = (id: unknown): PairEnd | null => {
    const c = typeof id === 'string' ? byId.get(id) : undefined;
    if (!c) return null;
    return {
      type: (c.candidateType as string) ?? null,
      address: ((c.address ?? c.ip) as string) ?? null,
      port: (c.port as number) ?? null,
      protocol: (c.protocol as string) ?? null,
      relayProtocol: (c.relayProtocol as string) ?? null,
    };
  };
  const rtt = typeof pair.currentRoundTripTime === 'number' ? Math.round(pair.currentRoundTripTime * 1000 * 10) / 10 : null;
  return { local: end(pair.localCandidateId), remote: end(pair.remoteCandidateId), rttMs: rtt };
}

/**
 * Run a relay test.
 * @param server  the entry with the TURN credentials; `url` is the one TURN URL to use.
 * @param url     a `turn:`/`turns:` URL of that entry.
 * @returns the result; never throws (failures are a `FAIL: ...` result).
 */
export async function runRelayTest(server: ServerEntryInput, url: string, opts: RelayTestOptions = {}): Promise<RelayTestResult> {
  const durationMs = opts.durationMs ?? 3000;
  const intervalMs = opts.intervalMs ?? 20;
  const messageBytes = Math.max(32, opts.messageBytes ?? 1000);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 15_000;
  const result: RelayTestResult = {
    ok: false,
    summary: msg('trickle.relay.failed', { detail: '' }),
    url,
    connectMs: null,
    connectionState: 'new',
    local: null,
    remote: null,
    iceRttMs: null,
    echoRttMedianMs: null,
    messagesSent: 0,
    bytesSent: 0,
    messagesDelivered: 0,
    bytesDelivered: 0,
    echoesReceived: 0,
    relayCandidates: { a: 0, b: 0 },
  };
  const config: RTCConfiguration = { iceServers: [toRtcIceServer({ ...server, urls: [url] })], iceTransportPolicy: 'relay' };
  let a: RTCPeerConnection | undefined;
  let b: RTCPeerConnection | undefined;
  const errors: string[] = [];
  try {
    a = new RTCPeerConnection(config);
    b = new RTCPeerConnection(config);
    const pa = a;
    const pb = b;
    pa.addEventListener('icecandidate', (e) => {
      if (e.candidate && e.candidate.candidate) {
        if (e.candidate.type === 'relay') result.relayCandidates.a++;
        pb.addIceCandidate(e.candidate).catch(() => undefined);
      }
    });
    pb.addEventListener('icecandidate', (e) => {
      if (e.candidate && e.candidate.candidate) {
        if (e.candidate.type === 'relay') result.relayCandidates.b++;
        pa.addIceCandidate(e.candidate).catch(() => undefined);
      }
    });
    const onErr = (ev: Event) => {
      const e = ev as RTCPeerConnectionIceErrorEvent;
      errors.push(`${e.errorCode} ${e.errorText} (${e.url})`);
    };
    pa.addEventListener('icecandidateerror', onErr);
    pb.addEventListener('icecandidateerror', onErr);

    // B echoes the sequence number of every message it receives.
    pb.addEventListener('datachannel', (e) => {
      const ch = e.channel;
      ch.addEventListener('message', (m) => {
        const data = typeof m.data === 'string' ? m.data : '';
        result.messagesDelivered++;
        result.bytesDelivered += data.length;
        const seq = data.slice(0, data.indexOf('|'));
        if (ch.readyState === 'open') ch.send(seq);
      });
    });
    const dc = pa.createDataChannel('relay-test', { ordered: true });
    const sentAt = new Map<number, number>();
    const rtts: number[] = [];
    dc.addEventListener('message', (m) => {
      const seq = Number(m.data);
      const t = sentAt.get(seq);
      if (t !== undefined) {
        rtts.push(performance.now() - t);
        sentAt.delete(seq);
        result.echoesReceived++;
      }
    });

    const t0 = performance.now();
    await pa.setLocalDescription(await pa.createOffer());
    await pb.setRemoteDescription(pa.localDescription!);
    await pb.setLocalDescription(await pb.createAnswer());
    await pa.setRemoteDescription(pb.localDescription!);

    const opened = await new Promise<boolean>((resolve) => {
      if (dc.readyState === 'open') return resolve(true);
      const t = setTimeout(() => resolve(false), connectTimeoutMs);
      dc.addEventListener('open', () => {
        clearTimeout(t);
        resolve(true);
      });
      pa.addEventListener('connectionstatechange', () => {
        if (pa.connectionState === 'failed') {
          clearTimeout(t);
          resolve(false);
        }
      });
    });
    result.connectionState = pa.connectionState;
    if (!opened) {
      const { a: na, b: nb } = result.relayCandidates;
      const base = { url, ms: connectTimeoutMs };
      if (na > 0 && nb > 0) result.summary = msg('trickle.relay.noConnection', { ...base, state: pa.connectionState });
      else if (errors.length) result.summary = msg('trickle.relay.noConnectionNoRelayErrors', { ...base, a: na, b: nb, errors: errors.join('; ') });
      else result.summary = msg('trickle.relay.noConnectionNoRelay', { ...base, a: na, b: nb });
      return result;
    }
    result.connectMs = Math.round(performance.now() - t0);

    const pad = 'x'.repeat(messageBytes);
    const end = performance.now() + durationMs;
    let seq = 0;
    while (performance.now() < end && dc.readyState === 'open') {
      if (dc.bufferedAmount < 256 * 1024) {
        const msg = `${seq}|`;
        const body = msg + pad.slice(msg.length);
        sentAt.set(seq, performance.now());
        dc.send(body);
        result.messagesSent++;
        result.bytesSent += body.length;
        seq++;
      }
      await sleep(intervalMs);
    }
    // Let the last messages and echoes arrive (bounded).
    const settleUntil = performance.now() + 3000;
    while (performance.now() < settleUntil && (result.messagesDelivered < result.messagesSent || result.echoesReceived < result.messagesSent)) await sleep(50);

    const pair = await selectedPair(pa);
    result.local = pair.local;
    result.remote = pair.remote;
    result.iceRttMs = pair.rttMs;
    result.connectionState = pa.connectionState;
    if (rtts.length > 0) {
      const s = [...rtts].sort((x, y) => x - y);
      result.echoRttMedianMs = Math.round(s[Math.floor(s.length / 2)]! * 10) / 10;
    }
    const relayed = result.local?.type === 'relay' && result.remote?.type === 'relay';
    const delivered = result.messagesSent > 0 && result.messagesDelivered === result.messagesSent;
    result.ok = relayed && delivered;
    const proto = result.local?.relayProtocol ?? '?';
    const counts = { delivered: result.messagesDelivered, sent: result.messagesSent, protocol: proto };
    if (result.ok) {
      result.summary = msg('trickle.relay.ok', { ...counts, bytes: result.bytesDelivered, rtt: result.echoRttMedianMs ?? '?' });
    } else if (!relayed) {
      result.summary = msg('trickle.relay.notRelayed', { local: result.local?.type ?? '?', remote: result.remote?.type ?? '?' });
    } else {
      result.summary = msg('trickle.relay.lost', counts);
    }
    return result;
  } catch (err) {
    result.summary = msg('trickle.relay.failed', { detail: (err as Error).message || String(err) });
    return result;
  } finally {
    a?.close();
    b?.close();
  }
}
