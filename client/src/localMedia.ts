/**
 * This person's media: the open microphone, camera and screen tracks, the chosen devices, and the
 * mute / camera-off / screen-sharing state. It exists apart from any call: a page can open it
 * (e.g. to show a preview) before joining and hand it to the call, which sends its tracks and
 * gets every later switch through {@link LocalMedia.sender} (`RTCRtpSender.replaceTrack`, no
 * renegotiation).
 *
 * No DOM elements here: the owner shows {@link LocalMedia.preview} and the state.
 */
import type { MediaStateMessage } from '../../contracts/signaling.js';
import { msg, type Msg } from './i18n/index.js';
import { MediaError, openCamera, openCameraAndMicrophone, openMicrophone, openScreen, stopStream } from './mediaDevices.js';

/** Our own media state, as sent to the other person. */
export type LocalMediaState = Omit<MediaStateMessage, 'type'>;

/** Where the sent tracks go (the call's current peer connection). */
export interface TrackSender {
  /** Send `track` as `kind` from now on (null: send nothing); resolves when the sender has it. */
  replaceTrack(kind: 'audio' | 'video', track: MediaStreamTrack | null): Promise<void>;
}

/** What {@link LocalMedia} tells its owner; each is optional. */
export interface LocalMediaEvents {
  /** The open tracks changed: {@link LocalMedia.preview} may be another stream, device labels may be known. */
  tracksChanged?(): void;
  /** Mute, camera-off or screen-sharing changed. */
  stateChanged?(state: LocalMediaState): void;
  /** A problem outside any method call (the browser ended screen sharing and the camera could not come back). */
  problem?(text: Msg): void;
  log?(msg: string): void;
}

/** A step of {@link LocalMedia.acquire}, for a progress message. */
export type AcquireStep = 'choose-screen' | 'open-devices';

/** The local tracks and their state (see the module comment). */
export class LocalMedia {
  audioTrack: MediaStreamTrack | null = null;
  cameraTrack: MediaStreamTrack | null = null;
  screenTrack: MediaStreamTrack | null = null;
  /** Chosen devices (undefined: the browser's default). */
  audioDeviceId: string | undefined;
  videoDeviceId: string | undefined;
  readonly state: LocalMediaState = { audioMuted: false, videoOff: false, screen: false };
  /** The stream the sent tracks belong to (so the far side groups them). */
  stream = new MediaStream();
  /** The outgoing video for a preview (null without video); replaced only when the video track changes. */
  preview: MediaStream | null = null;
  /** Gets every switch of a sent track; set by the call while it has a peer connection. */
  sender: TrackSender | null = null;
  events: LocalMediaEvents = {};
  private acquiring: Promise<Msg[]> | null = null;

  /** The track sent as video when the camera is on: the screen while sharing, else the camera. */
  get videoTrack(): MediaStreamTrack | null {
    return this.screenTrack ?? this.cameraTrack;
  }

  /** The video track to send now: none while the camera is off. */
  get sentVideoTrack(): MediaStreamTrack | null {
    return this.state.videoOff ? null : this.videoTrack;
  }

  /** True when a microphone, camera or screen is open. */
  get acquired(): boolean {
    return this.audioTrack !== null || this.videoTrack !== null;
  }

  /**
   * Open the microphone and the camera (or, with `shareDesktop`, the screen first: it needs the
   * click's user activation; then only the microphone). Does nothing when tracks are already open;
   * a call while they are being opened gets the result of that opening.
   * @returns warning sentences for what could not be opened (the call goes on without it).
   * @throws MediaError when neither the camera nor the microphone can be opened (nothing stays open).
   */
  acquire(opts: { shareDesktop: boolean; step?(step: AcquireStep): void }): Promise<Msg[]> {
    if (this.acquired) return Promise.resolve([]);
    // A second caller while the devices are being opened (Join pressed during the pre-join check)
    // waits for the same getUserMedia instead of asking again.
    this.acquiring ??= this.open(opts).finally(() => {
      this.acquiring = null;
    });
    return this.acquiring;
  }

  private async open(opts: { shareDesktop: boolean; step?(step: AcquireStep): void }): Promise<Msg[]> {
    const warnings: Msg[] = [];
    try {
      if (opts.shareDesktop) {
        try {
          opts.step?.('choose-screen');
          const screen = await openScreen();
          this.screenTrack = screen;
          this.watchScreenEnd(screen);
          this.state.screen = true;
        } catch (err) {
          warnings.push(errorText(err), msg('media.cameraInstead'));
        }
      }
      opts.step?.('open-devices');
      if (this.screenTrack) {
        try {
          this.audioTrack = await openMicrophone(this.audioDeviceId);
        } catch (err) {
          warnings.push(errorText(err), msg('media.noSound'));
        }
      } else {
        const opened = await openCameraAndMicrophone({ audioDeviceId: this.audioDeviceId, videoDeviceId: this.videoDeviceId });
        const stream = opened.stream;
        warnings.push(...opened.warnings);
        this.audioTrack = stream.getAudioTracks()[0] ?? null;
        this.cameraTrack = stream.getVideoTracks()[0] ?? null;
      }
    } catch (err) {
      this.release();
      throw err;
    }
    // A state chosen before the tracks existed (e.g. join muted) applies to them.
    if (this.audioTrack) this.audioTrack.enabled = !this.state.audioMuted;
    if (this.videoTrack) this.videoTrack.enabled = !this.state.videoOff;
    this.tracksUpdated();
    this.stateUpdated();
    return warnings;
  }

