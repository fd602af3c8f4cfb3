/**
 * Blocked camera: real permission decisions of Chromium, no getUserMedia stub. The browsers run
 * without `--use-fake-ui-for-media-stream`, so headless Chromium denies every camera/microphone
 * permission the test did not grant with `grantPermissions` (as for a person who blocks them).
 * - Camera and microphone blocked: the pre-join check says so and what to do; a receive-only
 *   Join still gets the other person's video (frames decoded).
 * - Only the camera blocked: the microphone is used alone (no second prompt: the Permissions API
 *   says it is granted); the other person hears us, and we see them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { inbound, joinCall, newRoom, pollUntil, waitForStatus, waitForText } from './call-helpers.js';

let server: RunningServer | undefined;
/** The person with blocked devices (a browser whose permission prompts are denied). */
let blocked: Peer;
/** The other person (fake devices allowed). */
let other: Peer;

describe.skipIf(!haveChromium)('blocked camera', () => {
  beforeAll(async () => {
    [server, blocked, other] = await Promise.all([startServer(), launchPeer({ fakeMediaUi: false }), launchPeer()]);
  });
  afterAll(async () => {
    await Promise.all([blocked, other].filter(Boolean).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('camera and microphone blocked: the page says so, and a receive-only join still shows the other person', async () => {
    const room = newRoom();
    await blocked.page.goto(`${server!.url}/?room=${room}`);
    await waitForText(blocked, /permission to use the camera and microphone was denied\. allow them in the browser's site settings/i, 15_000, '#mediaProblem');
    expect(await blocked.page.textContent('#mediaProblem')).toMatch(/you can still join: you will see and hear the other person/i);
    expect(await blocked.page.isVisible('#retryMedia')).toBe(true);
    expect(await blocked.page.isEnabled('#join')).toBe(true);

    await other.page.goto(`${server!.url}/?room=${room}`);
    await joinCall(other);
    await waitForStatus(other, /waiting/i);
    await joinCall(blocked);
    await Promise.all([waitForStatus(blocked, /^connected$/i, 20_000), waitForStatus(other, /^connected$/i, 20_000)]);
    expect(await blocked.page.textContent('#warning')).toMatch(/without camera and microphone: the other person cannot see or hear you/i);
    // We receive their video and sound; they receive nothing from us.
    await expectMediaFlowing(blocked);
    const fromUs = await pollUntil(() => inbound(other.page), () => true, 100, 'inbound');
    expect(fromUs.framesDecoded).toBe(0);
    expect(fromUs.audioBytes).toBe(0);
    await blocked.page.click('#hangup');
    await waitForStatus(other, /the other person left/i);
  });

  it('only the camera blocked: the microphone goes out alone, with a message', async () => {
    const room = newRoom();
    await blocked.context.grantPermissions(['microphone'], { origin: server!.url });
    await blocked.page.goto(`${server!.url}/?room=${room}`);
    await waitForText(blocked, /permission to use the camera was denied/i, 15_000, '#mediaProblem');
    expect(await blocked.page.textContent('#mediaProblem')).toMatch(/calling with sound only/i);
    await pollUntil(
      () => blocked.page.evaluate(() => (window as unknown as { __call: { media: { audioTrack: unknown; cameraTrack: unknown } } }).__call.media),
      (m) => m.audioTrack !== null && m.cameraTrack === null,
      5000,
      'microphone only',
      blocked,
    );

    await other.page.goto(`${server!.url}/?room=${room}`);
    await joinCall(other);
    await waitForStatus(other, /waiting/i);
    await joinCall(blocked);
    await Promise.all([waitForStatus(blocked, /^connected$/i, 20_000), waitForStatus(other, /^connected$/i, 20_000)]);
    await expectMediaFlowing(blocked);
    // They hear us (audio bytes grow), and get no video from us.
    const first = await pollUntil(() => inbound(other.page), (s) => s.audioBytes > 0, 10_000, 'our audio at the other side', other);
    const later = await pollUntil(() => inbound(other.page), (s) => s.audioBytes > first.audioBytes, 5000, 'more audio', other);
    expect(later.framesDecoded).toBe(0);
  });
});
