/**
 * The call page's DOM: element lookup, the status line, videos, in-call buttons and chat log.
 * Implements {@link CallView} for the call; no call logic here.
 */
import type { CallView, StatusKind } from './callView.js';
import type { LocalMediaState } from './localMedia.js';

/** Look up an element by id. @throws Error when the page lacks it (a build/markup mistake). */
export function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return el as T;
}

/** Every element the page scripts use (ids documented at the top of index.html). */
export interface Elements {
  joinForm: HTMLFormElement;
  room: HTMLInputElement;
  roomError: HTMLElement;
  shareDesktop: HTMLInputElement;
  shareDesktopLabel: HTMLElement;
  join: HTMLButtonElement;
  leave: HTMLButtonElement;
  status: HTMLElement;
  warning: HTMLElement;
  localVideo: HTMLVideoElement;
  remoteVideo: HTMLVideoElement;
  localState: HTMLElement;
  remoteState: HTMLElement;
  controls: HTMLElement;
  mute: HTMLButtonElement;
  camera: HTMLButtonElement;
  screen: HTMLButtonElement;
  stats: HTMLButtonElement;
  chatToggle: HTMLButtonElement;
  hangup: HTMLButtonElement;
  devices: HTMLDetailsElement;
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

/** Collect {@link Elements}. @throws Error naming the first missing id. */
export function findElements(): Elements {
  const ids: (keyof Elements)[] = [
    'joinForm', 'room', 'roomError', 'shareDesktop', 'shareDesktopLabel', 'join', 'leave', 'status', 'warning',
    'localVideo', 'remoteVideo', 'localState', 'remoteState', 'controls', 'mute', 'camera', 'screen', 'stats',
    'chatToggle', 'hangup', 'devices', 'micSelect', 'cameraSelect', 'speakerSelect', 'speakerLabel', 'statsPanel',
    'statsTable', 'bitrateGraph', 'chat', 'chatLog', 'chatForm', 'chatInput', 'chatSend',
  ];
  const out: Partial<Record<keyof Elements, HTMLElement>> = {};
  for (const id of ids) out[id] = byId(id);
  return out as Elements;
}

/** Describe a media state for a badge: "Muted · Camera off · Sharing screen", or "" when none applies. */
export function describeMediaState(s: LocalMediaState): string {
  const parts: string[] = [];
  if (s.audioMuted) parts.push('Muted');
  if (s.videoOff) parts.push('Camera off');
  if (s.screen) parts.push('Sharing screen');
  return parts.join(' · ');
}

/** Set a toggle button's on/off state: `aria-pressed` and its label. */
export function setToggle(button: HTMLButtonElement, pressed: boolean, labelOn: string, labelOff: string): void {
  button.setAttribute('aria-pressed', String(pressed));
  button.textContent = pressed ? labelOn : labelOff;
}

/** The page as seen by the call. */
export class CallPage implements CallView {
  /** Set by main.ts: refresh the device pickers. */
  devicesChanged?: () => void;
  /** Every status text shown so far, oldest first (bounded; for debugging and tests). */
  readonly statusLog: string[] = [];

  constructor(readonly el: Elements) {}

  status(text: string, kind: StatusKind = 'info'): void {
    if (this.statusLog.at(-1) !== text) this.statusLog.push(text);
    if (this.statusLog.length > 200) this.statusLog.shift();
    this.el.status.textContent = text;
    this.el.status.dataset.kind = kind;
  }

  warning(text: string | null): void {
    this.el.warning.textContent = text ?? '';
    this.el.warning.hidden = !text;
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
    e.join.disabled = inRoom;
    e.leave.disabled = !inRoom;
    e.room.disabled = inRoom;
    e.shareDesktop.disabled = inRoom;
    e.controls.hidden = !inRoom;
    e.devices.hidden = !inRoom;
    if (!inRoom) {
      e.statsPanel.hidden = true;
      setToggle(e.stats, false, 'Hide stats', 'Stats');
      this.remoteVideo(null);
      this.chatState(false);
    }
  }

  remoteMediaState(state: LocalMediaState | null): void {
    const text = state ? describeMediaState(state) : '';
    this.el.remoteState.textContent = text;
    this.el.remoteState.hidden = text === '';
  }

  localMediaState(state: LocalMediaState): void {
    const e = this.el;
    setToggle(e.mute, state.audioMuted, 'Unmute', 'Mute');
    setToggle(e.camera, state.videoOff, 'Camera on', 'Camera off');
    setToggle(e.screen, state.screen, 'Stop sharing', 'Share screen');
    const text = describeMediaState(state);
    e.localState.textContent = text;
    e.localState.hidden = text === '';
    e.localVideo.parentElement?.classList.toggle('screen', state.screen);
  }

  chatState(open: boolean): void {
    this.el.chatInput.disabled = !open;
    this.el.chatSend.disabled = !open;
    this.el.chatInput.placeholder = open ? 'Message' : 'Chat starts when the call is connected';
  }

  chatMessage(from: 'me' | 'them', text: string, sentAt: number): void {
    const li = document.createElement('li');
    li.className = from;
    const time = document.createElement('time');
    const when = new Date(sentAt);
    time.dateTime = when.toISOString();
    time.textContent = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const who = from === 'me' ? 'You' : 'Them';
    li.append(time, document.createTextNode(`${who}: ${text}`));
    this.el.chatLog.append(li);
    while (this.el.chatLog.children.length > 500) this.el.chatLog.firstElementChild?.remove();
    li.scrollIntoView({ block: 'nearest' });
    if (from === 'them' && this.el.chat.hidden) {
      this.el.chat.hidden = false;
      setToggle(this.el.chatToggle, true, 'Hide chat', 'Chat');
    }
  }
}
