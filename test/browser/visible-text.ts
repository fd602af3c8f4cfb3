/**
 * What a person reads on a page, for the "nothing left untranslated" tests: the text of every
 * visible text node, the `title`, `aria-label`, `placeholder` and `alt` of visible elements, the
 * selected option of visible `<select>`s and the page title; and the Latin words among them that
 * are not technical names, codes or units (an allow-list).
 */
import type { Page } from 'playwright-core';

/** One piece of text a person can read, and where it is. */
export interface SeenText {
  text: string;
  /** `#id`, `tag.class` or `attr@…` of the element it belongs to. */
  where: string;
}

/**
 * Collect the readable text of `page`. Skipped: hidden elements (no box, `visibility: hidden`,
 * `hidden` ancestors), elements matched by `skip` (CSS selectors, e.g. device names the browser
 * gives), `<script>`/`<style>`, and the icon sprite.
 */
export async function visibleTexts(page: Page, skip: string[] = []): Promise<SeenText[]> {
  return page.evaluate((skipSelectors) => {
    const out: { text: string; where: string }[] = [];
    const where = (el: Element): string => (el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}${el.classList.length ? `.${[...el.classList].join('.')}` : ''}`);
    const skipped = (el: Element): boolean => skipSelectors.some((s) => el.closest(s) !== null);
    const visible = (el: Element): boolean => {
      if (!(el instanceof HTMLElement) && !(el instanceof SVGElement)) return false;
      if (el.closest('[hidden], script, style, .sprite')) return false;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden' || style.display === 'none') return false;
      if (el instanceof HTMLElement && el.closest('details:not([open])') && !el.closest('summary') && el.closest('details:not([open])') !== el) return false;
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    };
    out.push({ text: document.title, where: 'title' });
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const parent = n.parentElement;
      const text = (n.textContent ?? '').trim();
      if (!parent || !text || parent.tagName === 'OPTION' || skipped(parent) || !visible(parent)) continue;
      out.push({ text, where: where(parent) });
    }
    for (const el of document.querySelectorAll('[title], [aria-label], [placeholder], [alt]')) {
      if (skipped(el) || !visible(el)) continue;
      for (const attr of ['title', 'aria-label', 'placeholder', 'alt']) {
        const v = el.getAttribute(attr);
        if (v) out.push({ text: v, where: `${attr}@${where(el)}` });
      }
    }
    for (const sel of document.querySelectorAll('select')) {
      if (skipped(sel) || !visible(sel)) continue;
      const o = sel.selectedOptions[0];
      if (o?.textContent) out.push({ text: o.textContent.trim(), where: `option@${where(sel)}` });
    }
    return out;
  }, skip);
}

/**
 * Words that may stay Latin on a Chinese page: technical names, protocols, codecs, candidate
 * types, units, key names, and the switch's own "English".
 */
export const ALLOWED_LATIN = new Set(
  [
    'WebRTC', 'Trickle', 'ICE', 'STUN', 'TURN', 'TURNS', 'URL', 'URI', 'URLs', 'JSON', 'HTTPS', 'HTTP', 'localhost', 'localStorage',
    'API', 'RFC', 'DTLS', 'TLS', 'TCP', 'UDP', 'udp', 'tcp', 'tls', 'dtls', 'nonce', 'CreatePermission', 'REST', 'CA', 'NAT', 'IPv4', 'IPv6',
    'host', 'srflx', 'prflx', 'relay', 'all', 'active', 'passive', 'so',
    'kbit', 'kbps', 'Mbit', 'ms', 's', 'fps', 'Hz', 'x', 'WebM', 'SHA',
    'VP8', 'VP9', 'H264', 'AV1', 'opus', 'Opus', 'PCMU', 'PCMA', 'G722', 'rtx', 'red', 'ulpfec', 'flexfec',
    'stun', 'turn', 'turns', 'api', 'ice', 'servers', 'transport',
    'English', 'M', 'V', 'S', 'I', 'C', 'H', 'A', 'B',
    'new', 'checking', 'connected', 'completed', 'failed', 'disconnected', 'closed', 'connecting',
  ],
);

/**
 * The Latin words of `texts` a Chinese reader would see untranslated: words outside
 * {@link ALLOWED_LATIN} after removing URLs (`scheme:…`, `/path`), addresses, numbers and tokens
 * with digits (ids, sizes like 640x480, codecs like VP8/90000).
 */
export function untranslatedWords(texts: SeenText[]): SeenText[] {
  const bad: SeenText[] = [];
  for (const t of texts) {
    const stripped = t.text
      .replace(/\b[a-z][a-z0-9+.-]*:[^\s，。；（）“”]+/gi, ' ') // URLs: stun:…, https://…, turn:…?transport=udp
      .replace(/\/[\w./?=&-]+/g, ' ') // paths: /api/ice-servers
      .replace(/\[[0-9a-f:.]+\]/gi, ' ') // [IPv6]
      .replace(/\S*\d\S*/g, ' '); // anything with a digit
    const words = stripped.match(/[A-Za-z][A-Za-z'-]*/g) ?? [];
    const unknown = words.filter((w) => !ALLOWED_LATIN.has(w));
    if (unknown.length) bad.push({ text: `${unknown.join(' ')}  ⟵  "${t.text}"`, where: t.where });
  }
  return bad;
}
