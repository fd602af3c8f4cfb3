/**
 * Headless Firefox peers for end-to-end tests: Debian's `/usr/bin/firefox-esr` driven by
 * puppeteer-core over WebDriver BiDi (playwright-core cannot drive a stock Firefox), one browser
 * process per peer with a fresh profile, a fake camera and microphone (see
 * shared/notes/firefox-acme-perf.md). The counterpart of browser.ts for Chromium.
 *
 * Teardown is reliable: puppeteer starts Firefox as the leader of its own process group, so
 * {@link FirefoxPeer.close} ends with SIGKILL to the whole group when a polite `browser.close()`
 * does not finish, and removes the profile directory in every case.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

/** True when Debian's firefox-esr is installed; Firefox suites skip loudly otherwise. */
export const haveFirefox = existsSync(FIREFOX);

/**
 * Preferences of every test profile: fake devices without a permission prompt, autoplay, and ICE
 * that accepts loopback addresses (`ice.loopback`: the relay's candidates are 127.0.0.1) and shows
 * real host addresses instead of mDNS names. Measured here: with another interface up, Firefox
 * still gathers host candidates on that interface only (not on `lo`); its traffic to the machine's
 * own address stays on the machine, as with Chromium.
 */
export const FIREFOX_PREFS: Record<string, string | number | boolean> = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'network.dns.disableIPv6': true,
  // Hermetic: no captive-portal or connectivity probes, no remote settings, no telemetry.
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'browser.safebrowsing.update.enabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.server': '',
  'datareporting.policy.dataSubmissionEnabled': false,
  'app.update.enabled': false,
  'browser.region.network.url': '',
  'browser.topsites.contile.enabled': false,
  'extensions.blocklist.enabled': false,
};

export interface FirefoxOptions {
  /** More or overriding preferences. */
  prefs?: Record<string, string | number | boolean>;
  /** Collect console messages of the page (default true). */
  captureConsole?: boolean;
}

/** One Firefox process with one page. */
export interface FirefoxPeer {
  browser: Browser;
  page: Page;
  /** Console lines and page errors seen so far (for failure messages). */
  logs: string[];
  /** Close the browser (killing its process group if it does not quit) and remove its profile. Safe to call twice. */
  close(): Promise<void>;
}

/** Wait at most `ms` for `p`; resolves false on timeout, true when `p` settled. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.then(
      () => (clearTimeout(t), resolve(true)),
      () => (clearTimeout(t), resolve(true)),
    );
  });
}

/** True while a process (or process group, for negative ids) exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Launch one Firefox process (fresh profile) and return its first page (blank).
 * @throws when Firefox cannot start (the profile directory is removed first).
 */
export async function launchFirefox(opts: FirefoxOptions = {}): Promise<FirefoxPeer> {
  const profile = mkdtempSync(path.join(tmpdir(), 'webrtc-call-firefox-'));
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      acceptInsecureCerts: true,
      userDataDir: profile,
      extraPrefsFirefox: { ...FIREFOX_PREFS, ...opts.prefs },
      // Same window size as the Chromium peers.
      defaultViewport: { width: 800, height: 600 },
      env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1' },
      protocolTimeout: 60_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const pid = browser.process()?.pid;
  // If the test process ends without close() (killed, crashed), puppeteer's own exit handler
  // kills Firefox (registered first, so it runs first); this one removes the profile.
  const removeProfile = () => rmSync(profile, { recursive: true, force: true });
  process.once('exit', removeProfile);
  const page = (await browser.pages())[0] ?? (await browser.newPage());
  const logs: string[] = [];
  if (opts.captureConsole !== false) {
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e instanceof Error ? e.message : String(e)}`));
  }
  let closing: Promise<void> | undefined;
  return {
    browser,
    page,
    logs,
    close() {
      closing ??= (async () => {
        await within(browser.close(), 10_000);
        if (pid && alive(-pid)) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            /* gone meanwhile */
          }
          for (let i = 0; i < 50 && alive(-pid); i++) await new Promise((r) => setTimeout(r, 100));
        }
        process.off('exit', removeProfile);
        removeProfile();
      })();
      return closing;
    },
  };
}
