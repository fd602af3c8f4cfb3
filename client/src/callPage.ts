/**
 * The call page's DOM: element lookup, the status line, videos, in-call buttons and chat log.
 * Implements {@link CallView} for the call; no call logic here.
 */
import type { CallPhase } from './callStatus.js';
import { PHONE_QUERY } from './layout.js';
import type { CallView, StatusKind } from './callView.js';
import { setAttr, setText } from './i18n/dom.js';
import { language, msg, render, type Key, type Msg } from './i18n/index.js';
import type { LocalMediaState } from './localMedia.js';
import type { PreJoinElements } from './prejoin.js';

/** Look up an element by id. @throws Error when the page lacks it (a build/markup mistake). */
export function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return el as T;
}

/** Every element the page scripts use (ids documented at the top of index.html). */
export interface Elements extends PreJoinElements {
  app: HTMLElement;
  lang: HTMLSelectElement;
  joinForm: HTMLFormElement;
  room: HTMLInputElement;
  passcode: HTMLInputElement;
  newRoom: HTMLButtonElement;
  roomError: HTMLElement;
  shareDesktop: HTMLInputElement;
  shareDesktopLabel: HTMLElement;
  join: HTMLButtonElement;
  leave: HTMLButtonElement;
  share: HTMLElement;
  shareLink: HTMLInputElement;
  copyLink: HTMLButtonElement;
  shareStatus: HTMLElement;
  shareClose: HTMLButtonElement;
  qr: HTMLCanvasElement;
  status: HTMLElement;
  warning: HTMLElement;
  localVideo: HTMLVideoElement;
  remoteVideo: HTMLVideoElement;
  localState: HTMLElement;
  remoteState: HTMLElement;
  pip: HTMLButtonElement;
  fullscreen: HTMLButtonElement;
  controls: HTMLElement;
  mute: HTMLButtonElement;
  camera: HTMLButtonElement;
  screen: HTMLButtonElement;
  stats: HTMLButtonElement;
  chatToggle: HTMLButtonElement;
  devicesToggle: HTMLButtonElement;
  hangup: HTMLButtonElement;
  devices: HTMLDetailsElement;
  /** In a call: the device pickers and the call's features (a sheet on a phone). */
  extras: HTMLElement;
  micSelect: HTMLSelectElement;
  cameraSelect: HTMLSelectElement;
  speakerSelect: HTMLSelectElement;
  speakerLabel: HTMLElement;
  statsPanel: HTMLElement;
  statsTable: HTMLTableElement;
  bitrateGraph: HTMLCanvasElement;
  chat: HTMLElement;
  chatLog: HTMLOListElement;
  chatForm: HTMLFormElement;
  chatInput: HTMLInputElement;
  chatSend: HTMLButtonElement;
}

/** The id of each of {@link Elements} (the same as its key). */
const ELEMENT_IDS: (keyof Elements)[] = [
  'app', 'lang', 'preview', 'previewVideo', 'previewState', 'micLevel', 'mediaProblem', 'retryMedia', 'joinMuted',
  'joinCameraOff', 'joinForm', 'room', 'passcode', 'newRoom', 'roomError', 'shareDesktop', 'shareDesktopLabel', 'join', 'leave',
  'share', 'shareLink', 'copyLink', 'shareStatus', 'shareClose', 'qr', 'status', 'warning', 'localVideo', 'remoteVideo',
  'localState', 'remoteState', 'pip', 'fullscreen', 'controls', 'mute', 'camera', 'screen', 'stats', 'chatToggle',
  'devicesToggle', 'hangup', 'devices', 'extras', 'micSelect', 'cameraSelect', 'speakerSelect', 'speakerLabel', 'statsPanel',
  'statsTable', 'bitrateGraph', 'chat', 'chatLog', 'chatForm', 'chatInput', 'chatSend',
];

/** Collect {@link Elements}. @throws Error naming the first missing id. */
export function findElements(): Elements {
  const out: Partial<Record<keyof Elements, HTMLElement>> = {};
  for (const id of ELEMENT_IDS) out[id] = byId(id);
  return out as Elements;
}

/** Describe a media state for a badge: Muted, Camera off, Sharing screen (empty when none applies). */
export function describeMediaState(s: LocalMediaState): Msg[] {
  const parts: Msg[] = [];
  if (s.audioMuted) parts.push(msg('call.stateMuted'));
  if (s.videoOff) parts.push(msg('call.stateCameraOff'));
  if (s.screen) parts.push(msg('call.stateSharing'));
  return parts;
}

/** Show `items` as the children of `el`, one `<span>` each (CSS puts the separators); hidden when empty. */
export function setItems(el: HTMLElement, items: readonly Msg[]): void {
  el.replaceChildren(
    ...items.map((m) => {
      const span = document.createElement('span');
      setText(span, m);
      return span;
    }),
  );
  el.hidden = items.length === 0;
}

/** Set a toggle button's on/off state: `aria-pressed` and its label (catalog keys; in its `.label` span when it has one). */
export function setToggle(button: HTMLButtonElement, pressed: boolean, labelOn: Key, labelOff: Key): void {
  button.setAttribute('aria-pressed', String(pressed));
  setText(button.querySelector<HTMLElement>('.label') ?? button, { key: pressed ? labelOn : labelOff });
}

