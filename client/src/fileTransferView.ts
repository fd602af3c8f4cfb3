/**
 * The file-transfer block of the call page: `#sendFile` (opens the hidden `#fileInput`), dropping a
 * file anywhere on the page during a call, and one row per transfer in `#transfers`.
 *
 * A row is `<li data-id data-direction data-state data-bytes data-size [data-sha256]>` with the
 * name, a `<progress>`, a line in words (progress and speed, or how it ended), and buttons with
 * `data-action` = `accept` / `decline` (an offer to this person), `cancel` (not finished), or a
 * `download` link (a received file that checked out).
 */
import { setAttr, setText } from './i18n/dom.js';
import { language, msg, onLanguageChange, type Msg } from './i18n/index.js';
import type { FileTransfers, Transfer } from './fileTransfer.js';

/** The elements of the block. */
export interface FileTransferElements {
  section: HTMLElement;
  sendFile: HTMLButtonElement;
  fileInput: HTMLInputElement;
  transfers: HTMLOListElement;
  /** Where a problem sentence goes (the page's warning line). */
  warn(text: Msg): void;
}

/** A size in words: `512 B`, `1.5 KB`, `50.0 MB`, `1.20 GB` (decimal units, as file managers show). */
export function sizeMsg(bytes: number): Msg {
  const n = (v: number, d: number) => v.toLocaleString(language(), { maximumFractionDigits: d, minimumFractionDigits: d });
  if (bytes < 1000) return msg('files.sizeB', { value: n(bytes, 0) });
  if (bytes < 1e6) return msg('files.sizeKB', { value: n(bytes / 1e3, 1) });
  if (bytes < 1e9) return msg('files.sizeMB', { value: n(bytes / 1e6, 1) });
  return msg('files.sizeGB', { value: n(bytes / 1e9, 2) });
}

/** The sentence under a transfer's name. */
export function transferLine(t: Transfer): Msg {
  const done = sizeMsg(t.bytes);
  const total = sizeMsg(t.size);
  const speed = t.speed === null ? null : sizeMsg(t.speed);
  switch (t.state) {
    case 'offered':
      return t.direction === 'send' ? msg('files.waitingForAccept', { total }) : msg('files.offeredToYou', { total });
    case 'sending':
      return speed ? msg('files.sendingSpeed', { done, total, speed }) : msg('files.sending', { done, total });
    case 'receiving':
      return speed ? msg('files.receivingSpeed', { done, total, speed }) : msg('files.receiving', { done, total });
    case 'done':
      return t.direction === 'send' ? msg('files.sent', { total }) : msg('files.received', { total });
    case 'declined':
      return t.by === 'me' ? msg('files.declinedByMe') : msg('files.declinedByThem');
    case 'cancelled':
      return t.by === 'me' ? msg('files.cancelledByMe') : msg('files.cancelledByThem');
    case 'failed':
      return {
        'hash-mismatch': msg('files.failedHash'),
        'connection-lost': msg('files.failedConnection'),
        'read-error': msg('files.failedRead'),
        protocol: msg('files.failedProtocol'),
      }[t.reason ?? 'protocol'];
  }
}

/** Wire the block to `files`. */
export class FileTransferView {
  private readonly rows = new Map<string, HTMLLIElement>();
  private readonly urls = new Map<string, string>();

