/**
 * Recovery on the real page: the server is killed and restarted mid-call (media keeps
 * flowing, both sides re-join with their session token, a later renegotiation works), one person
 * reloads the page (seat back within the grace period, the other never sees "full" or "left", the
 * call resumes), an ICE-restart offer written into a signaling connection that was already dead is
 * sent again after the reconnect (and answered), and the stats panel shows a relay pair with
 * `?relay=1` (through the embedded TURN relay). Run `npm run build` first.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { expectMediaFlowing, haveChromium, mediaStats, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { callDebug, connectedPair, pollUntil, statusLog, waitForStatus, waitForText } from './call-helpers.js';

let server: RunningServer | undefined;
const peers: Peer[] = [];

type Win = { __call: { call: { peer: { pc: RTCPeerConnection } } } };

/** Renegotiate from `page` (a new m-section) and wait until both sides are stable again. */
async function renegotiate(from: Page, other: Page): Promise<void> {
  const count = (p: Page) => p.evaluate(() => (window as unknown as Win).__call.call.peer.pc.getTransceivers().length);
  const n = (await count(from)) + 1;
  await from.evaluate(() => (window as unknown as Win).__call.call.peer.pc.addTransceiver('video', { direction: 'recvonly' }));
  await pollUntil(
    async () => [await count(from), await count(other), (await callDebug(from)).signalingState, (await callDebug(other)).signalingState],
    (v) => v[0] === n && v[1] === n && v[2] === 'stable' && v[3] === 'stable',
    15_000,
    'renegotiation to complete',
  );
}

