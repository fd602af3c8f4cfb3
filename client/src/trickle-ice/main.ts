/**
 * The trickle-ICE test page (`/trickle-ice.html`): wires the DOM (stable ids listed at the top
 * of trickle-ice.html) to the gathering, verdict, relay-test and export modules. No inline
 * scripts or style attributes (the server's Content-Security-Policy forbids them).
 */
import './trickle-ice.css';
import { fetchFailureReason, httpIceServersSource } from '../iceServers.js';
import type { CandidateErrorRow, CandidateRow } from './candidates.js';
import { startGathering, type EntryProgress, type GatherRun } from './gather.js';
import { parseIceUrl, splitUrls, tryParseIceUrl, validateServerEntry } from './iceUrl.js';
import { runRelayTest, type RelayTestResult } from './relayTest.js';
import { buildReport, reportFileName } from './report.js';
import {
  DEFAULT_OPTIONS,
  deploymentEntries,
  entryLabel,
  loadState,
  mergeWithDefaults,
  normalizeOptions,
  saveState,
  type Options,
  type ServerEntry,
} from './store.js';
import { computeVerdicts, type Verdict } from './verdict.js';

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`trickle-ice.html lacks #${id}`);
  return e as T;
}

const ui = {
  servers: el<HTMLSelectElement>('servers'),
  url: el<HTMLInputElement>('url'),
  username: el<HTMLInputElement>('username'),
  password: el<HTMLInputElement>('password'),
  serverForm: el<HTMLFormElement>('serverForm'),
  add: el<HTMLButtonElement>('add'),
  save: el<HTMLButtonElement>('save'),
  remove: el<HTMLButtonElement>('remove'),
  reset: el<HTMLButtonElement>('reset'),
  formError: el<HTMLElement>('formError'),
  defaultsStatus: el<HTMLElement>('defaultsStatus'),
  policy: el<HTMLSelectElement>('policy'),
  poolSize: el<HTMLInputElement>('poolSize'),
  getUserMedia: el<HTMLInputElement>('getUserMedia'),
  timeout: el<HTMLInputElement>('timeout'),
  gather: el<HTMLButtonElement>('gather'),
  stop: el<HTMLButtonElement>('stop'),
  exportBtn: el<HTMLButtonElement>('export'),
  gatherStatus: el<HTMLElement>('gatherStatus'),
  candidates: el<HTMLTableElement>('candidates'),
  errors: el<HTMLTableElement>('errors'),
  verdicts: el<HTMLTableElement>('verdicts'),
  relayUrl: el<HTMLSelectElement>('relayUrl'),
  testRelay: el<HTMLButtonElement>('testRelay'),
  relayResult: el<HTMLElement>('relayResult'),
};

let servers: ServerEntry[] = [];
let options: Options = { ...DEFAULT_OPTIONS };

interface GatherState {
  startedAt: number;
  durationMs: number | null;
  entries: EntryProgress[];
  urls: string[][];
  rows: CandidateRow[];
  errors: CandidateErrorRow[];
  verdicts: Verdict[];
  policy: 'all' | 'relay';
  timeoutS: number;
}
let gathering: GatherState | undefined;
let running: GatherRun | undefined;
let relayResult: RelayTestResult | null = null;

// ---------- server list ----------

function persist(): void {
  if (!saveState(localStorage, { servers, options })) ui.defaultsStatus.textContent += ' (could not save to localStorage)';
}

function renderServers(select?: number): void {
  const prev = select ?? ui.servers.selectedIndex;
  ui.servers.replaceChildren(
    ...servers.map((s, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      o.textContent = entryLabel(s);
      o.dataset.origin = s.origin;
      o.dataset.urls = s.urls.join(' ');
      return o;
    }),
  );
  if (servers.length > 0) ui.servers.selectedIndex = Math.min(Math.max(prev, 0), servers.length - 1);
  renderRelayUrls();
}

function renderRelayUrls(): void {
  const prev = ui.relayUrl.value;
  const opts: HTMLOptionElement[] = [];
  servers.forEach((s, i) => {
    for (const u of s.urls) {
      const p = tryParseIceUrl(u);
      if (!p || p.scheme === 'stun') continue;
      const o = document.createElement('option');
      o.value = `${i}|${u}`;
      o.textContent = `#${i + 1} ${u}`;
      opts.push(o);
    }
  });
  ui.relayUrl.replaceChildren(...opts);
  const keep = opts.find((o) => o.value === prev) ?? opts.find((o) => /^turn:.*transport=udp$/i.test(o.value.split('|')[1]!)) ?? opts[0];
  if (keep) ui.relayUrl.value = keep.value;
  ui.testRelay.disabled = opts.length === 0;
}

