/**
 * The pre-join check (#preview): opens the camera and microphone before Join and shows the camera
 * preview and a microphone level meter; "join muted" / "join with camera off" set the media state
 * the call starts with. The tracks opened here are the ones the call sends (the call's
 * `LocalMedia.acquire` finds them open), so Join does not wait for `getUserMedia` again.
 *
 * When the camera or microphone cannot be opened (permission denied, no device), it says so in
 * words, what to do, and that a receive-only join still works; "Try again" asks again.
 */
import { setItems } from './callPage.js';
import { setText } from './i18n/dom.js';
import { msg, type Msg } from './i18n/index.js';
import type { LocalMedia, LocalMediaState } from './localMedia.js';
import { MediaError } from './mediaDevices.js';
import { MicLevelMeter } from './micLevel.js';

/** The pre-join elements (ids listed at the top of index.html). */
export interface PreJoinElements {
  preview: HTMLElement;
  previewVideo: HTMLVideoElement;
  previewState: HTMLElement;
  micLevel: HTMLMeterElement;
  mediaProblem: HTMLElement;
  retryMedia: HTMLButtonElement;
  joinMuted: HTMLInputElement;
  joinCameraOff: HTMLInputElement;
}

/** See the module comment. */
export class PreJoin {
  /** Sentences shown in #mediaProblem (empty when the devices are fine). */
  problems: Msg[] = [];
  private readonly meter: MicLevelMeter;
  private active = true;
  private opening: Promise<void> | null = null;

  constructor(
    private readonly el: PreJoinElements,
    private readonly media: LocalMedia,
  ) {
    this.meter = new MicLevelMeter((level) => {
      el.micLevel.value = level;
    });
    el.joinMuted.addEventListener('change', () => media.setMuted(el.joinMuted.checked));
    el.joinCameraOff.addEventListener('change', () => media.setVideoOff(el.joinCameraOff.checked));
    el.retryMedia.addEventListener('click', () => void this.open());
  }

  /** Open the camera and microphone for the preview (nothing happens when they are open). Never throws. */
  open(): Promise<void> {
    this.opening ??= this.acquire().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  /** Before Join (`true`) the check shows and measures; in a call (`false`) it is hidden and idle. */
  setActive(active: boolean): void {
    this.active = active;
    this.el.preview.hidden = !active;
    if (!active) {
      // Nothing plays or measures out of sight (the call shows the same camera in #localVideo).
      this.meter.stop();
      this.el.previewVideo.srcObject = null;
      this.el.retryMedia.hidden = true;
    } else {
      this.tracksChanged();
      if (!this.media.acquired) this.showRetry(this.problems.length ? 'prejoin.retry' : 'prejoin.start');
    }
  }

  /** The open tracks changed: show the new video, measure the new microphone. */
  tracksChanged(): void {
    if (!this.active) return;
    const video = this.media.preview;
    if (this.el.previewVideo.srcObject !== video) {
      this.el.previewVideo.srcObject = video;
      if (video) void this.el.previewVideo.play().catch(() => undefined);
    }
    this.meter.start(this.media.audioTrack);
  }

  /** The media state changed: the check boxes and the preview's badge follow it. */
  stateChanged(state: LocalMediaState): void {
    this.el.joinMuted.checked = state.audioMuted;
    this.el.joinCameraOff.checked = state.videoOff;
    const badges: Msg[] = [];
    if (state.audioMuted) badges.push(msg('call.stateMuted'));
    if (state.videoOff) badges.push(msg('call.stateCameraOff'));
    setItems(this.el.previewState, badges);
  }

  private async acquire(): Promise<void> {
    if (this.media.acquired) return;
    this.el.retryMedia.hidden = true;
    this.el.preview.setAttribute('aria-busy', 'true');
    try {
      this.showProblems(await this.media.acquire({ shareDesktop: false }));
    } catch (err) {
      const text = err instanceof MediaError ? err.text : msg('media.other.cameraAndMicrophone', { detail: String(err) });
      this.showProblems([text, msg('prejoin.receiveOnlyHint')]);
      this.showRetry('prejoin.retry');
    } finally {
      this.el.preview.removeAttribute('aria-busy');
    }
  }

  private showProblems(problems: Msg[]): void {
    this.problems = problems;
    setItems(this.el.mediaProblem, problems);
  }

  private showRetry(label: 'prejoin.retry' | 'prejoin.start'): void {
    setText(this.el.retryMedia, msg(label));
    this.el.retryMedia.hidden = false;
  }
}
