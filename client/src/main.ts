/**
 * Entry point of the call page: picks the language, reads the URL (`?room=`, `?relay=1`, the
 * passcode in the fragment `#pass=`), opens
 * the camera and microphone for the pre-join check, and wires the join form, the invitation
 * (link, QR code), the in-call controls, device pickers, stats panel, chat, picture-in-picture and
 * full screen to the {@link Call}.
 * Exposes `window.__call` for debugging and the browser tests.
 */
import './cspSafe.js'; // first: before any zod schema is built
import './style.css';
import './layout.css';
import { Call } from './call.js';
import { startCallExtras } from './callExtras.js';
import { CallControls } from './callControls.js';
import { byId, CallPage, findElements } from './callPage.js';
import { DevicePickers } from './devicePickers.js';
import { setText, startPageLanguage } from './i18n/dom.js';
import { msg, onLanguageChange, type Msg } from './i18n/index.js';
import { PHONE_QUERY } from './layout.js';
import { LocalMedia } from './localMedia.js';
import { canShareScreen } from './mediaDevices.js';
import { PreJoin } from './prejoin.js';
import { rememberedRoom, roomProblem } from './room.js';
import { SharePanel } from './sharePanel.js';
import { passcodeFromHash, withPasscode } from './shareLink.js';
import { StatsPanel } from './statsPanel.js';
import { VideoTools } from './videoTools.js';

startPageLanguage(byId<HTMLSelectElement>('lang'));
const el = findElements();
const page = new CallPage(el);
const media = new LocalMedia();
const call = new Call(page, media);
const params = new URLSearchParams(location.search);
const relayOnly = params.get('relay') === '1' || params.get('relay') === 'true';
const extras = startCallExtras(call, media, (text) => page.warning(text));
const stats = new StatsPanel(el.statsTable, el.bitrateGraph, () => call.peer?.pc ?? null);
const controls = new CallControls(el, page, call, stats);
const prejoin = new PreJoin(el, media);
const pickers = new DevicePickers(el, media, (text) => page.warning(text));
const videoTools = new VideoTools(el.remoteVideo, el.pip, el.fullscreen, (text) => page.warning(text));

// ------------------------------------------------------------------ join form and invitation

if (!canShareScreen()) el.shareDesktopLabel.hidden = true;
el.room.value = params.get('room') ?? '';
el.passcode.value = passcodeFromHash(location.hash);
if (relayOnly) page.warning(msg('call.relayOnly'));

function showRoomProblem(problem: Msg | undefined): void {
  setText(el.roomError, problem ?? null);
  el.roomError.hidden = !problem;
  el.room.setAttribute('aria-invalid', String(!!problem));
}

/**
 * Put `room` into the address bar (so a reload or a copied address keeps it); a passcode the page
 * was opened with (`#pass=`) follows the field, a typed one is not added to the address bar.
 */
function showRoomInUrl(room: string, passcode?: string): void {
  const url = new URL(location.href);
  url.searchParams.set('room', room);
  if (passcode !== undefined && passcodeFromHash(url.hash) !== '') url.hash = withPasscode(url.hash, passcode);
  history.replaceState(null, '', url);
}

const share = new SharePanel(el, (room) => {
  showRoomProblem(undefined);
  showRoomInUrl(room);
});

el.room.addEventListener('input', () => {
  const v = el.room.value.trim();
  showRoomProblem(v === '' ? undefined : roomProblem(v));
});

function join(room: string, shareDesktop: boolean, passcode = el.passcode.value.trim()): void {
  showRoomInUrl(room, passcode);
  void call.join({ room, shareDesktop, relayOnly, passcode });
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

// ------------------------------------------------------------------ what follows the call

page.devicesChanged = () => {
  void pickers.refresh();
  prejoin.tracksChanged();
};
page.onLocalMediaState = (state) => prejoin.stateChanged(state);
page.onInRoom = (inCall) => {
  prejoin.setActive(!inCall);
  share.update({ inCall, waiting: inCall && call.status.phase === 'waiting' });
  videoTools.refresh();
};
page.onPhase = (phase) => share.update({ inCall: call.inRoom, waiting: phase === 'waiting' });

// On a phone the call's features are a closed sheet: a file the other person offers opens it, so
// the offer is seen and can be accepted.
new MutationObserver((records) => {
  const offered = records.some((r) => [...r.addedNodes].some((n) => n instanceof HTMLElement && n.dataset.direction === 'receive'));
  if (offered && call.inRoom && matchMedia(PHONE_QUERY).matches && !el.devices.open) controls.toggleDevices(true);
}).observe(byId('transfers'), { childList: true });

// Texts drawn by scripts outside data-i18n follow a language switch.
onLanguageChange(() => {
  if (!el.statsPanel.hidden) void stats.refresh();
});

// ------------------------------------------------------------------ start

share.update({ inCall: false, waiting: false });
el.devices.open = !matchMedia(PHONE_QUERY).matches;
void pickers.refresh();

// A reload of this tab while in a call takes the seat back (session token in sessionStorage). Only
// for a reload (or back/forward) of the same room's URL: opening another room does not rejoin.
// Connect to the server and fetch the ICE servers while the person checks their camera: Join
// then sends `join` at once.
call.prepare();
const previous = rememberedRoom();
const navigation = performance.getEntriesByType?.('navigation')[0] as PerformanceNavigationTiming | undefined;
const reloaded = navigation?.type === 'reload' || navigation?.type === 'back_forward';
if (previous && reloaded && previous.room === params.get('room') && previous.relayOnly === relayOnly) {
  el.room.value = previous.room;
  // The seat comes back with the session token; the passcode is sent too in case the room must
  // be opened again (after a server restart).
  const passcode = el.passcode.value.trim() || (previous.passcode ?? '');
  el.passcode.value = passcode;
  join(previous.room, false, passcode);
} else {
  // The pre-join check: camera preview and microphone level before Join, with the same tracks the call sends.
  void prejoin.open();
}

/** Debug/test handle: `window.__call.call` is the call, `.media` its local media, `.stats` the panel, `.extras` the features of callExtras.ts. */
(window as unknown as { __call: unknown }).__call = { call, media, page, stats, prejoin, share, controls, extras };
