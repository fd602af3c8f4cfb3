/**
 * File transfer on the real page, two headless Chromium peers in one call: a 50 MB file of random
 * bytes chosen with `#fileInput` arrives intact (SHA-256 of the received Blob equal to the sent
 * file's), with progress on both sides; a file dropped on the call is offered, and declined ends on
 * both sides; cancelling mid-way on
 * the receiver stops the sender; the call keeps decoding video frames throughout. Run
 * `npm run build` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { connectedPair, inbound, pollUntil } from './call-helpers.js';
import { chooseRandomFile, dropRandomFile, transferEvents, transferRows, watchTransfers, type TransferRow } from './extras-helpers.js';

const MB = 1024 * 1024;
const BIG = 50 * MB;

let server: RunningServer | undefined;
const peers: Peer[] = [];

/** Samples both pages' decoded frames every second while `during` runs; every sample must have grown. */
async function framesThroughout<T>(pages: Peer[], during: Promise<T>): Promise<{ result: T; stalls: string[]; samples: number }> {
  let done = false;
  const stalls: string[] = [];
  let samples = 0;
  const watch = (async () => {
    let last = await Promise.all(pages.map((p) => inbound(p.page)));
    while (!done) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = await Promise.all(pages.map((p) => inbound(p.page)));
      samples++;
      now.forEach((s, i) => {
        if (!(s.framesDecoded > last[i]!.framesDecoded)) stalls.push(`page ${i} decoded no frame in ${Math.round(s.at - last[i]!.at)} ms`);
      });
      last = now;
    }
  })();
  try {
    const result = await during;
    return { result, stalls, samples };
  } finally {
    done = true;
    await watch;
  }
}

const rowOf = async (p: Peer, direction: 'send' | 'receive', index = 0): Promise<TransferRow | undefined> => (await transferRows(p.page)).filter((r) => r.direction === direction)[index];

