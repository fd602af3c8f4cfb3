/**
 * The microphone, camera and speaker pickers (#micSelect, #cameraSelect, #speakerSelect): filled
 * from `enumerateDevices` whenever the devices or the open tracks change, and wired to the local
 * media (a new microphone or camera replaces the open track at once, also mid-call) and to the
 * remote video's audio output (`setSinkId`).
 */
import { setText } from './i18n/dom.js';
import { msg, type Key, type Msg } from './i18n/index.js';
import type { LocalMedia } from './localMedia.js';
import { listDevices } from './mediaDevices.js';

/** The pickers and the video whose sound the speaker picker routes. */
export interface DevicePickerElements {
  micSelect: HTMLSelectElement;
  cameraSelect: HTMLSelectElement;
  speakerSelect: HTMLSelectElement;
  speakerLabel: HTMLElement;
  remoteVideo: HTMLVideoElement;
}

type SinkVideo = HTMLVideoElement & { setSinkId?: (id: string) => Promise<void> };

/** True when the browser can choose the audio output of a media element. */
export function canChooseSpeaker(): boolean {
  return typeof (HTMLMediaElement.prototype as Partial<SinkVideo>).setSinkId === 'function';
}

function fillSelect(select: HTMLSelectElement, devices: MediaDeviceInfo[], current: string | undefined, unnamed: Key & `devices.unnamed${string}`): void {
  const options = devices.map((d, i) => {
    const o = document.createElement('option');
    o.value = d.deviceId;
    // Labels are empty until a permission was granted: "Camera 1", "Camera 2" in the page's language.
    if (d.label) o.textContent = d.label;
    else setText(o, { key: unnamed, vars: { n: i + 1 } });
    return o;
  });
  select.replaceChildren(...options);
  if (current && devices.some((d) => d.deviceId === current)) select.value = current;
  select.disabled = devices.length <= 1;
}

/** See the module comment. */
export class DevicePickers {
  /**
   * @param el      the pickers.
   * @param media   whose microphone and camera they choose.
   * @param problem shows a sentence when a device cannot be used.
   */
  constructor(
    private readonly el: DevicePickerElements,
    private readonly media: LocalMedia,
    private readonly problem: (text: Msg) => void,
  ) {
    if (!canChooseSpeaker()) el.speakerLabel.hidden = true;
    navigator.mediaDevices?.addEventListener?.('devicechange', () => void this.refresh());
    el.micSelect.addEventListener('change', async () => {
      const err = await media.selectMicrophone(el.micSelect.value);
      if (err) problem(err);
    });
    el.cameraSelect.addEventListener('change', async () => {
      const err = await media.selectCamera(el.cameraSelect.value);
      if (err) problem(err);
    });
    el.speakerSelect.addEventListener('change', () => void this.selectSpeaker(el.speakerSelect.value));
  }

  /** Read the device list again and show the devices in use. Never throws. */
  async refresh(): Promise<void> {
    try {
      const { microphones, cameras, speakers } = await listDevices();
      const micId = this.media.audioTrack?.getSettings().deviceId ?? this.media.audioDeviceId;
      const camId = this.media.cameraTrack?.getSettings().deviceId ?? this.media.videoDeviceId;
      fillSelect(this.el.micSelect, microphones, micId, 'devices.unnamedMicrophone');
      fillSelect(this.el.cameraSelect, cameras, camId, 'devices.unnamedCamera');
      fillSelect(this.el.speakerSelect, speakers, this.el.speakerSelect.value || undefined, 'devices.unnamedSpeaker');
      // Firefox has setSinkId but may list no outputs (none until selectAudioOutput()): no empty picker.
      this.el.speakerLabel.hidden = !canChooseSpeaker() || speakers.length === 0;
    } catch {
      /* enumerateDevices unavailable */
    }
  }

  private async selectSpeaker(deviceId: string): Promise<void> {
    try {
      await (this.el.remoteVideo as SinkVideo).setSinkId?.(deviceId);
    } catch (err) {
      this.problem(msg('devices.speakerFailed', { detail: err instanceof Error ? err.message : String(err) }));
    }
  }
}
