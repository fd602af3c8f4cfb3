/**
 * Helpers of the browser tests of the call page's extra blocks (safety number, files, recording,
 * quality): read them as a person sees them (texts, `data-state`, `aria-pressed`).
 */
import type { Page } from 'playwright-core';

/** The safety block of a page. */
export interface SafetyBlockState {
  /** `#safetyNumber` data-state: pending | ready. */
  state: string | null;
  text: string;
  /** `data-source`: certificate | sdp. */
  source: string | null;
  verifyPressed: string | null;
  /** `#safetyPeer` data-state: none | verified | differs. */
  peer: string | null;
  changedHidden: boolean;
}

/** Read the safety block. */
export async function safetyState(page: Page): Promise<SafetyBlockState> {
  return page.evaluate(() => {
    const n = document.getElementById('safetyNumber')!;
    return {
      state: n.dataset.state ?? null,
      text: (n.textContent ?? '').trim(),
      source: n.dataset.source ?? null,
      verifyPressed: document.getElementById('verify')!.getAttribute('aria-pressed'),
      peer: document.getElementById('safetyPeer')!.dataset.state ?? null,
      changedHidden: document.getElementById('safetyChanged')!.hidden === true,
    };
  });
}

/** One row of `#transfers`. */
export interface TransferRow {
  id: string;
  direction: string;
  state: string;
  bytes: number;
  size: number;
  sha256: string | null;
  text: string;
  actions: string[];
}

/** Every row of `#transfers`, newest first. */
export async function transferRows(page: Page): Promise<TransferRow[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLElement>('#transfers > li')).map((li) => ({
      id: li.dataset.id ?? '',
      direction: li.dataset.direction ?? '',
      state: li.dataset.state ?? '',
      bytes: Number(li.dataset.bytes ?? 0),
      size: Number(li.dataset.size ?? 0),
      sha256: li.dataset.sha256 ?? null,
      text: (li.querySelector('.transfer-line')?.textContent ?? '').trim(),
      actions: Array.from(li.querySelectorAll<HTMLElement>('[data-action]')).map((e) => e.dataset.action!),
    })),
  );
}

/**
 * Record every change of a row's `data-bytes` / `data-state` in `#transfers` (a MutationObserver in
 * the page), to be read with {@link transferEvents}: progress events as the person sees them.
 */
export async function watchTransfers(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __transferEvents?: Array<{ t: number; id: string; state: string; bytes: number }> };
    const events: Array<{ t: number; id: string; state: string; bytes: number }> = [];
    w.__transferEvents = events;
    new MutationObserver((records) => {
      for (const r of records) {
        const li = r.target as HTMLElement;
        if (li.tagName !== 'LI' || !li.dataset.id) continue;
        events.push({ t: performance.now(), id: li.dataset.id, state: li.dataset.state ?? '', bytes: Number(li.dataset.bytes ?? 0) });
      }
    }).observe(document.getElementById('transfers')!, { subtree: true, attributes: true, attributeFilter: ['data-bytes', 'data-state'] });
  });
}

/** The events recorded by {@link watchTransfers}. */
export async function transferEvents(page: Page): Promise<Array<{ t: number; id: string; state: string; bytes: number }>> {
  return page.evaluate(() => (window as unknown as { __transferEvents: Array<{ t: number; id: string; state: string; bytes: number }> }).__transferEvents.slice());
}

/**
 * Put a file of `size` random bytes into `#fileInput` as a person choosing it would (a `change`
 * event), generated in the page (crypto.getRandomValues in 64 KiB pieces), and return its SHA-256 (hex)
 * computed with WebCrypto in the page.
 */
export async function chooseRandomFile(page: Page, size: number, name = 'random.bin'): Promise<string> {
  return page.evaluate(
    async ({ size, name }) => {
      const parts: Uint8Array[] = [];
      for (let off = 0; off < size; off += 65536) parts.push(crypto.getRandomValues(new Uint8Array(Math.min(65536, size - off))));
      const file = new File(parts as BlobPart[], name, { type: 'application/octet-stream' });
      const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
      const input = document.getElementById('fileInput') as HTMLInputElement;
      const dt = new DataTransfer();
      dt.items.add(file);
      input.files = dt.files;
      input.dispatchEvent(new Event('change', { bubbles: true }));
      return Array.from(new Uint8Array(digest), (x) => x.toString(16).padStart(2, '0')).join('');
    },
    { size, name },
  );
}

/** `#netQuality` and its two lines. */
export async function netQualityBlock(page: Page): Promise<{ state: string | null; me: string | null; them: string | null; text: string }> {
  return page.evaluate(() => {
    const el = document.getElementById('netQuality')!;
    return {
      state: el.dataset.state ?? null,
      me: el.querySelector<HTMLElement>('[data-who=me]')?.dataset.state ?? null,
      them: el.querySelector<HTMLElement>('[data-who=them]')?.dataset.state ?? null,
      text: (el.textContent ?? '').trim(),
    };
  });
}

/**
 * Drop a file of `size` random bytes on the page's videos as a person dragging it there would
 * (`dragover` then `drop` events carrying a DataTransfer with the file).
 */
export async function dropRandomFile(page: Page, size: number, name = 'dropped.bin'): Promise<void> {
  await page.evaluate(
    ({ size, name }) => {
      const bytes = crypto.getRandomValues(new Uint8Array(size));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: 'application/octet-stream' }));
      const target = document.getElementById('remoteVideo')!;
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { size, name },
  );
}
