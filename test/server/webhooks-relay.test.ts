/**
 * relay.allocation.start / relay.allocation.end webhooks from the REAL relay child (dist/turn/main.js,
 * forked by the web server; reports carried over the relay IPC): after data is relayed both ways
 * through a UDP allocation, the end event carries the five-tuple, the relayed transport address, the
 * end reason and non-zero packet and byte counters each way — on both data paths (the native one
 * keeps its own per-allocation counters). Needs `npm run build:server` (npm test builds first).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StunClass } from '../../turn/stun/index.js';
import { TestClient, TestPeer, eachDataPath, restCreds } from '../turn/helpers.js';
import { freeTcpPort, freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';
import { startTestServer, type TestServer } from '../signaling/harness.js';
import { WebhookReceiver, signatureValid } from './webhookReceiver.js';

const relayJs = path.resolve('dist/turn/main.js');
const built = existsSync(relayJs);
if (!built) console.warn(`SKIPPED: ${relayJs} missing — run "npm run build:server" (npm test does) to test relay webhooks`);

const HOOK_SECRET = 'relay-webhook-secret-0123456789';
const TURN_SECRET = 'relay-turn-secret-0123456789abcdef';

describe.skipIf(!built)('relay allocation webhooks', () => {
  eachDataPath((dataPath) => {
    let receiver: WebhookReceiver;
    let t: TestServer;
    let turnPort: number;
    let range: { min: number; max: number };
    beforeAll(async () => {
      receiver = await WebhookReceiver.start();
      turnPort = await freeUdpTcpPort();
      range = randomRelayRange(20);
      t = await startTestServer(
        {
          WEBHOOK_URL: receiver.url,
          WEBHOOK_SECRET: HOOK_SECRET,
          TURN_ENABLED: 'true',
          TURN_DATA_PATH: dataPath,
          TURN_RELAY_THREADS: '2',
          TURN_SECRET,
          TURN_LISTEN: '127.0.0.1',
          TURN_PORT: String(turnPort),
          TURN_TLS_PORT: String(await freeTcpPort()),
          TURN_MIN_PORT: String(range.min),
          TURN_MAX_PORT: String(range.max),
          TURN_ALLOWED_PEERS: '127.0.0.0/8',
        },
        { relayModule: relayJs, waitForRelayMs: 15_000 },
      );
    });
    afterAll(async () => {
      await t?.stop();
      await receiver?.close();
    });

    it('start and end arrive with the five-tuple and the bytes relayed each way', async () => {
      expect(t.server.relay!.isReady()).toBe(true);
      const creds = restCreds('webhook-seat', 600, TURN_SECRET);
      const client = await TestClient.open(turnPort, creds);
      const peer = await TestPeer.open();
      try {
        const relayed = await client.allocateRelayed();
        await receiver.waitFor(() => receiver.events('relay.allocation.start').length === 1, 'relay.allocation.start');
        const [start] = receiver.events('relay.allocation.start');
        expect(start!.data).toMatchObject({
          username: creds.username,
          transport: 'udp',
          client: { family: 4, address: '127.0.0.1', port: client.mapped!.port },
          server: { family: 4, address: '127.0.0.1', port: turnPort },
          relayed: { family: 4, address: '127.0.0.1', port: relayed.port },
          advertised: { family: 4, address: '127.0.0.1', port: relayed.port },
        });
        expect(start!.data.lifetimeS).toBeGreaterThan(0);

        // 5 × 100 bytes client → peer (Send indications), 3 × 200 bytes peer → client.
        expect((await client.createPermission(peer.address)).cls).toBe(StunClass.SuccessResponse);
        for (let i = 0; i < 5; i++) {
          client.sendIndication(peer.address, Buffer.alloc(100, i));
          await peer.next();
        }
        for (let i = 0; i < 3; i++) {
          peer.send(relayed, Buffer.alloc(200, i));
          await client.nextReceived();
        }
        expect((await client.refresh(0)).cls).toBe(StunClass.SuccessResponse);
        await receiver.waitFor(() => receiver.events('relay.allocation.end').length === 1, 'relay.allocation.end');
        const [end] = receiver.events('relay.allocation.end');
        expect(end!.data).toMatchObject({
          allocationId: start!.data.allocationId,
          username: creds.username,
          transport: 'udp',
          client: start!.data.client,
          server: start!.data.server,
          relayed: start!.data.relayed,
          reason: 'deleted',
          counters: { packetsToPeer: 5, bytesToPeer: 500, packetsFromPeer: 3, bytesFromPeer: 600 },
        });
        expect(end!.data.durationMs).toBeGreaterThan(0);
        expect(Date.parse(end!.timestamp)).toBeGreaterThanOrEqual(Date.parse(start!.timestamp));
        for (const r of receiver.received) expect(signatureValid(HOOK_SECRET, r.raw, r.headers['x-webhook-signature'])).toBe(true);
      } finally {
        client.close();
        peer.close();
      }
    });
  });
});