function formEntry(): { urls: string[]; username?: string; credential?: string } {
  const e: { urls: string[]; username?: string; credential?: string } = { urls: splitUrls(ui.url.value) };
  if (ui.username.value.trim()) e.username = ui.username.value.trim();
  if (ui.password.value) e.credential = ui.password.value;
  return e;
}

function showFormError(problems: string[]): void {
  ui.formError.textContent = problems.join('\n');
  ui.formError.hidden = problems.length === 0;
}

function fillForm(): void {
  const s = servers[ui.servers.selectedIndex];
  if (!s) return;
  ui.url.value = s.urls.join(' ');
  ui.username.value = s.username ?? '';
  ui.password.value = s.credential ?? '';
  showFormError([]);
}

/** This deployment's servers (`GET /api/ice-servers`). @throws Error saying why they could not be fetched. */
async function fetchDefaults(): Promise<{ entries: ServerEntry[]; ttl: number | null }> {
  const { iceServers, ttl } = await httpIceServersSource().get();
  return { entries: deploymentEntries(iceServers), ttl: ttl || null };
}

function describeDefaults(entries: ServerEntry[], ttl: number | null): string {
  if (entries.length === 0) return "This deployment offers no STUN/TURN servers (the relay is disabled); add servers below.";
  const valid = ttl ? `; TURN credentials valid for ${ttl >= 7200 ? `${Math.round(ttl / 3600)} h` : `${Math.round(ttl / 60)} min`}` : '';
  return `Loaded this deployment's servers from /api/ice-servers${valid}.`;
}

async function loadDefaults(saved: ServerEntry[] | undefined): Promise<void> {
  ui.defaultsStatus.dataset.state = 'loading';
  ui.defaultsStatus.textContent = "Loading this deployment's servers…";
  try {
    const { entries, ttl } = await fetchDefaults();
    servers = mergeWithDefaults(saved, entries);
    ui.defaultsStatus.textContent = describeDefaults(entries, ttl);
    ui.defaultsStatus.dataset.state = 'loaded';
  } catch (err) {
    servers = mergeWithDefaults(saved, undefined);
    ui.defaultsStatus.textContent = `Could not load this deployment's servers from /api/ice-servers (${fetchFailureReason(err)}); ${saved ? 'showing the saved list (deployment credentials may have expired)' : 'add servers below'}.`;
    ui.defaultsStatus.dataset.state = 'error';
  }
  renderServers(0);
  fillForm();
  persist();
}

ui.servers.addEventListener('change', fillForm);

// #add is the form's submit button: a click or Enter in a field adds the entry.
ui.serverForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const e = formEntry();
  const problems = validateServerEntry(e);
  showFormError(problems);
  if (problems.length > 0) return;
  servers.push({ ...e, origin: 'user' });
  renderServers(servers.length - 1);
  persist();
});

ui.save.addEventListener('click', () => {
  const i = ui.servers.selectedIndex;
  if (i < 0 || !servers[i]) return showFormError(['select a server in the list to change it']);
  const e = formEntry();
  const problems = validateServerEntry(e);
  showFormError(problems);
  if (problems.length > 0) return;
  servers[i] = { ...e, origin: 'user' };
  renderServers(i);
  persist();
});

ui.remove.addEventListener('click', () => {
  const i = ui.servers.selectedIndex;
  if (i < 0 || !servers[i]) return showFormError(['select a server in the list to remove it']);
  servers.splice(i, 1);
  renderServers(Math.min(i, servers.length - 1));
  fillForm();
  persist();
});

ui.reset.addEventListener('click', () => {
  void loadDefaults(undefined);
});

