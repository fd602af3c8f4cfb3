/**
 * The quality block of the call page: `#quality` (auto / data saver / high), the microphone's
 * `#noiseSuppression` and `#echoCancellation` switches (hidden where the browser lacks the
 * constraint), and `#netQuality`, the network-quality indicator: `data-state` = the worse of both
 * people's levels (good | fair | poor; `unknown` while measuring), with one line per person
 * (`[data-who=me|them]`, each with its own `data-state`).
 */
import type { NetQualityLevel } from '../../contracts/signaling.js';
import { setAttr, setText } from './i18n/dom.js';
import { msg, type Key, type Msg } from './i18n/index.js';
import type { NetQualityState } from './netQuality.js';
import { QUALITY_PRESETS, supportedAudioProcessing, type QualityPreset, type SendQuality } from './sendQuality.js';

/** The elements of the block. */
export interface QualityElements {
  quality: HTMLSelectElement;
  noiseSuppression: HTMLInputElement;
  noiseSuppressionLabel: HTMLElement;
  echoCancellation: HTMLInputElement;
  echoCancellationLabel: HTMLElement;
  netQuality: HTMLElement;
  warn(text: Msg): void;
}

const MINE: Record<NetQualityLevel | 'unknown', Key> = { good: 'quality.mineGood', fair: 'quality.mineFair', poor: 'quality.minePoor', unknown: 'quality.mineUnknown' };
const THEIRS: Record<NetQualityLevel | 'unknown', Key> = { good: 'quality.theirsGood', fair: 'quality.theirsFair', poor: 'quality.theirsPoor', unknown: 'quality.theirsUnknown' };

/** Wire the block to the send settings; {@link QualityBlock.showNet} draws the indicator. */
export class QualityBlock {
  private readonly mine: HTMLElement;
  private readonly theirs: HTMLElement;

  constructor(
    private readonly el: QualityElements,
    private readonly send: () => SendQuality,
  ) {
    const s = send();
    el.quality.value = s.preset;
    el.quality.addEventListener('change', () => {
      const v = el.quality.value as QualityPreset;
      if ((QUALITY_PRESETS as readonly string[]).includes(v)) void this.send().setPreset(v);
    });
    const supported = supportedAudioProcessing();
    for (const key of ['noiseSuppression', 'echoCancellation'] as const) {
      const box = el[key];
      el[`${key}Label`].hidden = !supported[key];
      box.checked = s.audio[key];
      box.addEventListener('change', async () => {
        const ok = await this.send().setAudioProcessing({ [key]: box.checked });
        if (!ok) {
          box.checked = this.send().audio[key];
          el.warn(msg('quality.processingRefused'));
        }
      });
    }
    this.mine = document.createElement('span');
    this.mine.dataset.who = 'me';
    this.theirs = document.createElement('span');
    this.theirs.dataset.who = 'them';
    el.netQuality.replaceChildren(this.mine, this.theirs);
    this.showNet({ mine: null, theirs: null, overall: null, measure: null });
  }

  /** Draw the network-quality indicator. */
  showNet(s: NetQualityState): void {
    const { netQuality } = this.el;
    netQuality.dataset.state = s.overall ?? 'unknown';
    this.mine.dataset.state = s.mine ?? 'unknown';
    this.theirs.dataset.state = s.theirs ?? 'unknown';
    setText(this.mine, { key: MINE[s.mine ?? 'unknown'] });
    setText(this.theirs, { key: THEIRS[s.theirs ?? 'unknown'] });
    const m = s.measure;
    const fmt = (v: number | null, d = 0) => (v === null ? '–' : v.toFixed(d));
    setAttr(netQuality, 'title', m ? msg('quality.measureTitle', { loss: fmt(m.lossPct, 1), rtt: fmt(m.rttMs), kbps: fmt(m.availableKbps) }) : null);
  }
}
