/**
 * Helpers shared by the call-page browser tests (`test/browser/call*.test.ts`): open the page,
 * wait for status texts, read the page's debug handle (`window.__call`) and inbound media counters.
 */
import type { Page } from 'playwright-core';
import { launchPeer, type Peer, type PeerOptions } from '../helpers/browser.js';

let roomCounter = 10_000 + Math.floor(Math.random() * 80_000);

/** A room number not used before by this test process. */
export function newRoom(): string {
  return String(roomCounter++);
}

/** Launch a browser, open `${baseUrl}/?room=ROOM[&query]`, remember it in `peers` (for cleanup). */
export async function openCallPage(peers: Peer[], baseUrl: string, room: string, query = '', opts: PeerOptions = {}): Promise<Peer> {
  const peer = await launchPeer(opts);
  peers.push(peer);
  await peer.page.goto(`${baseUrl}/?room=${room}${query ? `&${query}` : ''}`);
  return peer;
}

/** Current `#status` text. */
export async function statusText(peer: Peer): Promise<string> {
  return (await peer.page.textContent('#status')) ?? '';
}

/**
 * Wait until `selector`'s text matches `re` (default `#status`).
 * @throws Error with the last text, the page's status history and console when `timeoutMs` passes.
 */
export async function waitForText(peer: Peer, re: RegExp, timeoutMs = 15_000, selector = '#status'): Promise<string> {
  try {
    await peer.page.waitForFunction(
      ([sel, src, flags]) => new RegExp(src!, flags).test(document.querySelector(sel!)?.textContent ?? ''),
      [selector, re.source, re.flags],
      { timeout: timeoutMs, polling: 100 },
    );
  } catch {
    const last = (await peer.page.textContent(selector).catch(() => null)) ?? '';
    throw new Error(
      `${selector} never matched ${re} within ${timeoutMs} ms; last: "${last}"\nstatus history: ${JSON.stringify(await statusLog(peer).catch(() => []))}\npage log:\n${peer.logs.slice(-40).join('\n')}`,
    );
  }
  return (await peer.page.textContent(selector)) ?? '';
}

/** Wait for `#status` to match `re`. */
export function waitForStatus(peer: Peer, re: RegExp, timeoutMs = 15_000): Promise<string> {
  return waitForText(peer, re, timeoutMs, '#status');
}

/** Click Join (checking "Share desktop" first when asked). */
export async function joinCall(peer: Peer, opts: { shareDesktop?: boolean } = {}): Promise<void> {
  if (opts.shareDesktop) await peer.page.check('#shareDesktop');
  await peer.page.click('#join');
}

/** Two peers in a new room, both showing "Connected". The first is the impolite offerer. */
export async function connectedPair(peers: Peer[], baseUrl: string, query = ''): Promise<{ a: Peer; b: Peer; room: string }> {
  const room = newRoom();
  const a = await openCallPage(peers, baseUrl, room, query);
  await joinCall(a);
  await waitForStatus(a, /waiting for the other person/i);
  const b = await openCallPage(peers, baseUrl, room, query);
  await joinCall(b);
  await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
  return { a, b, room };
}

/** Every status text the page showed so far (`window.__call.page.statusLog`). */
export async function statusLog(peer: Peer): Promise<string[]> {
  return peer.page.evaluate(() => (window as unknown as { __call: { page: { statusLog: string[] } } }).__call.page.statusLog.slice());
}

/** Negotiation counters and state of the page's call (`window.__call.call`). */
export interface CallDebug {
  counters: Record<string, number>;
  /** Counters of the current peer connection only. */
  pcCounters: Record<string, number> | null;
  pcNumber: number | null;
  polite: boolean;
  signalingState: string | null;
  connectionState: string | null;
  transceivers: number;
  seated: boolean;
  /** Number of RTCPeerConnections the page created (`window.__pcs`). */
  pcsCreated: number;
}

/** Read {@link CallDebug} from the page. */
export async function callDebug(page: Page): Promise<CallDebug> {
  return page.evaluate(() => {
    const w = window as unknown as {
      __pcs: RTCPeerConnection[];
      __call: {
        call: {
          counters(): Record<string, number>;
          polite: boolean;
          peer: null | { pc: RTCPeerConnection; counters: Record<string, number>; number: number };
          signaling: null | { seated: boolean };
        };
      };
    };
    const c = w.__call.call;
    const pc = c.peer?.pc ?? null;
    return {
      counters: c.counters(),
      pcCounters: c.peer ? { ...c.peer.counters } : null,
      pcNumber: c.peer?.number ?? null,
      polite: c.polite,
      signalingState: pc?.signalingState ?? null,
      connectionState: pc?.connectionState ?? null,
      transceivers: pc ? pc.getTransceivers().length : 0,
      seated: c.signaling?.seated ?? false,
      pcsCreated: w.__pcs.length,
    };
  });
}

/** Inbound counters of the current peer connection, summed per kind. */
export interface Inbound {
  at: number;
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  videoBytes: number;
  audioBytes: number;
  /** inbound-rtp audio `totalAudioEnergy` (grows only while the received audio is not silent). */
  audioEnergy: number;
}

/** Read {@link Inbound} from the page's current call (`window.__call.call.peer.pc`). */
export async function inbound(page: Page): Promise<Inbound> {
  return page.evaluate(async () => {
    const w = window as unknown as { __call: { call: { peer: null | { pc: RTCPeerConnection } } } };
    const r = { at: performance.now(), framesDecoded: 0, frameWidth: 0, frameHeight: 0, videoBytes: 0, audioBytes: 0, audioEnergy: 0 };
    const pc = w.__call.call.peer?.pc;
    if (!pc) return r;
    (await pc.getStats()).forEach((s: Record<string, unknown>) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        r.framesDecoded += Number(s.framesDecoded ?? 0);
        r.videoBytes += Number(s.bytesReceived ?? 0);
        if (Number(s.frameWidth ?? 0) > 0) {
          r.frameWidth = Number(s.frameWidth);
          r.frameHeight = Number(s.frameHeight);
        }
      } else if (s.kind === 'audio') {
        r.audioBytes += Number(s.bytesReceived ?? 0);
        r.audioEnergy += Number(s.totalAudioEnergy ?? 0);
      }
    });
    return r;
  });
}

/** Inbound rates over `windowMs`: decoded frames per second and audio energy gained per second. */
export async function inboundRates(page: Page, windowMs = 2000): Promise<{ fps: number; energyPerS: number; audioKbps: number; last: Inbound }> {
  const a = await inbound(page);
  await new Promise((r) => setTimeout(r, windowMs));
  const b = await inbound(page);
  const s = (b.at - a.at) / 1000;
  return {
    fps: (b.framesDecoded - a.framesDecoded) / s,
    energyPerS: (b.audioEnergy - a.audioEnergy) / s,
    audioKbps: ((b.audioBytes - a.audioBytes) * 8) / 1000 / s,
    last: b,
  };
}

/**
 * Poll `fn` until `predicate` holds.
 * @throws Error with the last value when `timeoutMs` passes.
 */
export async function pollUntil<T>(fn: () => Promise<T>, predicate: (v: T) => boolean, timeoutMs: number, what: string, peer?: Peer): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}${peer ? `\npage log:\n${peer.logs.slice(-40).join('\n')}` : ''}`);
}
