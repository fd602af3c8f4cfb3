/**
 * Entry point of the call page: reads the URL (`?room=`, `?relay=1`), wires the form, the in-call
 * buttons, keyboard shortcuts, device pickers, stats panel and chat to the {@link Call}.
 * Exposes `window.__call` for debugging and the browser tests.
 */
import './cspSafe.js'; // first: before any zod schema is built
import './style.css';
import { Call } from './call.js';
import { startCallExtras } from './callExtras.js';
import { byId, CallPage, findElements, setToggle } from './callPage.js';
import { setText, startPageLanguage } from './i18n/dom.js';
import { msg, onLanguageChange, type Key, type Msg } from './i18n/index.js';
import { LocalMedia } from './localMedia.js';
import { canShareScreen, listDevices } from './mediaDevices.js';
import { rememberedRoom, roomProblem } from './room.js';
import { StatsPanel } from './statsPanel.js';

startPageLanguage(byId<HTMLSelectElement>('lang'));
const el = findElements();
const page = new CallPage(el);
const media = new LocalMedia();
const call = new Call(page, media);
const params = new URLSearchParams(location.search);
const relayOnly = params.get('relay') === '1' || params.get('relay') === 'true';
const extras = startCallExtras(call, media, (text) => page.warning(text));
const stats = new StatsPanel(el.statsTable, el.bitrateGraph, () => call.peer?.pc ?? null);

// ------------------------------------------------------------------ join form

if (!canShareScreen()) el.shareDesktopLabel.hidden = true;
const canChooseSpeaker = typeof (HTMLMediaElement.prototype as { setSinkId?: unknown }).setSinkId === 'function';
if (!canChooseSpeaker) el.speakerLabel.hidden = true;
el.room.value = params.get('room') ?? '';
if (relayOnly) page.warning(msg('call.relayOnly'));

function showRoomProblem(problem: Msg | undefined): void {
  setText(el.roomError, problem ?? null);
  el.roomError.hidden = !problem;
  el.room.setAttribute('aria-invalid', String(!!problem));
}

el.room.addEventListener('input', () => {
  const v = el.room.value.trim();
  showRoomProblem(v === '' ? undefined : roomProblem(v));
});

function join(room: string, shareDesktop: boolean): void {
  const url = new URL(location.href);
  url.searchParams.set('room', room);
  history.replaceState(null, '', url);
  void call.join({ room, shareDesktop, relayOnly });
}

el.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const room = el.room.value.trim();
  const problem = roomProblem(room);
  showRoomProblem(problem);
  if (problem) {
    page.status(problem, 'error');
    el.room.focus();
    return;
  }
  join(room, el.shareDesktop.checked && canShareScreen());
});

el.leave.addEventListener('click', () => call.leave());

// ------------------------------------------------------------------ in-call controls

function toggleStats(show: boolean = el.statsPanel.hidden === true): void {
  el.statsPanel.hidden = !show;
  setToggle(el.stats, show, 'call.hideStats', 'call.stats');
  if (show) stats.start();
  else stats.stop();
}

function toggleChat(show: boolean = el.chat.hidden === true): void {
  el.chat.hidden = !show;
  setToggle(el.chatToggle, show, 'call.hideChat', 'call.chat');
  if (show && !el.chatInput.disabled) el.chatInput.focus();
}

async function toggleScreen(): Promise<void> {
  el.screen.disabled = true;
  const err = await call.setScreenSharing(!call.mediaState.screen);
  el.screen.disabled = false;
  if (err) page.warning(err);
}

el.mute.addEventListener('click', () => call.setMuted(!call.mediaState.audioMuted));
el.camera.addEventListener('click', () => call.setVideoOff(!call.mediaState.videoOff));
el.screen.addEventListener('click', () => void toggleScreen());
el.stats.addEventListener('click', () => toggleStats());
el.chatToggle.addEventListener('click', () => toggleChat());
el.hangup.addEventListener('click', () => call.leave(msg('status.hungUp')));
if (!canShareScreen()) el.screen.hidden = true;

