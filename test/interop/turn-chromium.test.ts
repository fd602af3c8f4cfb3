/**
 * Interop with headless Chromium: two RTCPeerConnections with iceTransportPolicy 'relay' connect
 * through OUR relay (in-process, loopback NOT in allowedPeers: relay-to-relay on the same relay) over turn:?transport=udp, turn:?transport=tcp
 * and turns:, and exchange data-channel messages. Asserts Chromium used ChannelData (so it accepted
 * our signed ChannelBind responses — node-turn's unsigned ones broke calls after ~40 s).
 */
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TurnServer } from '../../turn/index.js';
import { haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { freeUdpTcpPort } from '../helpers/ports.js';
import { SECRET, restCreds, startRelay } from '../turn/helpers.js';

if (!haveChromium) console.warn('\n*** SKIPPING turn-chromium interop: /usr/bin/chromium missing ***\n');

let relay: TurnServer;
let port: number;
let tlsPort: number;
let peer: Peer | undefined;

beforeAll(async () => {
  if (!haveChromium) return;
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048, days: 1 } as never);
  tlsPort = await freeUdpTcpPort();
  // No allowedPeers: loopback peers are refused by default, and the browsers' relay↔relay pairs (both
  // relay candidates are our own 127.0.0.1:<relay port>) pass by the own-address rule alone.
  ({ relay, port } = await startRelay({ tls: { cert: pems.cert, key: pems.private }, tlsPort, secrets: [SECRET], allowedPeers: [] }));
  // TURN over TLS to a self-signed certificate: Chromium checks TURN server certificates.
  peer = await launchPeer({ captureConsole: true, args: ['--ignore-certificate-errors'] });
});
afterAll(async () => {
  await peer?.close();
  await relay?.stop();
});

/** In the page: connect two relay-only peer connections and exchange `count` messages each way. */
const CONNECT_AND_EXCHANGE = async ({ url, username, credential, count }: { url: string; username: string; credential: string; count: number }) => {
  const config: RTCConfiguration = { iceServers: [{ urls: url, username, credential }], iceTransportPolicy: 'relay' };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const dcA = a.createDataChannel('x', { ordered: true });
  const gotB = new Promise<RTCDataChannel>((r) => (b.ondatachannel = (e) => r(e.channel)));
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription!);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription!);
  const timeout = <T,>(p: Promise<T>, ms: number, what: string) => Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what}: timeout; ICE ${a.iceConnectionState}/${b.iceConnectionState}`)), ms))]);
  const dcB = await timeout(gotB, 15_000, 'data channel');
  await timeout(new Promise<void>((r) => (dcA.readyState === 'open' ? r() : (dcA.onopen = () => r()))), 15_000, 'open');
  let atB = 0;
  let atA = 0;
  const done = new Promise<void>((resolve) => {
    dcB.onmessage = (e) => {
      atB++;
      dcB.send(`echo ${e.data}`);
    };
    dcA.onmessage = () => {
      if (++atA === count) resolve();
    };
  });
  for (let i = 0; i < count; i++) {
    dcA.send(`msg ${i}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
  const stats = await a.getStats();
  let relayProtocol = '';
  // The transport's selected pair (a nominated pair may briefly not be reported as such under load).
  stats.forEach((s) => {
    const pair = s.type === 'transport' && s.selectedCandidatePairId ? stats.get(s.selectedCandidatePairId) : s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated ? s : undefined;
    if (!pair || relayProtocol) return;
    const local = stats.get(pair.localCandidateId);
    relayProtocol = `${local?.candidateType}/${local?.relayProtocol}`;
  });
  a.close();
  b.close();
  return { atA, atB, relayProtocol };
};

describe.skipIf(!haveChromium)('Chromium through our relay (relay-only)', () => {
  it.each([
    ['udp', () => `turn:127.0.0.1:${port}?transport=udp`, 'relay/udp'],
    ['tcp', () => `turn:127.0.0.1:${port}?transport=tcp`, 'relay/tcp'],
    ['tls', () => `turns:127.0.0.1:${tlsPort}?transport=tcp`, 'relay/tls'],
  ])('connects over %s and data flows both ways via channels', async (_name, url, expectedProtocol) => {
    const before = relay.stats().relayed;
    const creds = restCreds('chromium');
    const res = await peer!.page.evaluate(CONNECT_AND_EXCHANGE, { url: url(), username: creds.username, credential: creds.password, count: 100 });
    expect(res, peer!.logs.join('\n')).toEqual({ atA: 100, atB: 100, relayProtocol: expectedProtocol });
    const after = relay.stats();
    const c2p = after.relayed.clientToPeer.packets - before.clientToPeer.packets;
    const viaChannel = after.relayed.clientToPeer.viaChannel - before.clientToPeer.viaChannel;
    expect(c2p).toBeGreaterThan(200);
    // Chromium switches to ChannelData once our (signed) ChannelBind response is accepted.
    expect(viaChannel / c2p).toBeGreaterThan(0.5);
    expect(after.internalErrors).toBe(0);
    // Nothing was refused: the only peers were our own relayed transport addresses.
    expect(Object.keys(after.dropped).filter((k) => k.includes('own_address') || k.startsWith('peer_refused'))).toEqual([]);
  });
});