/** The page as seen by the call. */
export class CallPage implements CallView {
  /** Set by main.ts: the open tracks changed (refresh the device pickers, the pre-join preview). */
  devicesChanged?: () => void;
  /** Set by main.ts: the call's phase changed. */
  onPhase?: (phase: CallPhase) => void;
  /** Set by main.ts: the page switched between before Join (false) and a call (true). */
  onInRoom?: (inRoom: boolean) => void;
  /** Set by main.ts: our media state changed. */
  onLocalMediaState?: (state: LocalMediaState) => void;
  /** Every status text shown so far, oldest first, in the language of the moment (bounded; for debugging and tests). */
  readonly statusLog: string[] = [];

  constructor(readonly el: Elements) {}

  status(text: Msg, kind: StatusKind = 'info'): void {
    const rendered = render(text);
    if (this.statusLog.at(-1) !== rendered) this.statusLog.push(rendered);
    if (this.statusLog.length > 200) this.statusLog.shift();
    setText(this.el.status, text);
    this.el.status.dataset.kind = kind;
  }

  warning(text: Msg | readonly Msg[] | null): void {
    const list = text === null ? [] : Array.isArray(text) ? (text as readonly Msg[]) : [text as Msg];
    setItems(this.el.warning, list);
  }

  phaseChanged(phase: CallPhase): void {
    this.el.app.toggleAttribute('data-waiting', phase === 'waiting');
    this.onPhase?.(phase);
  }

  localVideo(stream: MediaStream | null): void {
    if (this.el.localVideo.srcObject === stream) return;
    this.el.localVideo.srcObject = stream;
    if (stream) void this.el.localVideo.play().catch(() => undefined);
  }

  remoteVideo(stream: MediaStream | null): void {
    if (this.el.remoteVideo.srcObject === stream) return;
    this.el.remoteVideo.srcObject = stream;
    if (stream) void this.el.remoteVideo.play().catch(() => undefined);
  }

  inRoom(inRoom: boolean): void {
    const e = this.el;
    e.app.dataset.phase = inRoom ? 'call' : 'lobby';
    document.body.dataset.phase = e.app.dataset.phase;
    e.join.disabled = inRoom;
    e.leave.disabled = !inRoom;
    e.room.disabled = inRoom;
    e.passcode.disabled = inRoom;
    e.shareDesktop.disabled = inRoom;
    e.controls.hidden = !inRoom;
    // The device pickers belong to the pre-join check before Join, and head the call's settings
    // (#extras: on a phone the sheet the bar's "More" button opens) in a call.
    if (inRoom) e.extras.prepend(e.devices);
    else e.preview.append(e.devices);
    delete e.extras.dataset.open;
    // Before Join on a phone the pickers start folded, so Join stays near the preview.
    e.devices.open = !inRoom && !matchMedia(PHONE_QUERY).matches;
    setToggle(e.devicesToggle, false, 'call.more', 'call.more');
    if (!inRoom) {
      e.statsPanel.hidden = true;
      setToggle(e.stats, false, 'call.hideStats', 'call.stats');
      this.remoteVideo(null);
      this.chatState(false);
    }
    this.onInRoom?.(inRoom);
  }

  remoteMediaState(state: LocalMediaState | null): void {
    setItems(this.el.remoteState, state ? describeMediaState(state) : []);
    // A shared screen is shown whole, never cropped to fill the screen.
    this.el.remoteVideo.parentElement?.classList.toggle('screen', state?.screen === true);
  }

  localMediaState(state: LocalMediaState): void {
    const e = this.el;
    setToggle(e.mute, state.audioMuted, 'call.unmute', 'call.mute');
    setToggle(e.camera, state.videoOff, 'call.cameraOn', 'call.cameraOff');
    setToggle(e.screen, state.screen, 'call.stopSharing', 'call.shareScreen');
    setItems(e.localState, describeMediaState(state));
    e.localVideo.parentElement?.classList.toggle('screen', state.screen);
    this.onLocalMediaState?.(state);
  }

  chatState(open: boolean): void {
    this.el.chatInput.disabled = !open;
    this.el.chatSend.disabled = !open;
    setAttr(this.el.chatInput, 'placeholder', open ? msg('chat.message') : msg('chat.notYet'));
  }

  chatMessage(from: 'me' | 'them', text: string, sentAt: number): void {
    const li = document.createElement('li');
    li.className = from;
    const time = document.createElement('time');
    const when = new Date(sentAt);
    time.dateTime = when.toISOString();
    time.textContent = when.toLocaleTimeString(language(), { hour: '2-digit', minute: '2-digit' });
    const line = document.createElement('span');
    setText(line, from === 'me' ? msg('chat.fromMe', { text }) : msg('chat.fromThem', { text }));
    li.append(time, line);
    this.el.chatLog.append(li);
    while (this.el.chatLog.children.length > 500) this.el.chatLog.firstElementChild?.remove();
    li.scrollIntoView({ block: 'nearest' });
    if (from === 'them' && this.el.chat.hidden) {
      this.el.chat.hidden = false;
      setToggle(this.el.chatToggle, true, 'call.hideChat', 'call.chat');
    }
  }
}
