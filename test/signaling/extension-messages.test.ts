/**
 * The call page's feature messages over the real server: the "verified" mark, the recording flag
 * and the network-quality level are relayed to the other member exactly as sent; malformed ones
 * (wrong types, a safety number of another shape, unknown fields, an unknown type) are refused with
 * a reason and nothing is relayed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageDataSchema } from '../../contracts/signaling.js';
import { emitAck, emitRaw, nextEvent, recordEvents, sleep, startTestServer, type ClientSocket, type TestServer } from './harness.js';

let t: TestServer;
let roomSeq = 260_000;

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function pair(): Promise<{ room: string; a: ClientSocket; b: ClientSocket }> {
  const room = String(++roomSeq);
  const a = await t.connect();
  const b = await t.connect();
  const ja = nextEvent(a, 'joined');
  a.emit('join', room);
  await ja;
  const other = nextEvent(a, 'otherjoin');
  const jb = nextEvent(b, 'joined');
  b.emit('join', room);
  await Promise.all([jb, other]);
  return { room, a, b };
}

const valid = [
  { type: 'verified', code: '0123 4567 8901 2345', verified: true },
  { type: 'verified', code: '9999 0000 1111 2222', verified: false },
  { type: 'recording', active: true },
  { type: 'recording', active: false },
  { type: 'netQuality', level: 'good' },
  { type: 'netQuality', level: 'fair' },
  { type: 'netQuality', level: 'poor' },
];

const invalid: Array<{ name: string; data: unknown; reason: RegExp }> = [
  { name: 'verified: code of another shape', data: { type: 'verified', code: '12345678', verified: true }, reason: /code must be four groups of four digits/ },
  { name: 'verified: not a boolean', data: { type: 'verified', code: '0123 4567 8901 2345', verified: 'yes' }, reason: /verified/ },
  { name: 'verified: unknown field', data: { type: 'verified', code: '0123 4567 8901 2345', verified: true, fingerprint: 'AA:BB' }, reason: /fingerprint/ },
  { name: 'recording: missing active', data: { type: 'recording' }, reason: /active/ },
  { name: 'recording: unknown field', data: { type: 'recording', active: true, by: 'x' }, reason: /by/ },
  { name: 'netQuality: unknown level', data: { type: 'netQuality', level: 'excellent' }, reason: /level/ },
  { name: 'unknown type', data: { type: 'file', name: 'x' }, reason: /data\.type must be one of .*"verified".*"recording".*"netQuality"/ },
];

describe('feature messages', () => {
  it('the contract accepts each valid message and the server relays it unchanged to the other member', async () => {
    const { room, a, b } = await pair();
    for (const data of valid) {
      expect(MessageDataSchema.safeParse(data).success).toBe(true);
      const m = nextEvent<[string, unknown]>(b, 'message');
      expect(await emitAck(a, 'message', room, data)).toEqual({ ok: true });
      expect(await m).toEqual([room, data]);
    }
    a.disconnect();
    b.disconnect();
  });

  it.each(invalid)('$name → refused with a reason, nothing relayed', async ({ data, reason }) => {
    expect(MessageDataSchema.safeParse(data).success).toBe(false);
    const { room, a, b } = await pair();
    const bEvents = recordEvents(b);
    const res = (await emitAck(a, 'message', room, data)) as { ok: boolean; error: { code: string; reason: string } };
    expect(res.ok).toBe(false);
    expect(res.error.code).toBe('invalid-payload');
    expect(res.error.reason).toMatch(reason);
    await sleep(50);
    expect(bEvents).toEqual([]);
    // The socket is still served.
    const m = nextEvent(b, 'message');
    emitRaw(a, 'message', room, valid[2]);
    await m;
    a.disconnect();
    b.disconnect();
  });
});
