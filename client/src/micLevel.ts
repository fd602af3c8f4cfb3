/**
 * A microphone level meter for the pre-join check: the track goes into a Web Audio
 * `AnalyserNode` (nothing is played out) and its loudness is reported about 20 times a second,
 * on a scale a person reads like a VU meter (0 = silence, 1 = full scale).
 */

/** Loudness shown as 0 (this quiet or quieter), dBFS. */
export const FLOOR_DB = -60;

/**
 * The level of a block of samples: the RMS in dBFS mapped linearly from {@link FLOOR_DB}…0 dB to 0…1.
 * @param samples time-domain samples in −1…1 (`AnalyserNode.getFloatTimeDomainData`).
 * @returns 0…1 (0 for an empty block or silence).
 */
export function levelOf(samples: ArrayLike<number>): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  const rms = Math.sqrt(sum / samples.length);
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db - FLOOR_DB) / -FLOOR_DB));
}

/** How often the level is read, ms. */
const INTERVAL_MS = 50;

/** Measures one audio track at a time; {@link MicLevelMeter.start} again to follow another track. */
export class MicLevelMeter {
  private ctx: AudioContext | null = null;
  private source: MediaStreamAudioSourceNode | null = null;
  private analyser: AnalyserNode | null = null;
  private track: MediaStreamTrack | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly buffer = new Float32Array(1024);
  private readonly resumeOnGesture = () => void this.ctx?.resume().catch(() => undefined);

  /** @param onLevel gets each reading (0…1), and 0 when stopped. */
  constructor(private readonly onLevel: (level: number) => void) {}

  /** Measure `track` (null: stop). Does nothing when it is already measured. Never throws. */
  start(track: MediaStreamTrack | null): void {
    if (track === this.track && this.timer) return;
    this.stop();
    if (!track || typeof AudioContext === 'undefined') return;
    try {
      this.ctx ??= new AudioContext();
      // Browsers may create the context suspended until the person interacts with the page.
      if (this.ctx.state === 'suspended') {
        void this.ctx.resume().catch(() => undefined);
        document.addEventListener('pointerdown', this.resumeOnGesture, { once: true });
        document.addEventListener('keydown', this.resumeOnGesture, { once: true });
      }
      this.track = track;
      this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
      this.analyser = this.ctx.createAnalyser();
      this.analyser.fftSize = this.buffer.length;
      this.source.connect(this.analyser);
      this.timer = setInterval(() => this.read(), INTERVAL_MS);
    } catch {
      this.stop();
    }
  }

  /** Stop measuring (the audio context is kept for the next start). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.source?.disconnect();
    this.source = null;
    this.analyser = null;
    this.track = null;
    this.onLevel(0);
  }

  /** Stop and release the audio context. */
  close(): void {
    this.stop();
    void this.ctx?.close().catch(() => undefined);
    this.ctx = null;
  }

  private read(): void {
    const a = this.analyser;
    const track = this.track;
    if (!a || !track) return;
    // A muted (disabled) track carries silence; show 0 rather than noise from the last block.
    if (!track.enabled || track.readyState === 'ended') {
      this.onLevel(0);
      return;
    }
    a.getFloatTimeDomainData(this.buffer);
    this.onLevel(levelOf(this.buffer));
  }
}
