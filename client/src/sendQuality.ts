/**
 * What this person sends: the video quality choice (auto / data saver / high) applied to the video
 * sender with `RTCRtpSender.setParameters` (W3C webrtc-pc §5.2: `maxBitrate`,
 * `scaleResolutionDownBy`, `degradationPreference`), readable screen sharing, and the microphone's
 * noise suppression and echo cancellation (`MediaStreamTrack.applyConstraints`). No DOM here.
 *
 * - Parameters stick to the sender across `replaceTrack`, so they are applied when a connection's
 *   video sender exists (on `connected`), when the choice changes, and when camera ↔ screen
 *   switches (the screen gets other parameters).
 * - Screen: the track's `contentHint` is 'detail' (set where it is opened) and the sender prefers
 *   `maintain-resolution` (text stays sharp, the frame rate drops instead); it is never scaled
 *   down, also in data saver. Browsers without `degradationPreference` in parameters (Firefox ESR)
 *   still follow the content hint.
 * - Audio processing: Firefox changes noise suppression / echo cancellation of an open microphone
 *   with `applyConstraints`; Chromium resolves it but keeps the setting the microphone was opened
 *   with (and while a track of the device is open, a new one gets the same), so there the microphone
 *   is closed, opened again with the new setting and swapped in with `replaceTrack`. Microphones opened later get the setting from the start.
 */
import type { CallExtension, CallRoom } from './callExtension.js';
import type { LocalMedia } from './localMedia.js';
import { audioProcessing } from './mediaDevices.js';
import type { PeerSession } from './peerSession.js';

/** The choices of `#quality`. */
export const QUALITY_PRESETS = ['auto', 'saver', 'high'] as const;
export type QualityPreset = (typeof QUALITY_PRESETS)[number];

/** Encoding limits of a preset for the camera: bits per second (undefined = the browser decides) and scale-down. */
export const CAMERA_LIMITS: Record<QualityPreset, { maxBitrate?: number; scaleResolutionDownBy: number }> = {
  auto: { scaleResolutionDownBy: 1 },
  /** Data saver: at most 300 kbit/s of video, half the resolution each way. */
  saver: { maxBitrate: 300_000, scaleResolutionDownBy: 2 },
  high: { maxBitrate: 2_500_000, scaleResolutionDownBy: 1 },
};

/** Limits for the screen: full resolution always; data saver caps the bitrate (the frame rate drops). */
export const SCREEN_LIMITS: Record<QualityPreset, { maxBitrate?: number }> = {
  auto: {},
  saver: { maxBitrate: 300_000 },
  high: { maxBitrate: 2_500_000 },
};

/** localStorage key of the chosen preset. */
const PRESET_KEY = 'webrtc-call-quality';

/** The audio processing switches. */
export interface AudioProcessing {
  noiseSuppression: boolean;
  echoCancellation: boolean;
}

/** Which audio processing constraints this browser knows (a missing one gets no switch). */
export function supportedAudioProcessing(): Record<keyof AudioProcessing, boolean> {
  const c = navigator.mediaDevices?.getSupportedConstraints?.() ?? {};
  return { noiseSuppression: !!c.noiseSuppression, echoCancellation: !!c.echoCancellation };
}

type Params = RTCRtpSendParameters & { degradationPreference?: string };

/**
 * Apply `preset` to a video sender (`screen`: the screen is sent).
 * @throws what `setParameters` throws (e.g. InvalidStateError before negotiation).
 */
export async function applyVideoPreset(sender: RTCRtpSender, preset: QualityPreset, screen: boolean): Promise<void> {
  const params = sender.getParameters() as Params;
  if (!params.encodings?.length) return; // not negotiated yet: applied again on `connected`
  for (const enc of params.encodings) {
    const limits = screen ? { ...SCREEN_LIMITS[preset], scaleResolutionDownBy: 1 } : CAMERA_LIMITS[preset];
    if (limits.maxBitrate === undefined) delete enc.maxBitrate;
    else enc.maxBitrate = limits.maxBitrate;
    enc.scaleResolutionDownBy = limits.scaleResolutionDownBy;
  }
  const withPreference = { ...params, degradationPreference: screen ? 'maintain-resolution' : 'balanced' };
  try {
    await sender.setParameters(withPreference as RTCRtpSendParameters);
  } catch (err) {
    // A browser that refuses degradationPreference (rather than ignoring it): the limits alone.
    if (!(err instanceof Error) || err.name === 'InvalidStateError') throw err;
    await sender.setParameters(params);
  }
}