  constructor(
    private readonly el: FileTransferElements,
    private readonly files: () => FileTransfers,
    private readonly inCall: () => boolean,
  ) {
    el.sendFile.addEventListener('click', () => el.fileInput.click());
    el.fileInput.addEventListener('change', () => {
      for (const f of Array.from(el.fileInput.files ?? [])) this.offer(f);
      el.fileInput.value = '';
    });
    el.transfers.addEventListener('click', (ev) => {
      const button = (ev.target as HTMLElement).closest<HTMLButtonElement>('button[data-action]');
      const id = button?.closest<HTMLElement>('li[data-id]')?.dataset.id;
      if (!button || !id) return;
      const action = button.dataset.action;
      if (action === 'accept') this.files().accept(id);
      else if (action === 'decline') this.files().decline(id);
      else if (action === 'cancel') this.files().cancel(id);
    });
    // Drop a file anywhere on the page during a call. Outside a call a dropped file is refused
    // (the browser would otherwise open it in place of the page).
    const hasFiles = (ev: DragEvent) => !!ev.dataTransfer && Array.from(ev.dataTransfer.types).includes('Files');
    document.addEventListener('dragover', (ev) => {
      if (!hasFiles(ev)) return;
      ev.preventDefault();
      ev.dataTransfer!.dropEffect = this.inCall() ? 'copy' : 'none';
      document.body.classList.toggle('file-drop', this.inCall());
    });
    document.addEventListener('dragleave', (ev) => {
      if (ev.relatedTarget === null) document.body.classList.remove('file-drop');
    });
    document.addEventListener('drop', (ev) => {
      document.body.classList.remove('file-drop');
      if (!hasFiles(ev)) return;
      ev.preventDefault();
      if (this.inCall()) for (const f of Array.from(ev.dataTransfer!.files)) this.offer(f);
    });
    onLanguageChange(() => {
      for (const t of this.files().transfers) this.update(t);
    });
  }

  /** Whether a file can be sent now (enables `#sendFile`). */
  setReady(ready: boolean): void {
    this.el.sendFile.disabled = !ready;
  }

  /** Show a transfer (new or changed). */
  update(t: Transfer): void {
    let li = this.rows.get(t.id);
    if (!li) {
      li = this.newRow(t);
      this.rows.set(t.id, li);
      this.el.transfers.prepend(li);
    }
    li.dataset.state = t.state;
    li.dataset.bytes = String(t.bytes);
    if (t.sha256 && t.state === 'done') li.dataset.sha256 = t.sha256;
    else delete li.dataset.sha256;
    const progress = li.querySelector('progress')!;
    progress.value = t.bytes;
    setText(li.querySelector<HTMLElement>('.transfer-line')!, transferLine(t));
    li.querySelector<HTMLElement>('.transfer-actions')!.replaceChildren(...this.actions(t));
  }

  private offer(file: File): void {
    const t = this.files().send(file);
    if (!t) this.el.warn(msg('files.notConnected'));
  }

  private newRow(t: Transfer): HTMLLIElement {
    const li = document.createElement('li');
    li.className = 'transfer';
    li.dataset.id = t.id;
    li.dataset.direction = t.direction;
    li.dataset.size = String(t.size);
    const head = document.createElement('div');
    head.className = 'transfer-head';
    const dir = document.createElement('span');
    dir.className = 'transfer-dir';
    setText(dir, t.direction === 'send' ? msg('files.toThem') : msg('files.fromThem'));
    const name = document.createElement('span');
    name.className = 'transfer-name';
    name.textContent = t.name;
    name.title = t.name;
    head.append(dir, name);
    const progress = document.createElement('progress');
    progress.max = Math.max(1, t.size);
    progress.value = 0;
    setAttr(progress as unknown as HTMLElement, 'aria-label', msg('files.progress', { name: t.name }));
    const line = document.createElement('span');
    line.className = 'transfer-line';
    const actions = document.createElement('span');
    actions.className = 'transfer-actions';
    li.append(head, progress, line, actions);
    return li;
  }

  private button(action: string, label: Msg, primary = false): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.action = action;
    if (primary) b.className = 'primary';
    setText(b, label);
    return b;
  }

  private actions(t: Transfer): HTMLElement[] {
    if (t.state === 'offered' && t.direction === 'receive') return [this.button('accept', msg('files.accept'), true), this.button('decline', msg('files.decline'))];
    if (t.state === 'offered' || t.state === 'sending' || t.state === 'receiving') return [this.button('cancel', msg('files.cancel'))];
    if (t.state === 'done' && t.blob) {
      let url = this.urls.get(t.id);
      if (!url) {
        url = URL.createObjectURL(t.blob);
        this.urls.set(t.id, url);
      }
      const a = document.createElement('a');
      a.href = url;
      a.download = t.name;
      a.dataset.action = 'download';
      a.className = 'button-link';
      setText(a, msg('files.download'));
      return [a];
    }
    return [];
  }
}
