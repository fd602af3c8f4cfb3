/**
 * The stats panel (like AppRTC's info box): the table of {@link statsRows} and a small bitrate
 * graph, refreshed every second from `RTCPeerConnection.getStats()` while it is shown.
 */
import { t } from './i18n/index.js';
import { statsRows, summarizeStats, type StatsSample, type StatsSummary } from './statsSummary.js';

/** The panel: call {@link StatsPanel.start} when shown and {@link StatsPanel.stop} when hidden. */
export class StatsPanel {
  private timer: ReturnType<typeof setInterval> | undefined;
  private prev: StatsSample | undefined;
  private prevPc: RTCPeerConnection | undefined;
  private history: { in: number; out: number }[] = [];
  /** Latest summary (for tests and debugging). */
  last: StatsSummary | undefined;

  /**
   * @param table   `<table>` whose body is rewritten each second.
   * @param canvas  bitrate graph (last 60 s, in and out).
   * @param getPc   the current peer connection, or null when not in a call.
   */
  constructor(
    private readonly table: HTMLTableElement,
    private readonly canvas: HTMLCanvasElement,
    private readonly getPc: () => RTCPeerConnection | null,
    private readonly intervalMs = 1000,
  ) {}

  /** Start refreshing (every `intervalMs`, default 1 000 ms). */
  start(): void {
    if (this.timer) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.intervalMs);
  }

  /** Stop refreshing. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Read stats once and redraw. Never throws. */
  async refresh(): Promise<void> {
    const pc = this.getPc();
    if (!pc || pc.connectionState === 'closed') {
      this.render(null);
      return;
    }
    if (pc !== this.prevPc) {
      this.prev = undefined;
      this.history = [];
      this.prevPc = pc;
    }
    try {
      const report = await pc.getStats();
      const { summary, sample } = summarizeStats(report, this.prev);
      this.prev = sample;
      this.last = summary;
      if (summary.kbpsIn !== null || summary.kbpsOut !== null) {
        this.history.push({ in: summary.kbpsIn ?? 0, out: summary.kbpsOut ?? 0 });
        if (this.history.length > 60) this.history.shift();
      }
      this.render(summary);
    } catch {
      /* pc closed meanwhile */
    }
  }

  private render(s: StatsSummary | null): void {
    const body = this.table.tBodies[0] ?? this.table.createTBody();
    const rows = s ? statsRows(s) : [[t('stats.connection'), t('stats.notConnected')] as [string, string]];
    body.replaceChildren(
      ...rows.map(([k, v]) => {
        const tr = document.createElement('tr');
        const th = document.createElement('th');
        th.scope = 'row';
        th.textContent = k;
        const td = document.createElement('td');
        td.textContent = v;
        tr.append(th, td);
        return tr;
      }),
    );
    this.drawGraph();
  }

  private drawGraph(): void {
    const c = this.canvas;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    const w = c.width;
    const h = c.height;
    ctx.clearRect(0, 0, w, h);
    const style = getComputedStyle(c);
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = style.color || '#888';
    const max = Math.max(100, ...this.history.map((p) => Math.max(p.in, p.out)));
    ctx.fillText(t('stats.kbps', { value: Math.round(max) }), 4, 12);
    ctx.fillText(t('stats.graphIn'), w - 44, 12);
    ctx.fillText(t('stats.graphOut'), w - 22, 12);
    const line = (key: 'in' | 'out', color: string) => {
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      this.history.forEach((p, i) => {
        const x = (i / 59) * (w - 4) + 2;
        const y = h - 2 - (p[key] / max) * (h - 18);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.stroke();
    };
    line('in', '#2f81f7');
    line('out', '#3fb950');
    ctx.fillStyle = '#2f81f7';
    ctx.fillRect(w - 52, 5, 6, 6);
    ctx.fillStyle = '#3fb950';
    ctx.fillRect(w - 30, 5, 6, 6);
  }
}