describe.skipIf(!haveChromium)('call page: file transfer', () => {
  let a: Peer;
  let b: Peer;
  beforeAll(async () => {
    server = await startServer();
    ({ a, b } = await connectedPair(peers, server.url));
    await Promise.all([expectMediaFlowing(a, 1000), expectMediaFlowing(b, 1000)]);
    await Promise.all([watchTransfers(a.page), watchTransfers(b.page)]);
  });
  afterAll(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('a 50 MB file of random bytes arrives intact, with progress on both sides, while the call goes on', async () => {
    const sha = await chooseRandomFile(a.page, BIG, 'random-50MB.bin');
    const offered = await pollUntil(() => rowOf(b, 'receive'), (r) => r?.state === 'offered', 10_000, 'the offer on B', b);
    expect(offered!.size).toBe(BIG);
    expect(offered!.actions).toEqual(['accept', 'decline']);
    expect((await rowOf(a, 'send'))!.state).toBe('offered');

    const t0 = Date.now();
    await b.page.click('#transfers li[data-state="offered"] button[data-action="accept"]');
    const { stalls, samples } = await framesThroughout(
      [a, b],
      Promise.all([
        pollUntil(() => rowOf(a, 'send'), (r) => r?.state === 'done' || r?.state === 'failed', 120_000, 'A done', a),
        pollUntil(() => rowOf(b, 'receive'), (r) => r?.state === 'done' || r?.state === 'failed', 120_000, 'B done', b),
      ]),
    );
    const seconds = (Date.now() - t0) / 1000;
    const [ra, rb] = [(await rowOf(a, 'send'))!, (await rowOf(b, 'receive'))!];
    console.log(`[files] 50 MB in ${seconds.toFixed(1)} s (${(BIG / MB / seconds).toFixed(1)} MiB/s incl. polling); frame samples ${samples}`);
    expect(ra.state).toBe('done');
    expect(rb.state).toBe('done');
    expect(rb.sha256).toBe(sha);
    expect(ra.sha256).toBe(sha);
    expect(rb.actions).toEqual(['download']);
    // What the download link holds is the file: hash the received Blob itself.
    const got = await b.page.evaluate(async () => {
      const w = window as unknown as { __call: { extras: { files: { transfers: Array<{ direction: string; blob?: Blob }> } } } };
      const blob = w.__call.extras.files.transfers.find((t) => t.direction === 'receive' && t.blob)!.blob!;
      const d = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
      return { size: blob.size, sha: Array.from(new Uint8Array(d), (x) => x.toString(16).padStart(2, '0')).join('') };
    });
    expect(got).toEqual({ size: BIG, sha });

    // Progress events on both sides: many distinct byte counts, growing, in the transferring state.
    for (const [p, state] of [
      [a, 'sending'],
      [b, 'receiving'],
    ] as const) {
      const ev = (await transferEvents(p.page)).filter((e) => e.state === state);
      const distinct = [...new Set(ev.map((e) => e.bytes))];
      expect(distinct.length, `${state} progress events`).toBeGreaterThanOrEqual(5);
      expect(distinct.some((x) => x > 0 && x < BIG)).toBe(true);
      for (let i = 1; i < ev.length; i++) expect(ev[i]!.bytes).toBeGreaterThanOrEqual(ev[i - 1]!.bytes);
    }
    expect(stalls, 'video frames stopped decoding during the transfer').toEqual([]);
  }, 180_000);

  it('a file dropped on the call is offered; declined, it ends as declined on both sides; the rows fit a phone screen', async () => {
    await dropRandomFile(a.page, 1000, `a-long-file-name-without-spaces-${'x'.repeat(120)}.bin`);
    await pollUntil(() => rowOf(b, 'receive'), (r) => r?.state === 'offered', 10_000, 'the offer on B', b);
    await b.page.setViewportSize({ width: 360, height: 740 });
    expect(await b.page.evaluate(() => document.documentElement.scrollWidth), 'horizontal scroll on a 360 px screen').toBeLessThanOrEqual(360);
    await b.page.setViewportSize({ width: 800, height: 600 });
    await b.page.click('#transfers li[data-state="offered"] button[data-action="decline"]');
    const ra = await pollUntil(() => rowOf(a, 'send'), (r) => r?.state === 'declined', 5000, 'declined on A', a);
    expect(ra!.text).toMatch(/other person declined/i);
    expect((await rowOf(b, 'receive'))!.state).toBe('declined');
  });

  it('cancelling mid-way on the receiver stops the sender; the call goes on', async () => {
    await chooseRandomFile(a.page, BIG, 'random-cancel.bin');
    await pollUntil(() => rowOf(b, 'receive'), (r) => r?.state === 'offered', 10_000, 'the offer on B', b);
    // A person watching the bar presses Cancel once a tenth has arrived.
    await b.page.evaluate((tenth) => {
      const list = document.getElementById('transfers')!;
      new MutationObserver((_r, obs) => {
        const li = list.querySelector<HTMLElement>('li[data-state="receiving"]');
        if (li && Number(li.dataset.bytes) >= tenth) {
          obs.disconnect();
          li.querySelector<HTMLButtonElement>('button[data-action="cancel"]')!.click();
        }
      }).observe(list, { subtree: true, attributes: true, attributeFilter: ['data-bytes'] });
    }, BIG / 10);
    await b.page.click('#transfers li[data-state="offered"] button[data-action="accept"]');
    const rb = await pollUntil(() => rowOf(b, 'receive'), (r) => r?.state === 'cancelled', 30_000, 'cancelled on B', b);
    const ra = await pollUntil(() => rowOf(a, 'send'), (r) => r?.state === 'cancelled', 5000, 'cancelled on A', a);
    expect(rb!.text).toMatch(/you cancelled/i);
    expect(ra!.text).toMatch(/other person cancelled/i);
    expect(rb!.bytes).toBeLessThan(BIG);
    // The sender stopped: its channel is closed and nothing more goes out.
    const sender = async () =>
      a.page.evaluate(() => {
        const w = window as unknown as { __call: { call: { peer: { pc: RTCPeerConnection } } } };
        return { bytes: Number(document.querySelector<HTMLElement>('#transfers li[data-direction="send"]')!.dataset.bytes), sctp: w.__call.call.peer.pc.sctp?.state ?? null };
      });
    const s1 = await sender();
    await new Promise((r) => setTimeout(r, 1000));
    const s2 = await sender();
    expect(s2.bytes).toBe(s1.bytes);
    expect(s2.bytes).toBeLessThan(BIG);
    const bytesSentBefore = await dataChannelBytesSent(a);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await dataChannelBytesSent(a), 'data-channel bytes still going out after the cancel').toBe(bytesSentBefore);
    await Promise.all([expectMediaFlowing(a, 1000), expectMediaFlowing(b, 1000)]);
    expect(s2.sctp).toBe('connected');
  });
});

/** Bytes sent on the page's file data channels (`data-channel` stats with label "file"). */
async function dataChannelBytesSent(p: Peer): Promise<number> {
  return p.page.evaluate(async () => {
    const w = window as unknown as { __call: { call: { peer: { pc: RTCPeerConnection } } } };
    let sum = 0;
    (await w.__call.call.peer.pc.getStats()).forEach((s: Record<string, unknown>) => {
      if (s.type === 'data-channel' && s.label === 'file') sum += Number(s.bytesSent ?? 0);
    });
    return sum;
  });
}
