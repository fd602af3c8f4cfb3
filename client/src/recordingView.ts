/**
 * The recording block of the call page: `#record` (start/stop, `aria-pressed`), the running timer,
 * the download link of the last recording (`#recordingDownload`), and `#recordingNotice`, shown
 * while the other person records (a banner pinned to the top of the screen).
 */
import { setAttr, setText } from './i18n/dom.js';
import { msg, type Msg } from './i18n/index.js';
import type { CallRecorder, Recording, RecordingEnd, StartProblem } from './callRecorder.js';

/** The elements of the block. */
export interface RecordingElements {
  record: HTMLButtonElement;
  timer: HTMLElement;
  download: HTMLAnchorElement;
  /** Hint under the button (who sees what). */
  hint: HTMLElement;
  notice: HTMLElement;
  warn(text: Msg): void;
}

/** `m:ss` or `h:mm:ss` of a duration in ms. */
export function clockText(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** A file name like `call-2026-05-01-1432.webm` (local time of the start). */
export function recordingFileName(startedAt: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `call-${startedAt.getFullYear()}-${p(startedAt.getMonth() + 1)}-${p(startedAt.getDate())}-${p(startedAt.getHours())}${p(startedAt.getMinutes())}.webm`;
}

const START_PROBLEMS: Record<StartProblem, Msg> = {
  unsupported: msg('recording.unsupported'),
  'no-call': msg('recording.noCall'),
  failed: msg('recording.failed'),
};

const END_NOTES: Partial<Record<RecordingEnd, Msg>> = {
  'connection-ended': msg('recording.endedConnection'),
  error: msg('recording.endedError'),
};

/** Wire the block to a {@link CallRecorder}. */
export class RecordingView {
  private timer: ReturnType<typeof setInterval> | undefined;
  private url: string | null = null;

  constructor(
    private readonly el: RecordingElements,
    private readonly recorder: () => CallRecorder,
  ) {
    el.record.addEventListener('click', () => {
      const r = this.recorder();
      if (r.recording) {
        r.stop();
        return;
      }
      el.record.disabled = true;
      void r.start().then((problem) => {
        el.record.disabled = false;
        if (problem) el.warn(START_PROBLEMS[problem]);
      });
    });
  }

  /** Our recording started (performance.now() ms) or stopped (null). */
  localChanged(startedAt: number | null): void {
    const { record, timer } = this.el;
    record.setAttribute('aria-pressed', String(startedAt !== null));
    setText(record, startedAt !== null ? msg('recording.stop') : msg('recording.start'));
    setAttr(record, 'title', startedAt !== null ? msg('recording.stopTitle') : msg('recording.startTitle'));
    clearInterval(this.timer);
    timer.hidden = startedAt === null;
    if (startedAt === null) return;
    const tick = () => setText(timer, msg('recording.timer', { time: clockText(performance.now() - startedAt) }));
    tick();
    this.timer = setInterval(tick, 500);
  }

  /** A recording is ready: offer it for download. */
  finished(rec: Recording): void {
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = URL.createObjectURL(rec.blob);
    const a = this.el.download;
    a.href = this.url;
    a.download = recordingFileName(rec.startedAt);
    a.dataset.bytes = String(rec.blob.size);
    a.dataset.durationMs = String(Math.round(rec.durationMs));
    setText(a, msg('recording.download', { time: clockText(rec.durationMs) }));
    a.hidden = false;
    const note = END_NOTES[rec.end];
    if (note) this.el.warn(note);
  }

  /** The audio mix could not start: only the other person's voice is recorded. */
  unmixed(): void {
    this.el.warn(msg('recording.unmixed'));
  }

  /** The other person started or stopped recording. */
  remoteChanged(recording: boolean): void {
    this.el.notice.hidden = !recording;
    this.el.notice.dataset.state = recording ? 'recording' : 'off';
  }

  /** Whether recording can start now (a call with the other person's media). */
  setReady(ready: boolean, recording: boolean): void {
    this.el.record.disabled = !ready && !recording;
  }
}
