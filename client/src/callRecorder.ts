/**
 * Recording the call in this browser, with the other person knowing: `MediaRecorder` over the
 * remote video plus both voices mixed (WebAudio: the remote audio and this person's microphone into
 * one `MediaStreamAudioDestinationNode`), saved as WebM. No DOM here (recordingView.ts shows it).
 *
 * Consent: a `recording` message goes over the room when recording starts (and again when the other
 * person re-joins), and `active: false` when it stops — on Stop, hang-up, Leave, page unload, or
 * when the connection ends or is replaced (the recorded tracks end with it; the file so far is kept). The
 * other page shows its notice while the flag is on, and clears it itself when this person leaves
 * or re-joins (a re-joined page that still records says so again).
 *
 * Muting the microphone mutes it in the recording too. A microphone switched mid-recording is
 * followed (its source is swapped in the mix).
 */
import type { CallExtension, CallRoom, ExtensionMessage } from './callExtension.js';

/** Container/codecs tried in order (Chromium and Firefox both record VP8 + Opus in WebM). */
export const RECORDING_TYPES = ['video/webm;codecs=vp8,opus', 'video/webm;codecs=vp9,opus', 'video/webm'];
/** MediaRecorder hands over data every this many ms (a crash loses at most that much). */
const TIMESLICE_MS = 1000;
/** How long the audio mix may take to start, ms. */
export const MIX_START_MS = 1500;

/** Why a recording ended. */
export type RecordingEnd = 'stopped' | 'connection-ended' | 'left' | 'error';

/** A finished recording. */
export interface Recording {
  blob: Blob;
  /** ms */
  durationMs: number;
  mimeType: string;
  startedAt: Date;
  end: RecordingEnd;
}

/** What {@link CallRecorder} tells the page. */
export interface RecorderEvents {
  /** Our recording started (`startedAt` performance.now() ms) or stopped (null). */
  localChanged(startedAt: number | null): void;
  /** A recording is ready to download. */
  finished(rec: Recording): void;
  /** The other person started or stopped recording. */
  remoteChanged(recording: boolean): void;
  /** The audio mix could not start: this recording holds the other person's voice only. */
  unmixed?(): void;
  log?(msg: string): void;
}

/** The browser's WebM type for MediaRecorder, or null when it cannot record. */
export function recordingType(): string | null {
  if (typeof MediaRecorder === 'undefined' || typeof AudioContext === 'undefined') return null;
  return RECORDING_TYPES.find((t) => MediaRecorder.isTypeSupported(t)) ?? null;
}

/** Why {@link CallRecorder.start} could not start. */
export type StartProblem = 'unsupported' | 'no-call' | 'failed';

/** Our recording and the other person's recording flag (see the module comment). */
export class CallRecorder implements CallExtension {
  /** True while the other person records. */
  remoteRecording = false;
  private recorder: MediaRecorder | null = null;
  private audio: AudioContext | null = null;
  private localSource: MediaStreamAudioSourceNode | null = null;
  private destination: MediaStreamAudioDestinationNode | null = null;
  private remote: MediaStream | null = null;
  private chunks: Blob[] = [];
  private startedAt = 0;
  private startedDate = new Date();
  private endReason: RecordingEnd = 'stopped';
  private starting = false;

  constructor(
    private readonly call: CallRoom,
    /** This person's microphone track now (null: none). */
    private readonly microphone: () => MediaStreamTrack | null,
    private readonly events: RecorderEvents,
  ) {
    // Closing the tab ends the recording: tell the other person while the socket is still there.
    addEventListener('pagehide', () => this.stop('left'));
  }

  /** True while we record. */
  get recording(): boolean {
    return this.recorder !== null;
  }

