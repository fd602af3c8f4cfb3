/**
 * The safety-number block of the call page: `#safetyNumber` (the number, `data-state` pending |
 * ready, `data-source` certificate | sdp), `#verify` (this person's mark, `aria-pressed`), the
 * other person's mark in words (`#safetyPeer`, `data-state` none | verified | differs), and
 * `#safetyChanged` when the number changed during the call.
 */
import { setAttr, setText } from './i18n/dom.js';
import { msg } from './i18n/index.js';
import type { SafetyState, SafetyView } from './safety.js';

/** The elements of the block. */
export interface SafetyElements {
  safetyNumber: HTMLElement;
  verify: HTMLButtonElement;
  peer: HTMLElement;
  changed: HTMLElement;
}

/** Shows a {@link SafetyState} in the block. */
export class SafetyBlock implements SafetyView {
  constructor(private readonly el: SafetyElements) {}

  show(s: SafetyState): void {
    const { safetyNumber, verify, peer, changed } = this.el;
    safetyNumber.dataset.state = s.code ? 'ready' : 'pending';
    if (s.code) {
      safetyNumber.textContent = s.code;
      delete safetyNumber.dataset.i18n;
      safetyNumber.dataset.source = s.source ?? '';
      setAttr(safetyNumber, 'title', s.source === 'certificate' ? msg('safety.sourceCertificate') : msg('safety.sourceSdp'));
    } else {
      setText(safetyNumber, msg('safety.pending'));
      delete safetyNumber.dataset.source;
      setAttr(safetyNumber, 'title', null);
    }
    verify.disabled = !s.code;
    verify.setAttribute('aria-pressed', String(s.verifiedByMe));
    setText(verify, s.verifiedByMe ? msg('safety.verified') : msg('safety.verify'));
    setAttr(verify, 'title', s.verifiedByMe ? msg('safety.unverifyTitle') : msg('safety.verifyTitle'));
    peer.dataset.state = s.verifiedByThem ? 'verified' : s.theirMarkDiffers ? 'differs' : 'none';
    setText(peer, !s.code ? null : s.verifiedByThem ? msg('safety.theyVerified') : s.theirMarkDiffers ? msg('safety.theyDiffer') : msg('safety.theyNotYet'));
    peer.hidden = !s.code;
    changed.hidden = !s.changed;
  }
}
