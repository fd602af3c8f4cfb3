/**
 * The trickle-ICE test page (`/trickle-ice.html`): wires the DOM (stable ids listed at the top
 * of trickle-ice.html) to the gathering, verdict, relay-test and export modules. No inline
 * scripts or style attributes (the server's Content-Security-Policy forbids them).
 */
import './trickle-ice.css';
import { setText, startPageLanguage } from '../i18n/dom.js';
import { msg, onLanguageChange, render, t, type Msg } from '../i18n/index.js';
import { fetchFailureReason, httpIceServersSource, IceServersHttpError } from '../iceServers.js';
import { fragmentWithoutToken, storedToken, storeToken, tokenFromFragment } from './testerToken.js';
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

startPageLanguage(el<HTMLSelectElement>('lang'));

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
  tokenForm: el<HTMLFormElement>('tokenForm'),
  iceToken: el<HTMLInputElement>('iceToken'),
};

/** The tester token (ICE_TOKEN) for /api/ice-servers: from `#token=…` (then removed from the address bar), else this tab's stored one. */
let token: string | undefined = storedToken(sessionStorage);
ui.iceToken.value = token ?? '';

/** Take a token from `#token=…` out of the address bar; true when there was one. */
function takeTokenFromFragment(): boolean {
  const fromUrl = tokenFromFragment(location.hash);
  if (!fromUrl) return false;
  token = fromUrl;
  storeToken(sessionStorage, token);
  ui.iceToken.value = token;
  history.replaceState(history.state, '', `${location.pathname}${location.search}${fragmentWithoutToken(location.hash)}`);
  return true;
}

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
let gathering: (GatherState & { final: boolean }) | undefined;
let running: GatherRun | undefined;
let relayResult: RelayTestResult | null = null;

// ---------- server list ----------

/** What #defaultsStatus says (kept to add the save problem and for a language switch). */
let defaultsText: Msg[] = [];

function showDefaultsStatus(text: Msg[]): void {
  defaultsText = text;
  ui.defaultsStatus.textContent = text.map(render).join(t('app.sentenceSeparator'));
}

function persist(): void {
  if (!saveState(localStorage, { servers, options })) showDefaultsStatus([...defaultsText.filter((m) => m.key !== 'trickle.defaults.notSaved'), msg('trickle.defaults.notSaved')]);
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

/** Problems shown under the form; the function that finds them again after a language switch. */
let formProblems: () => string[] = () => [];

function showFormError(problems: string[], again: () => string[] = () => problems): void {
  formProblems = problems.length ? again : () => [];
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
  const { iceServers, ttl } = await httpIceServersSource(undefined, undefined, token).get();
  return { entries: deploymentEntries(iceServers), ttl: ttl || null };
}

function describeDefaults(entries: ServerEntry[], ttl: number | null): Msg {
  if (entries.length === 0) return msg('trickle.defaults.none');
  if (!ttl) return msg('trickle.defaults.loaded');
  return ttl >= 7200 ? msg('trickle.defaults.loadedHours', { count: Math.round(ttl / 3600) }) : msg('trickle.defaults.loadedMinutes', { count: Math.round(ttl / 60) });
}

/** Why the deployment's servers could not be loaded, in words (the tester token, or a generic failure). */
function defaultsFailure(err: unknown, saved: ServerEntry[] | undefined): Msg {
  if (err instanceof IceServersHttpError) {
    if (err.code === 'token-required') return msg('trickle.defaults.tokenRequired');
    if (err.code === 'wrong-token') return msg('trickle.defaults.wrongToken');
    if (err.code === 'ice-token-unset') return msg('trickle.defaults.tokenUnset');
  }
  const detail = fetchFailureReason(err);
  return saved ? msg('trickle.defaults.failedSaved', { detail }) : msg('trickle.defaults.failed', { detail });
}

/**
 * Load this deployment's servers into the list.
 * @param saved     the list to merge them into (see mergeWithDefaults); undefined: defaults only.
 * @param ensureIn  put them first when `saved` has none (a token was just given: the list saved
 *                  while they were refused has no deployment entries).
 */
async function loadDefaults(saved: ServerEntry[] | undefined, ensureIn = false): Promise<void> {
  ui.defaultsStatus.dataset.state = 'loading';
  showDefaultsStatus([msg('trickle.defaults.loading')]);
  try {
    const { entries, ttl } = await fetchDefaults();
    const missing = ensureIn && saved !== undefined && !saved.some((e) => e.origin === 'deployment');
    servers = missing ? [...entries, ...saved] : mergeWithDefaults(saved, entries);
    showDefaultsStatus([describeDefaults(entries, ttl)]);
    ui.defaultsStatus.dataset.state = 'loaded';
  } catch (err) {
    servers = mergeWithDefaults(saved, undefined);
    showDefaultsStatus([defaultsFailure(err, saved)]);
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
  showFormError(problems, () => validateServerEntry(e));
  if (problems.length > 0) return;
  servers.push({ ...e, origin: 'user' });
  renderServers(servers.length - 1);
  persist();
});

ui.save.addEventListener('click', () => {
  const i = ui.servers.selectedIndex;
  if (i < 0 || !servers[i]) return showFormError([t('trickle.form.selectToChange')], () => [t('trickle.form.selectToChange')]);
  const e = formEntry();
  const problems = validateServerEntry(e);
  showFormError(problems, () => validateServerEntry(e));
  if (problems.length > 0) return;
  servers[i] = { ...e, origin: 'user' };
  renderServers(i);
  persist();
});

ui.remove.addEventListener('click', () => {
  const i = ui.servers.selectedIndex;
  if (i < 0 || !servers[i]) return showFormError([t('trickle.form.selectToRemove')], () => [t('trickle.form.selectToRemove')]);
  servers.splice(i, 1);
  renderServers(Math.min(i, servers.length - 1));
  fillForm();
  persist();
});

ui.reset.addEventListener('click', () => {
  void loadDefaults(undefined);
});

// #useToken is the token form's submit button: load the deployment's servers with the token typed.
ui.tokenForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = ui.iceToken.value.trim() || undefined;
  storeToken(sessionStorage, token);
  void loadDefaults(servers, true);
});