  /**
   * Start recording the remote video and both voices. Call it from a click: the audio mix
   * (`AudioContext`) may only start with a user activation.
   *
   * Where the audio mix does not run within {@link MIX_START_MS} (an `AudioContext` needs an audio
   * output; headless Firefox without a sound server has none), the recording takes the other
   * person's voice alone and says so through `unmixed`.
   * @returns why it could not start, or undefined.
   */
  async start(): Promise<StartProblem | undefined> {
    if (this.recorder || this.starting) return undefined;
    const type = recordingType();
    if (!type) return 'unsupported';
    const video = this.remote?.getVideoTracks().find((t) => t.readyState === 'live');
    const remoteAudio = this.remote?.getAudioTracks().find((t) => t.readyState === 'live');
    if (!this.call.peer || (!video && !remoteAudio)) return 'no-call';
    this.starting = true;
    try {
      const ctx = new AudioContext();
      const dest = ctx.createMediaStreamDestination();
      if (remoteAudio) ctx.createMediaStreamSource(new MediaStream([remoteAudio])).connect(dest);
      this.audio = ctx;
      this.destination = dest;
      this.connectMicrophone();
      const running = await Promise.race([ctx.resume().then(() => ctx.state === 'running'), new Promise<boolean>((r) => setTimeout(() => r(false), MIX_START_MS))]);
      if (!this.call.peer || !this.remote) {
        this.teardownAudio();
        return 'no-call';
      }
      let audio = dest.stream.getAudioTracks();
      if (!running) {
        this.events.log?.(`audio mix did not start (AudioContext ${ctx.state}): recording the other person's voice only`);
        this.teardownAudio();
        audio = remoteAudio ? [remoteAudio] : [];
        this.events.unmixed?.();
      }
      const tracks = [...(video ? [video] : []), ...audio];
      const rec = new MediaRecorder(new MediaStream(tracks), { mimeType: type });
      this.chunks = [];
      rec.ondataavailable = (ev) => {
        if (ev.data.size > 0) this.chunks.push(ev.data);
      };
      rec.onstop = () => this.finish(rec);
      rec.onerror = () => this.stop('error');
      rec.start(TIMESLICE_MS);
      this.recorder = rec;
      this.startedAt = performance.now();
      this.startedDate = new Date();
      this.endReason = 'stopped';
      this.call.sendRoomMessage({ type: 'recording', active: true });
      this.events.log?.(`recording started (${type}; ${running ? 'both voices mixed' : 'remote voice only'})`);
      this.events.localChanged(this.startedAt);
      return undefined;
    } catch (err) {
      this.events.log?.(`recording could not start: ${err instanceof Error ? err.message : String(err)}`);
      this.teardownAudio();
      return 'failed';
    } finally {
      this.starting = false;
    }
  }

  /** Stop recording (the file is handed over through `finished`); the other person is told. */
  stop(reason: RecordingEnd = 'stopped'): void {
    const rec = this.recorder;
    if (!rec) return;
    this.recorder = null;
    this.endReason = reason;
    this.call.sendRoomMessage({ type: 'recording', active: false });
    this.events.localChanged(null);
    try {
      if (rec.state !== 'inactive') rec.stop();
      else this.finish(rec);
    } catch {
      this.finish(rec);
    }
  }

  // ------------------------------------------------------------------ CallExtension

  remoteStream(stream: MediaStream): void {
    if (this.remote && this.remote !== stream) this.stop('connection-ended');
    this.remote = stream;
  }

  peerClosed(): void {
    this.stop('connection-ended');
    this.remote = null;
  }

  tracksChanged(): void {
    if (this.recorder) this.connectMicrophone();
  }

  otherArrived(): void {
    // A page that re-joined starts without our flag; a recording page says so again.
    this.setRemote(false);
    if (this.recorder) this.call.sendRoomMessage({ type: 'recording', active: true });
  }

  otherLeft(): void {
    this.setRemote(false);
  }

  left(): void {
    this.stop('left');
    this.setRemote(false);
  }

  message(data: ExtensionMessage): void {
    if (data.type === 'recording') this.setRemote(data.active);
  }

  // ------------------------------------------------------------------ internals

  private setRemote(on: boolean): void {
    if (this.remoteRecording === on) return;
    this.remoteRecording = on;
    this.events.remoteChanged(on);
  }

  /** (Re)connect this person's current microphone to the mix. */
  private connectMicrophone(): void {
    if (!this.audio || !this.destination) return;
    const mic = this.microphone();
    const current = this.localSource?.mediaStream.getAudioTracks()[0] ?? null;
    if (current === mic) return;
    this.localSource?.disconnect();
    this.localSource = null;
    if (mic && mic.readyState === 'live') {
      this.localSource = this.audio.createMediaStreamSource(new MediaStream([mic]));
      this.localSource.connect(this.destination);
    }
  }

  private finish(rec: MediaRecorder): void {
    const blob = new Blob(this.chunks, { type: rec.mimeType.split(';')[0] || 'video/webm' });
    this.chunks = [];
    this.teardownAudio();
    const durationMs = performance.now() - this.startedAt;
    this.events.log?.(`recording stopped (${this.endReason}): ${blob.size} bytes, ${Math.round(durationMs)} ms`);
    if (blob.size > 0) this.events.finished({ blob, durationMs, mimeType: blob.type, startedAt: this.startedDate, end: this.endReason });
  }

  private teardownAudio(): void {
    this.localSource?.disconnect();
    this.localSource = null;
    this.destination = null;
    void this.audio?.close().catch(() => undefined);
    this.audio = null;
  }
}