/** The preset chosen earlier on this browser (default auto). */
export function storedPreset(): QualityPreset {
  try {
    const v = localStorage.getItem(PRESET_KEY);
    return (QUALITY_PRESETS as readonly string[]).includes(v ?? '') ? (v as QualityPreset) : 'auto';
  } catch {
    return 'auto';
  }
}

/** The send-side settings of the call (see the module comment). */
export class SendQuality implements CallExtension {
  preset: QualityPreset = storedPreset();
  readonly audio: AudioProcessing = { noiseSuppression: true, echoCancellation: true };

  constructor(
    private readonly call: CallRoom,
    private readonly media: Pick<LocalMedia, 'audioTrack' | 'audioDeviceId' | 'state' | 'selectMicrophone'>,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  /** Choose a preset; applied at once and remembered. */
  async setPreset(preset: QualityPreset): Promise<void> {
    this.preset = preset;
    try {
      localStorage.setItem(PRESET_KEY, preset);
    } catch {
      /* storage disabled */
    }
    await this.applyVideo();
  }

  /**
   * Switch noise suppression or echo cancellation of the microphone.
   * @returns false when the browser refused (the switch should go back).
   */
  async setAudioProcessing(change: Partial<AudioProcessing>): Promise<boolean> {
    const before = { ...this.audio };
    Object.assign(this.audio, change);
    const ok = await this.applyAudio(true);
    if (!ok) {
      Object.assign(this.audio, before);
      await this.applyAudio();
    }
    return ok;
  }

  /** Apply the preset to the current video sender now. */
  async applyVideo(peer: PeerSession | null = this.call.peer): Promise<void> {
    const sender = peer?.videoSender;
    if (!sender || peer.closed) return;
    try {
      await applyVideoPreset(sender, this.preset, this.media.state.screen);
    } catch (err) {
      this.log(`could not apply video quality ${this.preset}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * Give the open microphone the wanted processing: `applyConstraints` first; where the browser
   * keeps the old setting (Chromium applies processing only when the microphone opens) and
   * `reopen` is allowed, the microphone is opened again with it and swapped in (no renegotiation).
   */
  private async applyAudio(reopen = false): Promise<boolean> {
    const wanted = { ...this.audio };
    const supported = supportedAudioProcessing();
    // Microphones opened from now on get it from the start.
    for (const k of ['noiseSuppression', 'echoCancellation'] as const) if (supported[k]) audioProcessing[k] = wanted[k];
    const track = this.media.audioTrack;
    if (!track || track.readyState !== 'live') return true;
    const matches = () => {
      const st = track.getSettings();
      return (st.noiseSuppression === undefined || !supported.noiseSuppression || st.noiseSuppression === wanted.noiseSuppression) && (st.echoCancellation === undefined || !supported.echoCancellation || st.echoCancellation === wanted.echoCancellation);
    };
    if (matches()) return true;
    try {
      await track.applyConstraints({ ...track.getConstraints(), ...audioProcessing });
    } catch (err) {
      this.log(`microphone refused ${JSON.stringify(wanted)}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (matches() || !reopen) return matches();
    // Chromium opens one processing set per device: the old track must close before the new opens
    // (a moment of silence).
    track.stop();
    const problem = await this.media.selectMicrophone(this.media.audioDeviceId ?? '');
    if (problem) this.log('could not open the microphone again with the new processing');
    const now = this.media.audioTrack?.getSettings();
    return !problem && (!now || ((now.noiseSuppression ?? wanted.noiseSuppression) === wanted.noiseSuppression && (now.echoCancellation ?? wanted.echoCancellation) === wanted.echoCancellation));
  }

  // ------------------------------------------------------------------ CallExtension

  peerConnectionState(peer: PeerSession, state: RTCPeerConnectionState): void {
    if (state === 'connected') void this.applyVideo(peer);
  }

  tracksChanged(): void {
    // Camera ↔ screen changes the limits; a new microphone starts with the browser's defaults.
    void this.applyVideo();
    void this.applyAudio();
  }
}