/** The first problem of the URLs typed so far (live check while typing). */
function urlProblems(): string[] {
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
  return bad.slice(0, 1);
}

ui.url.addEventListener('input', () => showFormError(urlProblems(), urlProblems));

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

function relayProtocolText(r: CandidateRow): string | null {
  if (!r.relayProtocol) return null;
  if (r.relayProtocolSource === 'url') return t('trickle.relayProtocolFromUrl', { protocol: r.relayProtocol });
  if (r.relayProtocolSource === 'priority') return t('trickle.relayProtocolFromPriority', { protocol: r.relayProtocol });
  return r.relayProtocol;
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
  cell(tr, relayProtocolText(r), 'relay-protocol');
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
  g.final = final;
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
      if (final && x.status === 'pending') verdicts.push({ ...x, status: 'skip', text: t('trickle.verdict.stopped') });
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
    cell(tr, t(`trickle.status.${v.status}`), 'status');
    cell(tr, v.text);
  }
}

/** What #gatherStatus says: whole sentences (kept for a language switch). */
function setGatherStatus(state: 'idle' | 'running' | 'done', text: Msg[]): void {
  ui.gatherStatus.dataset.state = state;
  gatherText = text;
  ui.gatherStatus.textContent = text.map(render).join(t('app.sentenceSeparator'));
}
let gatherText: Msg[] = [];

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
    final: false,
  };
  const g = gathering;
  ui.gather.disabled = true;
  ui.stop.disabled = false;
  setGatherStatus('running', [
    entries.length === 0
      ? msg('trickle.gathering.runningNone', { policy: options.policy })
      : msg('trickle.gathering.running', { count: entries.length, policy: options.policy }),
  ]);
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
      if (err) setGatherStatus('running', [...gatherText, msg('trickle.gathering.permissionFailed', { detail: err })]);
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
    const parts = res.entries.map((p): Msg => {
      const entry = p.entry + 1;
      if (p.state === 'complete') return msg('trickle.gathering.entryComplete', { entry, ms: p.completeMs ?? 0 });
      if (p.state === 'timeout') return msg('trickle.gathering.entryTimeout', { entry, s: g.timeoutS });
      if (p.state === 'refused') return msg('trickle.gathering.entryRefused', { entry, detail: p.refused ?? '' });
      return msg('trickle.gathering.entryStopped', { entry });
    });
    const count = (type: string) => res.rows.filter((r) => r.type === type).length;
    const permission = gatherText.filter((m) => m.key === 'trickle.gathering.permissionFailed');
    setGatherStatus('done', [
      msg('trickle.gathering.finished', {
        ms: res.durationMs,
        entries: parts,
        host: count('host'),
        srflx: count('srflx'),
        prflx: count('prflx'),
        relay: count('relay'),
        errors: res.errors.length,
      }),
      ...permission,
    ]);
  });
});

ui.stop.addEventListener('click', () => running?.stop());

// ---------- relay test ----------

function renderRelayResult(r: RelayTestResult): void {
  ui.relayResult.dataset.status = r.ok ? 'ok' : 'fail';
  const line = document.createElement('p');
  line.id = 'relayStatus';
  line.className = r.ok ? 'result-ok' : 'result-fail';
  setText(line, r.summary);
  const dl = document.createElement('dl');
  const end = (e: RelayTestResult['local']) => {
    if (!e) return '—';
    const vars = { type: e.type ?? '?', address: e.address ?? '?', port: e.port ?? '?', protocol: e.protocol ?? '?' };
    return e.relayProtocol ? t('trickle.relay.endRelay', { ...vars, relayProtocol: e.relayProtocol }) : t('trickle.relay.end', vars);
  };
  const ms = (v: number | null) => (v === null ? '—' : t('trickle.relay.ms', { value: v }));
  const items: [string, string][] = [
    [t('trickle.relay.url'), r.url],
    [t('trickle.relay.state'), r.connectionState],
    [t('trickle.relay.connectTime'), ms(r.connectMs)],
    [t('trickle.relay.pairLocal'), end(r.local)],
    [t('trickle.relay.pairRemote'), end(r.remote)],
    [t('trickle.relay.iceRtt'), ms(r.iceRttMs)],
    [t('trickle.relay.echoRtt'), ms(r.echoRttMedianMs)],
    [t('trickle.relay.messages'), `${r.messagesSent} / ${r.messagesDelivered} / ${r.echoesReceived}`],
    [t('trickle.relay.bytes'), `${r.bytesSent} / ${r.bytesDelivered}`],
    [t('trickle.relay.relayCandidates'), `${r.relayCandidates.a} / ${r.relayCandidates.b}`],
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
    setText(ui.relayResult, msg('trickle.relay.noTurn'));
    return;
  }
  ui.testRelay.disabled = true;
  ui.relayResult.dataset.status = 'running';
  setText(ui.relayResult, msg('trickle.relay.running', { url }));
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
setGatherStatus('idle', [msg('trickle.gathering.idle')]);
servers = saved?.servers ?? [];
renderServers(0);
const tokenInUrl = takeTokenFromFragment();
void loadDefaults(saved?.servers, tokenInUrl);
// A link with #token=… opened in a tab that already shows this page changes only the fragment.
window.addEventListener('hashchange', () => {
  if (takeTokenFromFragment()) void loadDefaults(servers, true);
});
