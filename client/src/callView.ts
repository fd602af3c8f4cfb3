/**
 * What the call shows, as an interface: the call (call.ts) and its status lines (callStatus.ts)
 * write through it, the page (callPage.ts) implements it with DOM elements.
 */
import type { CallPhase } from './callStatus.js';
import type { Msg } from './i18n/index.js';
import type { LocalMediaState } from './localMedia.js';

/** Status severities, for styling. */
export type StatusKind = 'info' | 'ok' | 'warn' | 'error';

/** What the call shows; implemented by the page. */
export interface CallView {
  /** The status line: what is happening, as a message (shown in the page's language). */
  status(text: Msg, kind?: StatusKind): void;
  /** A persistent warning under the status: one or more whole sentences (null or [] clears it). */
  warning(text: Msg | readonly Msg[] | null): void;
  /** The outgoing video's preview (null: none). */
  localVideo(stream: MediaStream | null): void;
  remoteVideo(stream: MediaStream | null): void;
  /** True from Join until Leave/full/fatal error. */
  inRoom(inRoom: boolean): void;
  /** The other person's media state (null: nobody there / unknown). */
  remoteMediaState(state: LocalMediaState | null): void;
  localMediaState(state: LocalMediaState): void;
  chatState(open: boolean): void;
  chatMessage(from: 'me' | 'them', text: string, sentAt: number): void;
  /** The set of local devices may have changed (new tracks were opened). */
  devicesChanged?(): void;
  /** The call's phase changed (e.g. to `waiting`: nobody else in the room yet). */
  phaseChanged?(phase: CallPhase): void;
}