// Live URL check while typing: the first problem only, and only once something was typed.
ui.url.addEventListener('input', () => {
  const bad = splitUrls(ui.url.value)
    .map((u) => {
      try {
        parseIceUrl(u);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    })
    .filter((m): m is string => !!m);
  showFormError(bad.slice(0, 1));
});

// ---------- options ----------

function readOptions(): Options {
  return normalizeOptions({
    policy: ui.policy.value,
    poolSize: Number(ui.poolSize.value),
    getUserMedia: ui.getUserMedia.checked,
    timeoutS: Number(ui.timeout.value),
  });
}

function showOptions(): void {
  ui.policy.value = options.policy;
  ui.poolSize.value = String(options.poolSize);
  ui.getUserMedia.checked = options.getUserMedia;
  ui.timeout.value = String(options.timeoutS);
}

for (const input of [ui.policy, ui.poolSize, ui.getUserMedia, ui.timeout]) {
  input.addEventListener('change', () => {
    options = readOptions();
    persist();
  });
}

// ---------- gathering ----------

function cell(tr: HTMLTableRowElement, text: string | number | null, cls?: string): void {
  const td = tr.insertCell();
  td.textContent = text === null ? '' : String(text);
  if (cls) td.className = cls;
}

function tbody(t: HTMLTableElement): HTMLTableSectionElement {
  return t.tBodies[0] ?? t.createTBody();
}

function addCandidateRow(r: CandidateRow): void {
  const tr = tbody(ui.candidates).insertRow();
  tr.dataset.type = r.type;
  tr.dataset.entry = String(r.entry);
  tr.className = `cand-${r.type}`;
  cell(tr, r.elapsedMs, 'num');
  cell(tr, `#${r.entry + 1}`);
  cell(tr, r.component, 'num');
  cell(tr, r.type, 'type');
  cell(tr, r.foundation);
  cell(tr, r.protocol);
  cell(tr, r.address, 'addr');
  cell(tr, r.port, 'num');
  cell(tr, r.priority, 'num');
  cell(tr, r.typePreference, 'num');
  cell(tr, r.localPreference, 'num');
  cell(tr, r.componentPart, 'num');
  cell(tr, r.relatedAddress, 'addr');
  cell(tr, r.relatedPort, 'num');
  cell(tr, r.tcpType);
  cell(tr, r.relayProtocol ? `${r.relayProtocol}${r.relayProtocolSource === 'browser' ? '' : ` (from ${r.relayProtocolSource})`}` : null);
  cell(tr, r.url, 'url');
  tr.title = r.candidate;
}

function addErrorRow(e: CandidateErrorRow): void {
  const tr = tbody(ui.errors).insertRow();
  tr.dataset.code = String(e.errorCode);
  tr.dataset.entry = String(e.entry);
  tr.dataset.url = e.url;
  cell(tr, e.elapsedMs, 'num');
  cell(tr, `#${e.entry + 1}`);
  cell(tr, e.url, 'url');
  cell(tr, e.errorCode, 'num');
  cell(tr, e.errorText);
  cell(tr, e.address, 'addr');
  cell(tr, e.port, 'num');
}

function recomputeVerdicts(final: boolean): void {
  const g = gathering;
  if (!g) return;
  const verdicts: Verdict[] = [];
  g.entries.forEach((p, i) => {
    const v = computeVerdicts({
      entry: i,
      urls: g.urls[i] ?? [],
      rows: g.rows.filter((r) => r.entry === i),
      errors: g.errors.filter((e) => e.entry === i),
      policy: g.policy,
      complete: p.state === 'complete',
      timedOutAfterS: p.state === 'timeout' ? g.timeoutS : undefined,
      refused: p.refused,
    });
    for (const x of v) {
      if (final && x.status === 'pending') verdicts.push({ ...x, status: 'skip', text: 'gathering was stopped before a result' });
      else verdicts.push(x);
    }
  });
  g.verdicts = verdicts;
  const body = tbody(ui.verdicts);
  body.replaceChildren();
  for (const v of verdicts) {
    const tr = body.insertRow();
    tr.dataset.entry = String(v.entry);
    tr.dataset.url = v.url;
    tr.dataset.status = v.status;
    if (v.errorCode !== undefined) tr.dataset.code = String(v.errorCode);
    tr.className = `verdict-${v.status}`;
    cell(tr, `#${v.entry + 1}`);
    cell(tr, v.url, 'url');
    cell(tr, v.status.toUpperCase(), 'status');
    cell(tr, v.text);
  }
}

function setGatherStatus(state: 'idle' | 'running' | 'done', text: string): void {
  ui.gatherStatus.dataset.state = state;
  ui.gatherStatus.textContent = text;
}

ui.gather.addEventListener('click', () => {
  if (running) return;
  options = readOptions();
  persist();
  const entries = servers.map((s) => ({ urls: [...s.urls], username: s.username, credential: s.credential }));
  tbody(ui.candidates).replaceChildren();
  tbody(ui.errors).replaceChildren();
  tbody(ui.verdicts).replaceChildren();
  const list = entries.length > 0 ? entries : [{ urls: [] as string[] }];
  gathering = {
    startedAt: Date.now(),
    durationMs: null,
    entries: list.map((_, i) => ({ entry: i, state: 'gathering' })),
    urls: list.map((e) => e.urls),
    rows: [],
    errors: [],
    verdicts: [],
    policy: options.policy,
    timeoutS: options.timeoutS,
  };
  const g = gathering;
  ui.gather.disabled = true;
  ui.stop.disabled = false;
  setGatherStatus(
    'running',
    `Gathering with ${entries.length === 0 ? 'no ICE servers (host candidates only)' : `${entries.length} server entr${entries.length === 1 ? 'y' : 'ies'}, one peer connection each`}, policy "${options.policy}"…`,
  );
  const run = startGathering(entries, options, {
    onCandidate: (r) => {
      g.rows.push(r);
      addCandidateRow(r);
    },
    onError: (e) => {
      g.errors.push(e);
      addErrorRow(e);
      recomputeVerdicts(false);
    },
    onProgress: (p) => {
      g.entries[p.entry] = p;
      recomputeVerdicts(false);
    },
    onPermission: (err) => {
      if (err) ui.gatherStatus.textContent += ` (camera/microphone permission failed: ${err}; host candidates may be limited)`;
    },
  });
  running = run;
  void run.done.then((res) => {
    running = undefined;
    g.durationMs = res.durationMs;
    g.entries = res.entries;
    recomputeVerdicts(true);
    ui.gather.disabled = false;
    ui.stop.disabled = true;
    const parts = res.entries.map((p) => {
      const n = `#${p.entry + 1}`;
      if (p.state === 'complete') return `${n} complete at ${p.completeMs} ms`;
      if (p.state === 'timeout') return `${n} not complete within ${g.timeoutS} s`;
      if (p.state === 'refused') return `${n} refused: ${p.refused}`;
      return `${n} stopped`;
    });
    const counts = ['host', 'srflx', 'prflx', 'relay'].map((t) => `${res.rows.filter((r) => r.type === t).length} ${t}`).join(', ');
    setGatherStatus('done', `Gathering finished after ${res.durationMs} ms: ${parts.join('; ')}. Candidates: ${counts}; errors: ${res.errors.length}.`);
  });
});

ui.stop.addEventListener('click', () => running?.stop());

// ---------- relay test ----------

function renderRelayResult(r: RelayTestResult): void {
  ui.relayResult.dataset.status = r.ok ? 'ok' : 'fail';
  const line = document.createElement('p');
  line.id = 'relayStatus';
  line.className = r.ok ? 'result-ok' : 'result-fail';
  line.textContent = r.summary;
  const dl = document.createElement('dl');
  const end = (e: RelayTestResult['local']) =>
    e ? `${e.type ?? '?'} ${e.address ?? '?'}:${e.port ?? '?'} (${e.protocol ?? '?'}${e.relayProtocol ? `, relay protocol ${e.relayProtocol}` : ''})` : '—';
  const items: [string, string][] = [
    ['TURN URL', r.url],
    ['Connection state', r.connectionState],
    ['Time to connect', r.connectMs === null ? '—' : `${r.connectMs} ms`],
    ['Selected pair, local (A)', end(r.local)],
    ['Selected pair, remote (B)', end(r.remote)],
    ['ICE round-trip time', r.iceRttMs === null ? '—' : `${r.iceRttMs} ms`],
    ['Data channel echo RTT (median)', r.echoRttMedianMs === null ? '—' : `${r.echoRttMedianMs} ms`],
    ['Messages sent / delivered / echoed', `${r.messagesSent} / ${r.messagesDelivered} / ${r.echoesReceived}`],
    ['Bytes sent / delivered', `${r.bytesSent} / ${r.bytesDelivered}`],
    ['Relay candidates (A / B)', `${r.relayCandidates.a} / ${r.relayCandidates.b}`],
  ];
  for (const [k, v] of items) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
  ui.relayResult.replaceChildren(line, dl);
}

ui.testRelay.addEventListener('click', () => {
  const [idx, url] = ui.relayUrl.value.split(/\|(.*)/s);
  const entry = servers[Number(idx)];
  if (!entry || !url) {
    ui.relayResult.dataset.status = 'fail';
    ui.relayResult.textContent = 'FAIL: add a turn: or turns: server first';
    return;
  }
  ui.testRelay.disabled = true;
  ui.relayResult.dataset.status = 'running';
  ui.relayResult.textContent = `Connecting two peer connections through ${url} (policy relay), then sending messages for 3 s…`;
  void runRelayTest(entry, url).then((r) => {
    relayResult = r;
    renderRelayResult(r);
    ui.testRelay.disabled = false;
  });
});

// ---------- export ----------

ui.exportBtn.addEventListener('click', () => {
  const report = buildReport({
    servers,
    options: readOptions(),
    gathering,
    relayTest: relayResult,
    userAgent: navigator.userAgent,
    page: location.href,
  });
  const blob = new Blob([JSON.stringify(report, null, 2)], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = reportFileName();
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});

// ---------- start ----------

const saved = loadState(localStorage);
options = saved?.options ?? { ...DEFAULT_OPTIONS };
showOptions();
showFormError([]);
setGatherStatus('idle', 'Press "Gather candidates" to start.');
servers = saved?.servers ?? [];
renderServers(0);
void loadDefaults(saved?.servers);
