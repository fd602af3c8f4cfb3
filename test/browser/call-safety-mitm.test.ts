/**
 * A man in the middle makes the safety numbers differ. The attacker is the signaling server: this
 * test runs its own (a Socket.IO server speaking our protocol, serving the built call page over
 * http://127.0.0.1) that hands every offer, answer and ICE candidate of A and B to a third
 * Chromium page, M, instead of relaying it. M answers A's offer with one peer connection and offers
 * B with another, and forwards the media between them — so A and B are each in a working,
 * encrypted call, with M. Everything else (media state, marks) is relayed unchanged.
 *
 * Asserted: B decodes A's camera through M (the bridge works, so the check below is not vacuous);
 * both pages show a number, and the numbers differ; a mark A sets shows on B as "a different number".
 * Run `npm run build` first.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { Server, type Socket } from 'socket.io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageData } from '../../contracts/signaling.js';
import { expectMediaFlowing, haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { ROOT } from '../helpers/server.js';
import { joinCall, newRoom, pollUntil, waitForStatus } from './call-helpers.js';
import { safetyState } from './extras-helpers.js';

type Side = 'a' | 'b';

/** The bridge's code, run in page M: two peer connections, media forwarded between them. */
const BRIDGE = `(() => {
  const pcs = { a: new RTCPeerConnection(), b: new RTCPeerConnection() };
  const other = { a: 'b', b: 'a' };
  const queue = { a: Promise.resolve(), b: Promise.resolve() };
  const run = (side, fn) => (queue[side] = queue[side].then(fn).catch((e) => console.error('bridge', side, String(e))));
  for (const side of ['a', 'b']) {
    const pc = pcs[side];
    pc.onicecandidate = ({ candidate: c }) => {
      if (c && c.candidate) window.toPeer(side, { type: 'candidate', candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex });
    };
    // What one side sends goes out on the other connection's sender of the same kind.
    pc.ontrack = ({ track }) => {
      const t = pcs[other[side]].getTransceivers().find((x) => x.receiver.track.kind === track.kind);
      if (t) t.sender.replaceTrack(track);
      // Chromium pulls received audio only while something plays it.
      if (track.kind === 'audio') {
        const el = new Audio();
        el.srcObject = new MediaStream([track]);
        el.play().catch(() => undefined);
      }
    };
  }
  window.bridge = {
    pcs,
    // B joined: offer it audio, video and the chat's data channel, like a real caller would.
    offerB: () => run('b', async () => {
      pcs.b.addTransceiver('audio', { direction: 'sendrecv' });
      pcs.b.addTransceiver('video', { direction: 'sendrecv' });
      pcs.b.createDataChannel('chat', { negotiated: true, id: 0 });
      await pcs.b.setLocalDescription();
      window.toPeer('b', { type: 'offer', sdp: pcs.b.localDescription.sdp });
    }),
    fromPeer: (side, data) => run(side, async () => {
      const pc = pcs[side];
      if (data.type === 'candidate') return pc.addIceCandidate({ candidate: data.candidate, sdpMid: data.sdpMid ?? data.id, sdpMLineIndex: data.sdpMLineIndex ?? data.label });
      await pc.setRemoteDescription({ type: data.type, sdp: data.sdp });
      if (data.type === 'offer') {
        for (const t of pc.getTransceivers()) if (t.receiver.track.kind !== 'application') t.direction = 'sendrecv';
        await pc.setLocalDescription();
        window.toPeer(side, { type: 'answer', sdp: pc.localDescription.sdp });
      }
    }),
  };
})();`;

let http: HttpServer | undefined;
let io: Server | undefined;
const peers: Peer[] = [];

describe.skipIf(!haveChromium)('call page: safety number with a man in the middle', () => {
  let base = '';
  let bridge: Peer;
  const sockets: Partial<Record<Side, Socket>> = {};
  const room = newRoom();

  beforeAll(async () => {
    const app = express();
    app.get('/bridge', (_req, res) => void res.type('html').send('<!doctype html><title>bridge</title>'));
    app.use(express.static(path.join(ROOT, 'dist/client')));
    http = createServer(app);
    io = new Server(http);
    await new Promise<void>((r) => http!.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

    bridge = await launchPeer();
    peers.push(bridge);
    await bridge.page.exposeFunction('toPeer', (side: Side, data: MessageData) => {
      sockets[side]?.emit('message', room, data);
    });
    await bridge.page.goto(`${base}/bridge`);
    await bridge.page.evaluate(BRIDGE);

    const toBridge = (side: Side, data: unknown) => bridge.page.evaluate(([s, d]) => (window as unknown as { bridge: { fromPeer(s: string, d: unknown): Promise<void> } }).bridge.fromPeer(s!, d), [side, data] as const);
    io.on('connection', (socket) => {
      socket.on('join', (r: string, _opts: unknown, ack?: (res: unknown) => void) => {
        ack?.({ ok: true });
        if (!sockets.a) {
          sockets.a = socket;
          socket.emit('joined', r, socket.id, { polite: false, members: 1 });
        } else {
          sockets.b = socket;
          socket.emit('joined', r, socket.id, { polite: true, members: 2 });
          sockets.a.emit('otherjoin', r, socket.id);
          void bridge.page.evaluate(() => (window as unknown as { bridge: { offerB(): Promise<void> } }).bridge.offerB());
        }
      });
      socket.on('message', (r: string, data: MessageData, ack?: (res: unknown) => void) => {
        ack?.({ ok: true });
        const side: Side = socket === sockets.a ? 'a' : 'b';
        if (typeof data === 'object' && (data.type === 'offer' || data.type === 'answer' || data.type === 'candidate')) void toBridge(side, data);
        else sockets[side === 'a' ? 'b' : 'a']?.emit('message', r, data);
      });
    });
  });

  afterAll(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    io?.close();
    http?.closeAllConnections();
    await new Promise((r) => http?.close(r));
  });

  it('A and B each talk to M: media flows, and the two pages show different numbers', async () => {
    const open = async () => {
      const p = await launchPeer();
      peers.push(p);
      await p.page.goto(`${base}/?room=${room}`);
      return p;
    };
    const a = await open();
    await joinCall(a);
    await waitForStatus(a, /waiting for the other person/i);
    const b = await open();
    await joinCall(b);
    const t0 = Date.now();
    await Promise.all([waitForStatus(a, /^connected$/i, 20_000), waitForStatus(b, /^connected$/i, 20_000)]);
    console.log(`[mitm] both connected after ${Date.now() - t0} ms`);
    // The bridge really carries the call: B decodes A's camera through M.
    await expectMediaFlowing(b, 1500);

    const [sa, sb] = await Promise.all([a, b].map((p) => pollUntil(() => safetyState(p.page), (s) => s.state === 'ready', 10_000, 'safety number', p)));
    console.log(`[mitm] A shows ${sa!.text}, B shows ${sb!.text}`);
    expect(sa!.text).toMatch(/^\d{4} \d{4} \d{4} \d{4}$/);
    expect(sb!.text).toMatch(/^\d{4} \d{4} \d{4} \d{4}$/);
    expect(sa!.text).not.toBe(sb!.text);

    // A's mark names A's number; B sees that it is not B's.
    await a.page.click('#verify');
    await pollUntil(() => safetyState(b.page), (s) => s.peer === 'differs', 5000, "B sees A's mark for another number", b);
  });
});