document.addEventListener('keydown', (ev) => {
  if (!call.inRoom || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
  const target = ev.target as HTMLElement | null;
  if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
  const actions: Record<string, () => void> = {
    m: () => call.setMuted(!call.mediaState.audioMuted),
    v: () => call.setVideoOff(!call.mediaState.videoOff),
    s: () => void toggleScreen(),
    i: () => toggleStats(),
    c: () => toggleChat(),
    h: () => call.leave(msg('status.hungUp')),
  };
  const action = actions[ev.key.toLowerCase()];
  if (action) {
    ev.preventDefault();
    action();
  }
});

// ------------------------------------------------------------------ devices

function fillSelect(select: HTMLSelectElement, devices: MediaDeviceInfo[], current: string | undefined, unnamed: Key & `devices.unnamed${string}`): void {
  const options = devices.map((d, i) => {
    const o = document.createElement('option');
    o.value = d.deviceId;
    if (d.label) o.textContent = d.label;
    else setText(o, { key: unnamed, vars: { n: i + 1 } });
    return o;
  });
  select.replaceChildren(...options);
  if (current && devices.some((d) => d.deviceId === current)) select.value = current;
  select.disabled = devices.length <= 1;
}

async function refreshDevices(): Promise<void> {
  try {
    const { microphones, cameras, speakers } = await listDevices();
    const micId = media.audioTrack?.getSettings().deviceId ?? media.audioDeviceId;
    const camId = media.cameraTrack?.getSettings().deviceId ?? media.videoDeviceId;
    fillSelect(el.micSelect, microphones, micId, 'devices.unnamedMicrophone');
    fillSelect(el.cameraSelect, cameras, camId, 'devices.unnamedCamera');
    fillSelect(el.speakerSelect, speakers, undefined, 'devices.unnamedSpeaker');
    // Firefox has setSinkId but may list no outputs (none until selectAudioOutput()): no empty picker.
    el.speakerLabel.hidden = !canChooseSpeaker || speakers.length === 0;
  } catch {
    /* enumerateDevices unavailable */
  }
}

page.devicesChanged = () => void refreshDevices();
navigator.mediaDevices?.addEventListener?.('devicechange', () => void refreshDevices());
el.micSelect.addEventListener('change', async () => {
  const err = await media.selectMicrophone(el.micSelect.value);
  if (err) page.warning(err);
});
el.cameraSelect.addEventListener('change', async () => {
  const err = await media.selectCamera(el.cameraSelect.value);
  if (err) page.warning(err);
});
el.speakerSelect.addEventListener('change', async () => {
  const video = el.remoteVideo as HTMLVideoElement & { setSinkId?: (id: string) => Promise<void> };
  try {
    await video.setSinkId?.(el.speakerSelect.value);
  } catch (err) {
    page.warning(msg('devices.speakerFailed', { detail: err instanceof Error ? err.message : String(err) }));
  }
});

// ------------------------------------------------------------------ chat

el.chatForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = el.chatInput.value.trim();
  if (!text) return;
  if (call.sendChat(text)) el.chatInput.value = '';
  else page.warning(msg('chat.notConnected'));
});

// ------------------------------------------------------------------ start

// Texts drawn by scripts outside data-i18n follow a language switch.
onLanguageChange(() => {
  if (!el.statsPanel.hidden) void stats.refresh();
});

// A reload of this tab while in a call takes the seat back (session token in sessionStorage). Only
// for a reload (or back/forward) of the same room's URL: opening another room does not rejoin.
const previous = rememberedRoom();
const navigation = performance.getEntriesByType?.('navigation')[0] as PerformanceNavigationTiming | undefined;
const reloaded = navigation?.type === 'reload' || navigation?.type === 'back_forward';
if (previous && reloaded && previous.room === params.get('room') && previous.relayOnly === relayOnly) {
  el.room.value = previous.room;
  join(previous.room, false);
}

/** Debug/test handle: `window.__call.call` is the call, `.media` its local media, `.stats` the panel, `.extras` the features of callExtras.ts. */
(window as unknown as { __call: unknown }).__call = { call, media, page, stats, extras };
