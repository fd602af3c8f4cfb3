/**
 * Picture-in-picture and full screen for the remote video, where the browser has them: the
 * standard APIs (`requestPictureInPicture`, `Element.requestFullscreen`) and, for full screen on
 * iOS Safari, `webkitEnterFullscreen` of the video element. Each button is hidden when its API is
 * missing or there is no remote video yet, and shows its state with `aria-pressed`.
 */
import type { Msg } from './i18n/index.js';
import { msg } from './i18n/index.js';

type IosVideo = HTMLVideoElement & { webkitEnterFullscreen?: () => void; webkitSupportsFullscreen?: boolean };

/** True when this browser can show `video` picture-in-picture. */
export function canPictureInPicture(video: HTMLVideoElement): boolean {
  return document.pictureInPictureEnabled === true && typeof video.requestPictureInPicture === 'function' && !video.disablePictureInPicture;
}

/** True when this browser can show `video` full screen. */
export function canFullscreen(video: HTMLVideoElement): boolean {
  return (document.fullscreenEnabled === true && typeof video.requestFullscreen === 'function') || typeof (video as IosVideo).webkitEnterFullscreen === 'function';
}

/** Wires the #pip and #fullscreen buttons to the remote video. */
export class VideoTools {
  /**
   * @param video      the remote `<video>`.
   * @param pip        its picture-in-picture button.
   * @param fullscreen its full-screen button.
   * @param problem    shows a sentence when the browser refuses.
   */
  constructor(
    private readonly video: HTMLVideoElement,
    private readonly pip: HTMLButtonElement,
    private readonly fullscreen: HTMLButtonElement,
    private readonly problem: (text: Msg) => void,
  ) {
    pip.addEventListener('click', () => void this.togglePip());
    fullscreen.addEventListener('click', () => void this.toggleFullscreen());
    video.addEventListener('enterpictureinpicture', () => this.refresh());
    video.addEventListener('leavepictureinpicture', () => this.refresh());
    document.addEventListener('fullscreenchange', () => this.refresh());
    for (const ev of ['loadedmetadata', 'emptied']) video.addEventListener(ev, () => this.refresh());
    this.refresh();
  }

  /** Show each button when it can act on a playing remote video; update its pressed state. */
  refresh(): void {
    const hasVideo = this.video.srcObject !== null && this.video.readyState >= HTMLMediaElement.HAVE_METADATA;
    const inPip = document.pictureInPictureElement === this.video;
    const inFullscreen = document.fullscreenElement === this.video;
    this.pip.hidden = !(canPictureInPicture(this.video) && (hasVideo || inPip));
    this.fullscreen.hidden = !(canFullscreen(this.video) && (hasVideo || inFullscreen));
    this.pip.setAttribute('aria-pressed', String(inPip));
    this.fullscreen.setAttribute('aria-pressed', String(inFullscreen));
  }

  /** Enter picture-in-picture, or leave it. Must run from a click (user activation). */
  async togglePip(): Promise<void> {
    try {
      if (document.pictureInPictureElement) await document.exitPictureInPicture();
      else await this.video.requestPictureInPicture();
    } catch (err) {
      this.problem(msg('video.pipFailed', { detail: err instanceof Error ? err.message : String(err) }));
    }
    this.refresh();
  }

  /** Show the remote video full screen, or leave full screen. Must run from a click. */
  async toggleFullscreen(): Promise<void> {
    const ios = this.video as IosVideo;
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else if (document.fullscreenEnabled && typeof this.video.requestFullscreen === 'function') await this.video.requestFullscreen();
      else ios.webkitEnterFullscreen?.();
    } catch (err) {
      this.problem(msg('video.fullscreenFailed', { detail: err instanceof Error ? err.message : String(err) }));
    }
    this.refresh();
  }
}