  /** Stop every track and reset the state (unmuted, camera on, no screen). */
  release(): void {
    for (const t of [this.audioTrack, this.cameraTrack, this.screenTrack]) t?.stop();
    stopStream(this.stream);
    this.audioTrack = this.cameraTrack = this.screenTrack = null;
    this.stream = new MediaStream();
    Object.assign(this.state, { audioMuted: false, videoOff: false, screen: false });
    this.tracksUpdated();
    this.stateUpdated();
  }

  /** Mute or unmute the microphone (`track.enabled`). */
  setMuted(muted: boolean): void {
    this.state.audioMuted = muted;
    if (this.audioTrack) this.audioTrack.enabled = !muted;
    this.stateUpdated();
  }

  /**
   * Turn the outgoing video (camera or screen) off or on. Off = the track is disabled
   * (`track.enabled = false`, the preview goes black) and the sender sends nothing
   * (`replaceTrack(null)`: Chromium would otherwise keep sending black frames at full rate).
   */
  setVideoOff(off: boolean): void {
    this.state.videoOff = off;
    const v = this.videoTrack;
    if (v) v.enabled = !off;
    void this.sender?.replaceTrack('video', off ? null : v);
    this.stateUpdated();
  }

  /**
   * Send the screen instead of the camera (or back). Must be called from a click when turning
   * sharing on.
   * @returns an error sentence, or undefined on success.
   */
  async setScreenSharing(on: boolean): Promise<Msg | undefined> {
    if (on === (this.screenTrack !== null)) return undefined;
    try {
      if (on) {
        const screen = await openScreen();
        screen.enabled = !this.state.videoOff;
        this.watchScreenEnd(screen);
        const oldCamera = this.cameraTrack;
        this.screenTrack = screen;
        this.cameraTrack = null;
        await this.sender?.replaceTrack('video', this.state.videoOff ? null : screen);
        oldCamera?.stop();
      } else {
        const camera = await openCamera(this.videoDeviceId);
        camera.enabled = !this.state.videoOff;
        const oldScreen = this.screenTrack;
        this.cameraTrack = camera;
        this.screenTrack = null;
        await this.sender?.replaceTrack('video', this.state.videoOff ? null : camera);
        oldScreen?.stop();
      }
    } catch (err) {
      return errorText(err);
    } finally {
      this.state.screen = this.screenTrack !== null;
      this.tracksUpdated();
      this.stateUpdated();
    }
    return undefined;
  }

  /**
   * Use another microphone (`deviceId`, "" = default); an open one is replaced at once.
   * @returns an error sentence, or undefined on success.
   */
  async selectMicrophone(deviceId: string): Promise<Msg | undefined> {
    this.audioDeviceId = deviceId || undefined;
    const old = this.audioTrack;
    if (!old) return undefined;
    try {
      const track = await openMicrophone(this.audioDeviceId);
      track.enabled = !this.state.audioMuted;
      this.audioTrack = track;
      await this.sender?.replaceTrack('audio', track);
      old.stop();
      this.tracksUpdated();
    } catch (err) {
      return errorText(err);
    }
    return undefined;
  }

  /**
   * Use another camera (`deviceId`, "" = default); an open one is replaced at once, and while the
   * screen is shared it is used when sharing stops.
   * @returns an error sentence, or undefined on success.
   */
  async selectCamera(deviceId: string): Promise<Msg | undefined> {
    this.videoDeviceId = deviceId || undefined;
    const old = this.cameraTrack;
    if (this.screenTrack || !old) return undefined;
    try {
      const track = await openCamera(this.videoDeviceId);
      track.enabled = !this.state.videoOff;
      this.cameraTrack = track;
      await this.sender?.replaceTrack('video', this.state.videoOff ? null : track);
      old.stop();
      this.tracksUpdated();
    } catch (err) {
      return errorText(err);
    }
    return undefined;
  }

  private watchScreenEnd(track: MediaStreamTrack): void {
    // The person pressed "Stop sharing" in the browser's bar: the camera comes back.
    track.addEventListener('ended', () => {
      if (this.screenTrack !== track) return;
      this.events.log?.('screen sharing ended by the browser');
      void this.setScreenSharing(false).then((err) => {
        if (err) this.events.problem?.(err);
      });
    });
  }

  /** Keep {@link stream} and {@link preview} in step with the open tracks, and tell the owner. */
  private tracksUpdated(): void {
    const tracks = [this.audioTrack, this.videoTrack].filter((t): t is MediaStreamTrack => t !== null);
    for (const t of this.stream.getTracks()) if (!tracks.includes(t)) this.stream.removeTrack(t);
    for (const t of tracks) if (!this.stream.getTracks().includes(t)) this.stream.addTrack(t);
    const video = this.videoTrack;
    if (video !== (this.preview?.getVideoTracks()[0] ?? null)) this.preview = video ? new MediaStream([video]) : null;
    this.events.tracksChanged?.();
  }

  private stateUpdated(): void {
    this.events.stateChanged?.({ ...this.state });
  }
}

/** The sentence for an error of the functions in mediaDevices.ts (they throw {@link MediaError}). */
function errorText(err: unknown): Msg {
  return err instanceof MediaError ? err.text : msg('media.other.cameraAndMicrophone', { detail: err instanceof Error ? err.message : String(err) });
}
