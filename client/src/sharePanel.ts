/**
 * The invitation panel: the link to the room (`https://HOST/?room=N`, with `#pass=XYZ` when the
 * passcode field is filled), "Copy link", a QR code of the same link for a phone, and "New room"
 * (a random room number). Shown before Join while the room
 * field holds a room number, and during a call while waiting for the other person (until closed).
 */
import { setText } from './i18n/dom.js';
import { msg } from './i18n/index.js';
import { roomProblem } from './room.js';
import { randomRoom, roomLink } from './shareLink.js';

/** The elements of the panel (ids listed at the top of index.html). */
export interface ShareElements {
  share: HTMLElement;
  shareLink: HTMLInputElement;
  copyLink: HTMLButtonElement;
  shareStatus: HTMLElement;
  shareClose: HTMLButtonElement;
  qr: HTMLCanvasElement;
  newRoom: HTMLButtonElement;
  room: HTMLInputElement;
  passcode: HTMLInputElement;
}

/** Where the call stands, as far as the panel cares. */
export interface ShareSituation {
  inCall: boolean;
  /** In a call and nobody else there yet. */
  waiting: boolean;
}

/** See the module comment. */
export class SharePanel {
  /** The link shown now ('' when the room field holds no room number). */
  link = '';
  private closedInCall = false;
  private situation: ShareSituation = { inCall: false, waiting: false };
  private qrFor = '';

  /**
   * @param el        the panel's elements.
   * @param roomChosen called after "New room" filled in a room number.
   */
  constructor(
    private readonly el: ShareElements,
    private readonly roomChosen: (room: string) => void,
  ) {
    el.copyLink.addEventListener('click', () => void this.copy());
    el.shareClose.addEventListener('click', () => {
      this.closedInCall = true;
      this.render();
    });
    el.newRoom.addEventListener('click', () => {
      const room = randomRoom();
      el.room.value = room;
      this.roomChosen(room);
      this.render();
    });
    el.room.addEventListener('input', () => this.render());
    el.passcode.addEventListener('input', () => this.render());
    el.shareLink.addEventListener('focus', () => el.shareLink.select());
  }

  /** The call's situation changed (joined, waiting, other person there, left). */
  update(s: ShareSituation): void {
    if (s.inCall !== this.situation.inCall || (s.waiting && !this.situation.waiting)) this.closedInCall = false;
    this.situation = s;
    this.render();
  }

  /** Show or hide the panel and bring the link and QR code up to date. */
  render(): void {
    const room = this.el.room.value.trim();
    this.link = roomProblem(room) ? '' : roomLink(location.origin, room, this.el.passcode.value.trim());
    const { inCall, waiting } = this.situation;
    const visible = this.link !== '' && (inCall ? waiting && !this.closedInCall : true);
    this.el.share.hidden = !visible;
    this.el.newRoom.disabled = inCall;
    if (this.el.shareLink.value !== this.link) {
      this.el.shareLink.value = this.link;
      setText(this.el.shareStatus, null);
    }
    if (visible && this.qrFor !== this.link) void this.drawQr(this.link);
  }

  /** Copy the link to the clipboard; the panel says whether it worked. */
  async copy(): Promise<boolean> {
    if (!this.link) return false;
    let ok = false;
    try {
      await navigator.clipboard.writeText(this.link);
      ok = true;
    } catch {
      // No clipboard API or no permission: the old way, from the selected field.
      this.el.shareLink.select();
      try {
        ok = document.execCommand('copy');
      } catch {
        ok = false;
      }
    }
    setText(this.el.shareStatus, ok ? msg('share.copied') : msg('share.copyFailed'));
    return ok;
  }

  private async drawQr(link: string): Promise<void> {
    this.qrFor = link;
    try {
      // Loaded on first use: the page does not pay for the QR encoder before it shows a code.
      const { default: QRCode } = await import('qrcode');
      if (this.qrFor !== link) return;
      await QRCode.toCanvas(this.el.qr, link, { width: 196, margin: 2, errorCorrectionLevel: 'M' });
      this.el.qr.dataset.link = link;
    } catch (err) {
      this.qrFor = '';
      console.warn('QR code not drawn:', err);
    }
  }
}
