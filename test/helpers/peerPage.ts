/**
 * One small interface over a page of either engine (Chromium through playwright-core, Firefox
 * through puppeteer-core), so a call test drives both sides with the same code. Only what a person
 * does on the call page: open a URL, click, type, press a key; plus `evaluate`/`waitForFunction`
 * to read the page. Everything else (text, visibility, stats) is built on `evaluate`, the same for
 * both engines.
 */
import type { Page as PlaywrightPage } from 'playwright-core';
import type { Page as PuppeteerPage } from 'puppeteer-core';
import { launchPeer, type PeerOptions } from './browser.js';
import { launchFirefox, type FirefoxOptions } from './firefox.js';

export type Engine = 'chromium' | 'firefox';

/** A page of one browser process, engine-neutral. */
export interface PeerPage {
  readonly engine: Engine;
  /** Console lines and page errors seen so far (for failure messages). */
  readonly logs: string[];
  goto(url: string): Promise<void>;
  /** Reload the page (a navigation of type "reload"). */
  reload(): Promise<void>;
  click(selector: string): Promise<void>;
  /** Replace the value of an input with `text`, typing it like a person. */
  fill(selector: string, text: string): Promise<void>;
  /** Press a key on the focused element (e.g. `m`, `Enter`). */
  press(key: string): Promise<void>;
  /** Run `fn(arg)` in the page and return its (JSON-serializable) result. */
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  /** Wait until `fn(arg)` is truthy in the page, polling every 100 ms. @throws on timeout. */
  waitForFunction<A>(fn: (arg: A) => unknown, arg: A, timeoutMs: number): Promise<void>;
  /** Close the browser and remove its profile. Safe to call twice. */
  close(): Promise<void>;
}

/** The drivers' typed signatures differ; both take a function and one serializable argument. */
type LooseEvaluate = (fn: unknown, arg: unknown) => Promise<never>;

/** Wrap a playwright page (Chromium). */
export function playwrightPeerPage(page: PlaywrightPage, logs: string[], close: () => Promise<void>): PeerPage {
  return {
    engine: 'chromium',
    logs,
    goto: async (url) => void (await page.goto(url)),
    reload: async () => void (await page.reload()),
    click: (s) => page.click(s),
    fill: (s, t) => page.fill(s, t),
    press: (k) => page.keyboard.press(k),
    evaluate: (fn, arg) => (page.evaluate.bind(page) as LooseEvaluate)(fn, arg),
    waitForFunction: async (fn, arg, timeout) => void (await page.waitForFunction(fn as (a: unknown) => unknown, arg as unknown, { timeout, polling: 100 })),
    close,
  };
}

/** Wrap a puppeteer page (Firefox over WebDriver BiDi). */
export function puppeteerPeerPage(page: PuppeteerPage, logs: string[], close: () => Promise<void>): PeerPage {
  return {
    engine: 'firefox',
    logs,
    goto: async (url) => void (await page.goto(url)),
    reload: async () => void (await page.reload()),
    click: (s) => page.click(s),
    fill: (s, t) => page.locator(s).fill(t),
    press: (k) => page.keyboard.press(k as Parameters<PuppeteerPage['keyboard']['press']>[0]),
    evaluate: (fn, arg) => (page.evaluate.bind(page) as LooseEvaluate)(fn, arg),
    waitForFunction: async (fn, arg, timeout) => void (await page.waitForFunction(fn as (a: unknown) => unknown, { timeout, polling: 100 }, arg as unknown)),
    close,
  };
}

/** Launch a browser of `engine` with fake devices (browser.ts / firefox.ts) and wrap its page. */
export async function launchPeerPage(engine: Engine, opts: { chromium?: PeerOptions; firefox?: FirefoxOptions } = {}): Promise<PeerPage> {
  if (engine === 'chromium') {
    const p = await launchPeer(opts.chromium);
    return playwrightPeerPage(p.page, p.logs, () => p.close());
  }
  const f = await launchFirefox(opts.firefox);
  return puppeteerPeerPage(f.page, f.logs, () => f.close());
}

/** Text of the first element matching `selector` ('' when none). */
export function textOf(p: PeerPage, selector: string): Promise<string> {
  return p.evaluate((s) => document.querySelector(s)?.textContent ?? '', selector);
}

/** An attribute of the first element matching `selector` (null when none). */
export function attributeOf(p: PeerPage, selector: string, name: string): Promise<string | null> {
  return p.evaluate(([s, n]) => document.querySelector(s!)?.getAttribute(n!) ?? null, [selector, name]);
}

/** True when the element exists, is not `hidden` (itself or an ancestor) and has a box. */
export function isVisible(p: PeerPage, selector: string): Promise<boolean> {
  return p.evaluate((s) => {
    const el = document.querySelector(s) as HTMLElement | null;
    if (!el || el.closest('[hidden]')) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  }, selector);
}

/**
 * Wait until `selector`'s text matches `re` (default `#status`).
 * @throws Error with the last text, the status history and the page's console when `timeoutMs` passes.
 */
export async function waitForText(p: PeerPage, re: RegExp, timeoutMs = 15_000, selector = '#status'): Promise<string> {
  try {
    await p.waitForFunction(([s, src, flags]) => new RegExp(src!, flags).test(document.querySelector(s!)?.textContent ?? ''), [selector, re.source, re.flags], timeoutMs);
  } catch {
    const last = await textOf(p, selector).catch(() => '');
    const history = await p
      .evaluate(() => (window as unknown as { __call?: { page: { statusLog: string[] } } }).__call?.page.statusLog.slice() ?? [], null)
      .catch(() => []);
    throw new Error(`${p.engine}: ${selector} never matched ${re} within ${timeoutMs} ms; last: "${last}"\nstatus history: ${JSON.stringify(history)}\npage log:\n${p.logs.slice(-40).join('\n')}`);
  }
  return textOf(p, selector);
}

/**
 * Poll `fn` until `predicate` holds.
 * @throws Error with the last value (and the page's console) when `timeoutMs` passes.
 */
export async function pollUntil<T>(fn: () => Promise<T>, predicate: (v: T) => boolean, timeoutMs: number, what: string, p?: PeerPage): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}${p ? `\n${p.engine} page log:\n${p.logs.slice(-40).join('\n')}` : ''}`);
}

/**
 * Wait for every promise (e.g. a server and browsers starting together), then throw the first
 * failure: unlike `Promise.all`, nothing is still starting when the caller's cleanup runs, so a
 * browser that launched while another failed is not left behind.
 */
export async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