describe.skipIf(!haveChromium)('call page: recovery', () => {
  beforeAll(async () => {
    server = await startServer({ env: { SEAT_GRACE_MS: '15000' } });
  });
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('server killed and restarted mid-call: media keeps flowing, both re-join, a later renegotiation works', async () => {
    const { a, b } = await connectedPair(peers, server!.url);
    const [pcA, pcB] = [(await callDebug(a.page)).pcNumber, (await callDebug(b.page)).pcNumber];

    await server!.stop();
    // The call does not need the server: media flows peer to peer while it is down.
    await Promise.all([expectMediaFlowing(a, 1500), expectMediaFlowing(b, 1500)]);
    expect((await callDebug(a.page)).seated).toBe(false);
    expect(await a.page.textContent('#warning')).toMatch(/server/i);

    server = await startServer({ reuse: server! });
    await pollUntil(
      async () => [(await callDebug(a.page)).seated, (await callDebug(b.page)).seated],
      (s) => s[0] && s[1],
      20_000,
      'both pages seated again on the restarted server',
      a,
    );
    // The same connection carried on; nobody was told the other left.
    expect((await callDebug(a.page)).pcNumber).toBe(pcA);
    expect((await callDebug(b.page)).pcNumber).toBe(pcB);
    for (const p of [a, b]) expect((await statusLog(p)).join('\n')).not.toMatch(/left|full/i);
    const [da, db] = [await callDebug(a.page), await callDebug(b.page)];
    expect(da.polite).not.toBe(db.polite); // roles re-assigned by the new server, still opposite

    await renegotiate(a.page, b.page);
    await renegotiate(b.page, a.page);
    await Promise.all([expectMediaFlowing(a, 1000), expectMediaFlowing(b, 1000)]);
    expect(await a.page.textContent('#status')).toBe('Connected');
    expect(await b.page.textContent('#status')).toBe('Connected');
  });

  it('a page reload takes the seat back within the grace period and the call resumes', async () => {
    const { a, b } = await connectedPair(peers, server!.url);
    const seenByA = (await statusLog(a)).length;

    await b.page.reload();
    // The reloaded page re-joins by itself (same tab → same session token) and the call resumes.
    await waitForStatus(b, /^connected$/i, 20_000);
    await waitForStatus(a, /^connected$/i, 20_000);
    await Promise.all([expectMediaFlowing(a), expectMediaFlowing(b)]);
    // A replaced its connection by one that answers the reloaded page's offer.
    expect((await callDebug(a.page)).pcsCreated).toBe(2);
    const aStatuses = (await statusLog(a)).slice(seenByA);
    expect(aStatuses.join('\n')).not.toMatch(/left|full/i);
    expect((await statusLog(b)).join('\n')).not.toMatch(/full|left/i);
    // Roles after the resume: the reloaded page is the polite one.
    expect((await callDebug(b.page)).polite).toBe(true);
    expect((await callDebug(a.page)).polite).toBe(false);
    // And the new connection renegotiates fine.
    await renegotiate(a.page, b.page);
  });

  it('server unreachable at Join: the status says so, and the page joins once the server is back', async () => {
    const { a, b } = await connectedPair(peers, server!.url);
    await a.page.click('#leave');
    await waitForStatus(a, /you left/i);
    await waitForStatus(b, /the other person left/i);
    // Leave: connection closed, camera and microphone stopped, the form usable again.
    expect(
      await a.page.evaluate(() => ({
        pcsClosed: (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.every((pc) => pc.connectionState === 'closed'),
        preview: (document.getElementById('localVideo') as HTMLVideoElement).srcObject,
        remote: (document.getElementById('remoteVideo') as HTMLVideoElement).srcObject,
      })),
    ).toEqual({ pcsClosed: true, preview: null, remote: null });
    expect(await a.page.isEnabled('#join')).toBe(true);
    expect(await a.page.isEnabled('#room')).toBe(true);
    expect(await a.page.isHidden('#controls')).toBe(true);
    await server!.stop();
    await a.page.click('#join');
    await waitForStatus(a, /cannot reach the server/i, 20_000);
    // The TURN settings were fetched while the page waited for Join (before the server went
    // away): they are used, no warning about missing relay settings.
    expect(await a.page.textContent('#warning')).not.toMatch(/could not get the relay/i);
    server = await startServer({ reuse: server! });
    // Both come back to the room by themselves (B was still in it) and the call is made again.
    // Usually within a few seconds; when B's offer made while it waited alone crosses A's new offer
    // after the restart, the call may need the recovery's ICE restart (up to ≈ 30 s).
    await Promise.all([waitForStatus(a, /^connected$/i, 45_000), waitForStatus(b, /^connected$/i, 45_000)]);
    await expectMediaFlowing(a, 1000);
  });

  it('an ICE-restart offer written into a dead signaling connection is sent again after the reconnect and answered', async () => {
    const { a, b } = await connectedPair(peers, server!.url);
    type SigWin = {
      __call: {
        call: {
          peer: { pc: RTCPeerConnection; number: number; restartIce(): void; counters: { offersSent: number } };
          signaling: { resentOutgoing: number; socket: { io: { engine: { transport: { name: string; ws?: { send(d: unknown): void } }; close(): void } } } };
        };
      };
    };
    const ufrags = (p: Page) =>
      p.evaluate(() => {
        const pc = (window as unknown as SigWin).__call.call.peer.pc;
        const u = (sdp: string | undefined) => /^a=ice-ufrag:(\S+)/m.exec(sdp ?? '')?.[1] ?? null;
        return { local: u(pc.localDescription?.sdp), remote: u(pc.remoteDescription?.sdp) };
      });
    const [beforeA, beforeB, debugA, debugB] = [await ufrags(a.page), await ufrags(b.page), await callDebug(a.page), await callDebug(b.page)];
    // A's WebSocket silently swallows everything written from now on (a connection that died
    // without the socket noticing yet, as in a network cut); then A restarts ICE.
    await pollUntil(
      () => a.page.evaluate(() => (window as unknown as SigWin).__call.call.signaling.socket.io.engine.transport.name),
      (name) => name === 'websocket',
      10_000,
      'Socket.IO upgraded to WebSocket',
    );
    await a.page.evaluate(() => {
      const c = (window as unknown as SigWin).__call.call;
      c.signaling.socket.io.engine.transport.ws!.send = () => undefined;
      c.peer.restartIce();
    });
    await pollUntil(() => callDebug(a.page), (d) => d.signalingState === 'have-local-offer' && d.counters.offersSent > debugA.counters.offersSent, 5000, 'the restart offer written', a);
    await new Promise((r) => setTimeout(r, 500));
    expect((await callDebug(b.page)).counters.offersReceived, 'the offer got through the dead connection').toBe(debugB.counters.offersReceived);
    // The connection is found dead: Socket.IO reconnects, the page re-joins (seat held), and the
    // unacknowledged offer goes again.
    await a.page.evaluate(() => (window as unknown as SigWin).__call.call.signaling.socket.io.engine.close());
    const done = await pollUntil(
      async () => ({ a: await callDebug(a.page), ua: await ufrags(a.page), ub: await ufrags(b.page) }),
      (v) => v.a.seated && v.a.signalingState === 'stable' && v.a.counters.answersReceived > debugA.counters.answersReceived && v.ub.remote === v.ua.local,
      20_000,
      'the restart offer answered after the reconnect',
      a,
    );
    expect(await a.page.evaluate(() => (window as unknown as SigWin).__call.call.signaling.resentOutgoing)).toBeGreaterThan(0);
    expect(done.ua.local).not.toBe(beforeA.local);
    expect(done.ub.local).not.toBe(beforeB.local);
    expect(done.ua.remote).toBe(done.ub.local);
    // Same connections, no errors, media flowing.
    expect(done.a.pcNumber).toBe(debugA.pcNumber);
    expect((await callDebug(b.page)).pcNumber).toBe(debugB.pcNumber);
    expect(done.a.counters.errors + (await callDebug(b.page)).counters.errors).toBe(debugA.counters.errors + debugB.counters.errors);
    await Promise.all([expectMediaFlowing(a, 1000), expectMediaFlowing(b, 1000)]);
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
  });

  it('an offer sent while the other person was reconnecting (relayed to nobody) is sent again when they are back', async () => {
    const { a, b } = await connectedPair(peers, server!.url);
    type Win2 = {
      __call: {
        call: {
          peer: { pc: RTCPeerConnection; restartIce(): void };
          signaling: { socket: { connect(): void; disconnect(): void } };
        };
      };
    };
    const ufrag = (p: Page, which: 'local' | 'remote') =>
      p.evaluate((w) => {
        const pc = (window as unknown as Win2).__call.call.peer.pc;
        const d = w === 'local' ? pc.localDescription : pc.remoteDescription;
        return /^a=ice-ufrag:(\S+)/m.exec(d?.sdp ?? '')?.[1] ?? null;
      }, which);
    const [debugA, debugB, beforeA] = [await callDebug(a.page), await callDebug(b.page), await ufrag(a.page, 'local')];
    // B's signaling drops (its seat is held); meanwhile A restarts ICE: the offer reaches the
    // server, which has nobody to relay it to.
    await b.page.evaluate(() => (window as unknown as Win2).__call.call.signaling.socket.disconnect());
    await waitForStatus(a, /the other person is reconnecting/i, 10_000);
    await a.page.evaluate(() => (window as unknown as Win2).__call.call.peer.restartIce());
    await pollUntil(() => callDebug(a.page), (d) => d.signalingState === 'have-local-offer' && d.counters.offersSent > debugA.counters.offersSent, 5000, 'the restart offer sent', a);
    await new Promise((r) => setTimeout(r, 500));
    // B comes back: A (told by `otherjoin`) sends its unanswered offer again.
    await b.page.evaluate(() => (window as unknown as Win2).__call.call.signaling.socket.connect());
    const done = await pollUntil(
      async () => ({ a: await callDebug(a.page), b: await callDebug(b.page), la: await ufrag(a.page, 'local'), rb: await ufrag(b.page, 'remote') }),
      (v) => v.b.seated && v.a.signalingState === 'stable' && v.a.counters.answersReceived > debugA.counters.answersReceived && v.rb === v.la,
      20_000,
      'the restart offer answered after B came back',
      a,
    );
    expect(done.a.counters.offersResent).toBeGreaterThan(debugA.counters.offersResent ?? 0);
    expect(done.la).not.toBe(beforeA);
    expect([done.a.pcNumber, done.b.pcNumber]).toEqual([debugA.pcNumber, debugB.pcNumber]);
    expect(done.a.counters.errors + done.b.counters.errors).toBe(debugA.counters.errors + debugB.counters.errors);
    await Promise.all([expectMediaFlowing(a, 1000), expectMediaFlowing(b, 1000)]);
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
  });

  it('the stats panel shows a relay candidate pair with ?relay=1', async () => {
    const { a, b } = await connectedPair(peers, server!.url, 'relay=1');
    await Promise.all([expectMediaFlowing(a), expectMediaFlowing(b)]);
    const s = await mediaStats(a.page);
    expect(s.localCandidateType).toBe('relay');
    await a.page.click('#stats');
    const text = await waitForText(a, /Local candidate\s*relay/, 5000, '#statsTable');
    expect(text).toMatch(/relay over (udp|tcp|tls)/);
    expect(text).toMatch(/Remote candidate\s*relay/);
  });
});
