/**
 * The in-call controls: the bar's buttons (mute, camera, screen, stats, chat, devices, hang up),
 * their keyboard shortcuts, the panels they open and the chat form. On a phone-sized screen the
 * panels are sheets over the video, so opening one closes the others.
 */
import type { Call } from './call.js';
import { setToggle, type CallPage, type Elements } from './callPage.js';
import { msg } from './i18n/index.js';
import { PHONE_QUERY } from './layout.js';
import { canShareScreen } from './mediaDevices.js';
import type { StatsPanel } from './statsPanel.js';


type Panel = 'stats' | 'chat' | 'devices';

/** See the module comment. */
export class CallControls {
  constructor(
    private readonly el: Elements,
    private readonly page: CallPage,
    private readonly call: Call,
    private readonly stats: StatsPanel,
  ) {
    el.mute.addEventListener('click', () => call.setMuted(!call.mediaState.audioMuted));
    el.camera.addEventListener('click', () => call.setVideoOff(!call.mediaState.videoOff));
    el.screen.addEventListener('click', () => void this.toggleScreen());
    el.stats.addEventListener('click', () => this.toggleStats());
    el.chatToggle.addEventListener('click', () => this.toggleChat());
    el.devicesToggle.addEventListener('click', () => this.toggleDevices());
    el.devices.addEventListener('toggle', () => {
      if (call.inRoom) setToggle(el.devicesToggle, el.devices.open, 'call.more', 'call.more');
    });
    el.hangup.addEventListener('click', () => call.leave(msg('status.hungUp')));
    if (!canShareScreen()) el.screen.hidden = true;
    document.addEventListener('keydown', (ev) => this.shortcut(ev));
    el.chatForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const text = el.chatInput.value.trim();
      if (!text) return;
      if (call.sendChat(text)) el.chatInput.value = '';
      else page.warning(msg('chat.notConnected'));
    });
  }

  /** Show or hide the stats panel (default: the opposite of now). */
  toggleStats(show: boolean = this.el.statsPanel.hidden === true): void {
    if (show) this.closeOthers('stats');
    this.el.statsPanel.hidden = !show;
    setToggle(this.el.stats, show, 'call.hideStats', 'call.stats');
    if (show) this.stats.start();
    else this.stats.stop();
  }

  /** Show or hide the chat (default: the opposite of now). */
  toggleChat(show: boolean = this.el.chat.hidden === true): void {
    if (show) this.closeOthers('chat');
    this.el.chat.hidden = !show;
    setToggle(this.el.chatToggle, show, 'call.hideChat', 'call.chat');
    if (show && !this.el.chatInput.disabled) this.el.chatInput.focus();
  }

  /**
   * Open or close the device pickers (default: the opposite of now). On a phone they open as one
   * sheet with the call's features (#extras: safety number, files, recording, quality).
   */
  toggleDevices(show: boolean = !this.el.devices.open): void {
    if (show) this.closeOthers('devices');
    this.el.devices.open = show;
    if (show) this.el.extras.dataset.open = '';
    else delete this.el.extras.dataset.open;
    setToggle(this.el.devicesToggle, show, 'call.more', 'call.more');
  }

  private closeOthers(keep: Panel): void {
    if (!matchMedia(PHONE_QUERY).matches) return;
    if (keep !== 'stats' && !this.el.statsPanel.hidden) this.toggleStats(false);
    if (keep !== 'chat' && !this.el.chat.hidden) this.toggleChat(false);
    if (keep !== 'devices' && this.el.devices.open) this.toggleDevices(false);
  }

  private async toggleScreen(): Promise<void> {
    this.el.screen.disabled = true;
    const err = await this.call.setScreenSharing(!this.call.mediaState.screen);
    this.el.screen.disabled = false;
    if (err) this.page.warning(err);
  }

  private shortcut(ev: KeyboardEvent): void {
    const call = this.call;
    if (!call.inRoom || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const target = ev.target as HTMLElement | null;
    if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
    const actions: Record<string, () => void> = {
      m: () => call.setMuted(!call.mediaState.audioMuted),
      v: () => call.setVideoOff(!call.mediaState.videoOff),
      s: () => void this.toggleScreen(),
      i: () => this.toggleStats(),
      c: () => this.toggleChat(),
      h: () => call.leave(msg('status.hungUp')),
    };
    const action = actions[ev.key.toLowerCase()];
    if (action) {
      ev.preventDefault();
      action();
    }
  }
}
