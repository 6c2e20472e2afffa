// memscope dashboard: the apps list and one app's detail, kept live by memscoped's event stream
// (GET /api/v1/events, see daemon/events.h). The page never polls the apps: the daemon pushes every sample.
// Requests are made only for what the stream does not carry: the selected app's history (once), its growth
// (leak suspects), its documents too large for the stream (`stats-skipped`), and the actions. Everything is
// rendered with textContent: no server string becomes markup.

import { adoptTokenFromUrl, token, forgetToken, setUnauthorizedHandler, get, post, ApiError } from './api.js';
import { bytes, count, signed, duration, percent, ago, clock } from './format.js';
import { loadCharts, ChartSet, Series } from './charts.js';
import { pathParts } from './why.js';
import { cycleCells } from './cycles.js';
import { pinningQuery, pinningHeadline, pinningDetail, pinningSiteHint, siteCells, classCells, typeCells }
  from './pinning.js';

adoptTokenFromUrl();

const $ = (sel) => document.querySelector(sel);

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'data') Object.assign(e.dataset, v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// ---- State ----------------------------------------------------------------------------------------------------

const state = {
  apps: new Map(),        // id -> { summary, doc, lastGcAt, gcTotal, typeMarks: [{t, alive: Map}], skipped }
  selected: null,         // app id
  series: null,           // Series of the selected app
  windowS: 300,
  growth: new Map(),      // type name -> growth entry (leak suspects of the selected app)
  growthAt: 0,
  growthSpan: 0,          // seconds of history the daemon judged the suspects over
  sort: { key: 'bytes', dir: -1 },
  readOnly: !token(),
  charts: null,
  snapshots: [],
};

// ---- Notices and results -----------------------------------------------------------------------------------

function toast(msg, kind = 'error') {
  const t = el('div', { class: 'toast ' + kind, role: kind === 'error' ? 'alert' : 'status', text: msg });
  $('#toasts').append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 4000);
}

// Shows the outcome of an action in its own box: an error keeps its HTTP status visible.
function showResult(box, content, isError = false, status = null) {
  box.hidden = false;
  box.classList.toggle('error', isError);
  box.replaceChildren();
  if (isError && status != null) box.append(el('span', { class: 'code', text: status ? 'HTTP ' + status : 'offline' }));
  if (typeof content === 'string') box.append(el('span', { text: content }));
  else box.append(content);
  box.dataset.status = isError ? String(status ?? 'error') : 'ok';
}

function showError(box, e) {
  const status = e instanceof ApiError ? e.status : null;
  showResult(box, e.message, true, status);
  toast(e.message);
}

function updateMode() {
  state.readOnly = !token();
  const mode = $('#mode');
  mode.textContent = state.readOnly ? 'read-only' : 'actions enabled';
  mode.dataset.state = state.readOnly ? 'readonly' : 'ok';
  $('#forget-token').hidden = state.readOnly;
  const notice = $('#notice');
  if (state.readOnly) {
    notice.hidden = false;
    notice.textContent = 'Read-only: this page has no token, so collections, GC settings and tracing are ' +
      'disabled. Open the URL memscoped printed at start (…/?token=…) to enable them.';
  } else if (notice.dataset.kind !== 'unauthorized') {
    notice.hidden = true;
  }
  for (const b of document.querySelectorAll('.act')) {
    b.disabled = state.readOnly;
    b.title = state.readOnly ? 'read-only: open the dashboard URL with ?token=' : '';
  }
}

setUnauthorizedHandler(() => {
  const notice = $('#notice');
  notice.hidden = false;
  notice.dataset.kind = 'unauthorized';
  notice.textContent = 'The token was rejected (401). memscoped makes a new token each time it starts: open the ' +
    'URL it printed (…/?token=…) again.';
});

$('#forget-token').addEventListener('click', () => { forgetToken(); updateMode(); });

// ---- The event stream -----------------------------------------------------------------------------------------

let source = null;

function setConn(s, text) {
  const c = $('#conn');
  c.dataset.state = s;
  c.textContent = text;
}

function connect() {
  if (source) source.close();
  source = new EventSource('/api/v1/events');
  source.addEventListener('open', () => setConn('live', 'live'));
  source.addEventListener('error', () => {
    setConn('down', 'reconnecting…');
    // EventSource retries by itself after network errors; if it gave up (a non-stream answer), start over.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  });
  source.addEventListener('hello', (e) => onHello(JSON.parse(e.data)));
  source.addEventListener('app', (e) => onApp(JSON.parse(e.data)));
  source.addEventListener('stats', (e) => onStats(JSON.parse(e.data)));
  source.addEventListener('stats-skipped', (e) => onStatsSkipped(JSON.parse(e.data)));
}

function onHello(h) {
  $('#daemon-version').textContent = 'memscoped ' + h.daemon;
  const old = state.apps;
  state.apps = new Map();
  for (const s of h.apps) {
    const prev = old.get(s.id);
    const same = prev && prev.summary.pid === s.pid && prev.summary.connected_at === s.connected_at;
    state.apps.set(s.id, same ? { ...prev, summary: s } : newApp(s));
  }
  // After a daemon restart ids start over: keep the selection only if it is the same process.
  const sel = state.selected != null && old.get(state.selected);
  const now = state.apps.get(state.selected);
  if (!now || !sel || sel.summary.pid !== now.summary.pid || sel.summary.connected_at !== now.summary.connected_at) {
    state.selected = null;
  }
  if (state.selected == null) autoSelect();
  else loadHistory(state.selected); // the daemon may have restarted: reload what it has
  scheduleRender();
}

function newApp(summary) {
  // skipped: the stream's last sample of this app was only announced (too large), so `doc` came from a GET.
  return { summary, doc: null, lastGcAt: null, gcTotal: null, typeMarks: [], skipped: false };
}

function onApp(a) {
  const cur = state.apps.get(a.id);
  if (a.event === 'remove') {
    state.apps.delete(a.id);
    if (state.selected === a.id) { state.selected = null; autoSelect(); }
  } else if (cur) {
    cur.summary = a;
  } else {
    state.apps.set(a.id, newApp(a));
  }
  if (state.selected == null) autoSelect();
  scheduleRender();
}

function onStats(doc) {
  showDoc(doc, false);
}

// The daemon does not put a document larger than half of a stream client's budget on the stream (it could
// never be sent whole); it announces it instead. The selected app's is fetched and shown as if the event had
// carried it, one request at a time; the others wait until they are selected.
const fetchingDoc = new Set();

function onStatsSkipped({ id }) {
  const a = state.apps.get(id);
  if (!a) return;
  a.skipped = true;
  if (id === state.selected) fetchDoc(id);
  scheduleRender();
}

async function fetchDoc(id) {
  if (fetchingDoc.has(id)) return; // the next announcement asks again
  fetchingDoc.add(id);
  try {
    const doc = await get(`/api/v1/apps/${id}`);
    const a = state.apps.get(id);
    // A stream event may have overtaken the request: keep whichever document is newer.
    if (a && a.skipped && !(a.doc && a.doc.time >= doc.time)) showDoc(doc, true);
  } catch (e) {
    if (state.selected === id) toast('stats: ' + e.message);
  } finally {
    fetchingDoc.delete(id);
  }
}

function showDoc(doc, fetched) {
  let a = state.apps.get(doc.id);
  if (!a) {
    a = newApp({ id: doc.id, pid: doc.pid, name: doc.name, connected: true });
    state.apps.set(doc.id, a);
  }
  a.skipped = fetched;
  const gens = (doc.gc && doc.gc.generations) || [];
  const total = gens.reduce((s, g) => s + (g.collections || 0), 0);
  if (a.gcTotal != null && total > a.gcTotal) a.lastGcAt = doc.time;
  a.gcTotal = total;
  a.doc = doc;
  a.summary.last_update = doc.time;
  markTypes(a, doc);
  if (doc.id === state.selected && state.series) {
    state.series.pushDoc(doc);
    state.series.trim(state.windowS);
    if (Date.now() - state.growthAt > 5000) loadGrowth(doc.id);
  }
  if (state.selected == null) autoSelect();
  scheduleRender();
}

// Per-type live counts every ~5 s over the window, for the growth column of every type (the daemon's /growth
// names only the leak suspects).
function markTypes(a, doc) {
  const marks = a.typeMarks;
  const last = marks[marks.length - 1];
  if (!last || doc.time - last.t >= 5) {
    marks.push({ t: doc.time, alive: new Map((doc.types || []).map((t) => [t.name, t.alive])) });
  }
  while (marks.length > 1 && doc.time - marks[1].t >= state.windowS) marks.shift();
}

function autoSelect() {
  let pick = null;
  for (const a of state.apps.values()) if (!pick || (a.summary.connected && !pick.summary.connected)) pick = a;
  const wanted = Number(new URLSearchParams(location.hash.slice(1)).get('app'));
  if (wanted && state.apps.has(wanted)) pick = state.apps.get(wanted);
  if (pick) select(pick.summary.id);
}

function select(id) {
  if (state.selected === id && state.series) return;
  state.selected = id;
  state.series = null;
  state.growth = new Map();
  state.growthAt = 0;
  history.replaceState(history.state, '', location.pathname + location.search + '#app=' + id);
  $('#top').hidden = true;
  $('#diff').hidden = true;
  // Each read of the cycle makers is a request to the app: none until asked (Refresh, a switch, a collection).
  $('#cycles').hidden = true;
  $('#cycles-note').textContent = 'Refresh reads them from the app';
  delete $('#cycles-panel').dataset.enabled;
  // Nor of the pinned pools: the app walks its pools for each (Find pinned pools).
  $('#pinning-note').textContent = 'the app walks its pools when asked';
  pinningRun++;
  for (const r of document.querySelectorAll('.result')) r.hidden = true;
  whyRun++; // an answer still on its way was for the app shown before
  fillThresholds = true;
  loadHistory(id);
  loadGrowth(id);
  loadSnapshots(id);
  if (state.apps.get(id)?.skipped) fetchDoc(id);
  scheduleRender();
}

async function loadHistory(id) {
  try {
    const h = await get(`/api/v1/apps/${id}/history?seconds=${state.windowS}`);
    if (state.selected !== id) return;
    const s = Series.fromHistory(h);
    const a = state.apps.get(id);
    if (a && a.doc) s.pushDoc(a.doc);
    state.series = s;
    scheduleRender();
  } catch (e) {
    if (state.selected === id) toast('history: ' + e.message);
  }
}

async function loadGrowth(id) {
  state.growthAt = Date.now();
  try {
    const g = await get(`/api/v1/apps/${id}/growth`);
    if (state.selected !== id) return;
    state.growth = new Map((g.types || []).map((t) => [t.type, t]));
    state.growthSpan = g.span_s || g.window_s || 0;
    scheduleRender();
  } catch { /* the table shows no suspects; the next sample retries */ }
}

// ---- Rendering ------------------------------------------------------------------------------------------------

let pending = false;
function scheduleRender() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

function render() {
  renderApps();
  renderDetail();
}

function heapOf(doc) {
  const h = doc && doc.heap;
  return h ? (h.pool_bytes_in_use || 0) + (h.system_bytes_in_use || 0) : null;
}

function renderApps() {
  const body = $('#apps tbody');
  const rows = [];
  for (const a of state.apps.values()) {
    const s = a.summary, d = a.doc;
    const status = s.connected ? 'connected' : 'disconnected';
    const sub = `pid ${s.pid} · #${s.id}` + (a.skipped ? ' · stats too large to stream' : '');
    const tr = el('tr', { data: { appId: String(s.id), status }, tabindex: '0' },
      el('td', {}, el('div', { class: 'name', text: s.name }), el('div', { class: 'sub', text: sub })),
      el('td', {}, el('span', { class: 'status ' + status, text: status })),
      el('td', { class: 'num', text: bytes(heapOf(d)) }),
      el('td', { class: 'num', text: count(d && d.refcount && d.refcount.objects_alive) }),
      el('td', { text: a.lastGcAt ? ago(a.lastGcAt) : a.gcTotal ? `${count(a.gcTotal)} total` : 'none yet' }));
    if (s.id === state.selected) tr.classList.add('selected');
    tr.addEventListener('click', () => select(s.id));
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') select(s.id); });
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  $('#apps-empty').hidden = rows.length > 0;
}

function card(label, value, sub, id) {
  return el('div', { class: 'card', ...(id ? { id } : {}) },
    el('div', { class: 'label', text: label }), el('div', { class: 'value', text: value }),
    sub ? el('div', { class: 'sub', text: sub }) : null);
}

let fillThresholds = true;

function renderDetail() {
  const a = state.apps.get(state.selected);
  $('#detail').hidden = !a;
  if (!a) return;
  const s = a.summary, d = a.doc || {};
  $('#app-title').textContent = s.name;
  const st = $('#app-status');
  st.textContent = s.connected ? 'connected' : 'disconnected';
  st.dataset.state = s.connected ? 'ok' : 'down';
  $('#app-meta').textContent = `pid ${s.pid} · id ${s.id} · every ${s.interval_ms || '?'} ms · ` +
    `last sample ${a.doc ? clock(d.time) : '—'}` + (s.connected ? '' : ` · left ${clock(s.disconnected_at)}`);
  const skipped = $('#app-skipped');
  skipped.hidden = !a.skipped;
  skipped.textContent = a.skipped ? 'the live stream skipped its stats (too large): ' +
    (a.doc ? `fetched the sample of ${clock(d.time)}` : 'fetching them') : '';

  const heap = d.heap || {}, rc = d.refcount || {}, gc = d.gc || {}, tr = d.trace || {};
  $('#cards').replaceChildren(
    card('Heap in use', bytes(heapOf(a.doc)),
         `pool ${bytes(heap.pool_bytes_in_use)} · system ${bytes(heap.system_bytes_in_use)}`),
    card('Arenas', bytes(heap.arena_bytes_mapped), `${count(heap.arenas_mapped)} mapped · ${count(heap.pools_in_use)} pools`),
    card('Objects alive', count(rc.objects_alive),
         `${count(rc.objects_created)} created · ${count(rc.objects_destroyed)} destroyed`),
    card('Garbage', count(gc.garbage), 'uncollectable objects kept', 'card-garbage'),
    card('GC', gc.enabled === undefined ? '—' : gc.enabled ? 'enabled' : 'disabled',
         `pauses ${duration(gc.pause_total_ns)} total · longest ${duration(gc.pause_max_ns)}`),
    card('Tracing', tr.tracing ? 'on' : 'off',
         tr.tracing ? `${bytes(tr.current)} traced · peak ${bytes(tr.peak)}` : 'start it below'));

  if (!state.charts) state.charts = new ChartSet($('#charts'));
  if (state.series) state.charts.update(state.series);

  renderPools(d.pools || [], heap);
  renderGc(gc);
  renderTypes(a, d.types || []);
  $('#trace-state').textContent = tr.tracing ? `tracing (${tr.nframes} frame${tr.nframes === 1 ? '' : 's'})`
                                             : 'not tracing';
  for (const b of document.querySelectorAll('.act')) b.disabled = state.readOnly || !s.connected;
  $('#top-refresh').disabled = !s.connected;
  $('#pinning-find').disabled = pinningPending === pinningRun || !s.connected;
}

function renderPools(pools, heap) {
  const used = pools.filter((p) => p.pools > 0 || p.blocks_in_use > 0);
  const max = Math.max(1, ...used.map((p) => p.blocks_in_use + p.blocks_free));
  let inUse = 0, free = 0, freeBytes = 0;
  const rows = [], cells = [];
  for (const p of used) {
    const total = p.blocks_in_use + p.blocks_free;
    const util = total ? p.blocks_in_use / total : 0;
    inUse += p.blocks_in_use; free += p.blocks_free; freeBytes += p.blocks_free * p.block_size;
    const bar = el('div', { class: 'bar' });
    const u = el('span', { class: 'used' }), f = el('span', { class: 'free' });
    u.style.width = (100 * p.blocks_in_use / max).toFixed(2) + '%';
    f.style.width = (100 * p.blocks_free / max).toFixed(2) + '%';
    bar.append(u, f);
    rows.push(el('div', { class: 'pool', data: { blockSize: String(p.block_size) } },
      el('span', { class: 'size', text: p.block_size + ' B' }), bar,
      el('span', { class: 'nums', text: `${count(p.blocks_in_use)} / ${count(total)} · ${percent(util)} · ` +
                                        `${count(p.pools)} pool${p.pools === 1 ? '' : 's'}` })));
    const cell = el('span', { class: 'cell', title: `${p.block_size} B: ${percent(util)} of blocks in use` });
    // Hue from red (mostly free blocks: fragmented) to green (full pools).
    cell.style.background = `hsl(${Math.round(util * 120)} 65% 42%)`;
    cell.textContent = String(p.block_size);
    cells.push(cell);
  }
  $('#pools').replaceChildren(...rows);
  $('#heat').replaceChildren(...cells);
  const all = inUse + free;
  $('#pool-summary').textContent = used.length
    ? `${percent(all ? inUse / all : 0)} of pooled blocks in use; ${bytes(freeBytes)} free inside ` +
      `${count(heap.pools_in_use)} pools (pool size ${bytes(heap.pool_size)})`
    : 'no pools in use';
}

function renderGc(gc) {
  $('#gc-enabled').textContent = gc.enabled === undefined ? '' : gc.enabled ? 'GC is enabled' : 'GC is disabled';
  const gens = gc.generations || [];
  if (fillThresholds && gens.length) {
    const f = $('#thresholds');
    gens.slice(0, 3).forEach((g, i) => { f.elements['t' + i].value = g.threshold; });
    fillThresholds = false;
  }
}

// What the types table was last built from: the page renders on every event of any app, and a table of
// thousands of types rebuilt each time would keep the page busy, so it is rebuilt only when one of these changes.
let typesDrawn = [];

function renderTypes(a, types) {
  const inputs = [types, a.typeMarks[0], state.growth, state.sort];
  if (inputs.every((x, i) => x === typesDrawn[i])) return;
  typesDrawn = inputs;
  const marks = a.typeMarks;
  const base = marks.length ? marks[0].alive : new Map();
  const span = marks.length && a.doc ? a.doc.time - marks[0].t : 0;
  const rows = types.map((t) => {
    const g = state.growth.get(t.name);
    return { ...t, growth: g ? g.delta : base.has(t.name) ? t.alive - base.get(t.name) : null,
             rate: g ? g.rate_per_s : null, suspect: !!g };
  });
  const { key, dir } = state.sort;
  rows.sort((x, y) => {
    const a1 = x[key], b1 = y[key];
    if (key === 'name') return dir * String(a1).localeCompare(String(b1));
    return dir * ((a1 ?? -Infinity) - (b1 ?? -Infinity)) || x.name.localeCompare(y.name);
  });
  $('#types tbody').replaceChildren(...rows.map((t) => {
    const name = el('td', {}, el('span', { text: t.name }));
    if (t.suspect) name.append(el('span', { class: 'badge', text: 'leak suspect' }));
    return el('tr', { class: t.suspect ? 'suspect' : '', data: { type: t.name } },
      name,
      el('td', { class: 'num', text: count(t.alive) }),
      el('td', { class: 'num', text: bytes(t.bytes) }),
      el('td', { class: 'num', text: count(t.created) }),
      el('td', { class: 'num', text: count(t.destroyed) }),
      el('td', { class: 'num' + (t.growth > 0 ? ' up' : ''), text: signed(t.growth) }),
      el('td', { class: 'num', text: t.rate == null ? '' : `${t.rate.toFixed(t.rate < 10 ? 2 : 0)}/s` }),
      // .act: disabled without the token (a snapshot pauses the app) or for a disconnected app (renderDetail).
      el('td', { class: 'why-cell' }, el('button', { type: 'button', class: 'act why', data: { type: t.name },
                                                     title: `what keeps the ${t.name} objects alive`,
                                                     text: 'Why alive?' })));
  }));
  const suspects = rows.filter((r) => r.suspect).length;
  // Two sources, said plainly: the daemon judges leak suspects over its whole history window; for the other
  // types the page only knows what it has seen since it opened.
  $('#types-note').textContent = `${types.length} types · growth since this page opened (${Math.round(span)} s)` +
    (suspects ? ` · ${suspects} leak suspect${suspects === 1 ? '' : 's'}: live count rising steadily over the ` +
                `last ${Math.round(state.growthSpan)} s` : '');
  for (const th of document.querySelectorAll('#types th[data-key]')) {
    th.setAttribute('aria-sort', th.dataset.key === key ? (dir < 0 ? 'descending' : 'ascending') : 'none');
  }
}

for (const th of document.querySelectorAll('#types th[data-key]')) {
  th.querySelector('button').addEventListener('click', () => {
    const key = th.dataset.key;
    state.sort = state.sort.key === key ? { key, dir: -state.sort.dir } : { key, dir: key === 'name' ? 1 : -1 };
    scheduleRender();
  });
}

$('#window').addEventListener('change', (e) => {
  state.windowS = Number(e.target.value);
  if (state.selected != null) loadHistory(state.selected);
});

// ---- Actions --------------------------------------------------------------------------------------------------

const appPath = () => `/api/v1/apps/${state.selected}`;

async function busy(button, fn) {
  if (button) button.disabled = true;
  try { await fn(); } finally { if (button) button.disabled = state.readOnly; scheduleRender(); }
}

for (const b of document.querySelectorAll('button[data-gen]')) {
  b.addEventListener('click', () => busy(b, async () => {
    const gen = Number(b.dataset.gen);
    const box = $('#gc-result');
    showResult(box, `collecting generation ${gen}…`);
    try {
      const r = await post(appPath() + '/gc', { generation: gen });
      const frag = el('div', {},
        el('div', { class: 'big' }, el('strong', { text: `gen ${r.generation}: ` }),
          el('span', { class: 'collected', text: `${count(r.collected)} collected` }),
          el('span', { text: ` · ${count(r.uncollectable)} uncollectable · ${duration(r.duration_ns)}` })));
      if (r.by_type && r.by_type.length) {
        frag.append(el('table', { class: 'grid small' },
          el('tbody', {}, ...r.by_type.map((t) => el('tr', {}, el('td', { text: t.type }),
                                                          el('td', { class: 'num', text: count(t.collected) }))))));
      }
      if (r.groups && r.groups.length) {
        frag.append(el('div', { class: 'muted', text: 'cycle makers of this collection:' }),
                    el('table', { class: 'grid small', id: 'gc-cycles' }, el('tbody', {}, ...cycleRows(r.groups))));
      }
      showResult(box, frag);
      box.dataset.collected = String(r.collected);
      box.dataset.generation = String(r.generation);
      refreshCycles();
    } catch (e) { showError(box, e); }
  }));
}

// ---- Cycle makers ----------------------------------------------------------------------------------------------

function cycleRows(groups) {
  return groups.map((g) => el('tr', {}, ...cycleCells(g).map(([text, num]) => el('td', num ? { class: 'num', text }
                                                                                          : { text }))));
}

let cyclesBusy = false;
async function refreshCycles() {
  if (cyclesBusy || state.selected == null) return;
  cyclesBusy = true;
  const box = $('#cycles-result');
  try {
    const recent = $('#cycles-recent').checked;
    const r = await get(`${appPath()}/gc/cycles?recent=${recent ? 1 : 0}&limit=20`);
    const groups = r.groups || [];
    $('#cycles tbody').replaceChildren(...cycleRows(groups));
    $('#cycles').hidden = groups.length === 0;
    $('#cycles-note').textContent = `${r.enabled ? 'counting' : 'not counting'} · ${count(r.collections)} ` +
      `collection${r.collections === 1 ? '' : 's'}${recent ? ' (the last ones)' : ' since counting began'} · ` +
      (r.tracing ? 'by allocation site' : 'by type (start tracing for allocation sites)');
    $('#cycles-panel').dataset.enabled = String(!!r.enabled);
    box.hidden = true;
  } catch (e) {
    showResult(box, e.message, true, e.status);
  } finally {
    cyclesBusy = false;
  }
}

async function setCycles(enabled, button) {
  await busy(button, async () => {
    try {
      await post(appPath() + '/gc/cycles', { enabled });
      cyclesBusy = false;
      await refreshCycles();
    } catch (e) { showError($('#cycles-result'), e); }
  });
}
$('#cycles-on').addEventListener('click', (e) => setCycles(true, e.currentTarget));
$('#cycles-off').addEventListener('click', (e) => setCycles(false, e.currentTarget));
$('#cycles-refresh').addEventListener('click', refreshCycles);
$('#cycles-recent').addEventListener('change', refreshCycles);
// While counting is on (as the page last saw it), the table follows the app's collections.
setInterval(() => {
  const a = state.apps.get(state.selected);
  if ($('#cycles-panel').dataset.enabled === 'true' && a && a.summary.connected && !document.hidden) refreshCycles();
}, 5000);

// ---- Pinned pools -----------------------------------------------------------------------------------------------
// A GET (no token needed), but the app walks all its pools at its next safe point to answer: only on a click.

let pinningRun = 0; // a newer click, or another app selected, wins: an older answer arriving late is dropped
let pinningPending = 0; // the run still waiting for its answer: the button waits with it

function cellRows(items, cells) {
  return items.map((x) => el('tr', {}, ...cells(x).map(([text, num]) => el('td', num ? { class: 'num', text }
                                                                                  : { text }))));
}

function pinningTable(id, heads, items, cells) {
  return el('table', { id, class: 'grid small' },
    el('thead', {}, el('tr', {}, ...heads.map((h, i) => el('th', i ? { class: 'num', text: h } : { text: h })))),
    el('tbody', {}, ...cellRows(items, cells)));
}

function pinningView(r) {
  const [head, rest] = pinningHeadline(r);
  const sites = r.sites || [], classes = r.classes || [], types = r.types || [];
  const hint = pinningSiteHint(r);
  return el('div', {},
    el('div', { class: 'big' }, el('strong', { class: 'pinned', text: head }), el('span', { text: rest })),
    el('div', { class: 'muted', text: pinningDetail(r) }),
    hint ? el('div', { class: 'hint', id: 'pinning-hint', text: hint }) : null,
    sites.length ? pinningTable('pinning-sites', ['Allocated at', 'Pools', 'Blocks', 'Wasted', 'Oldest'], sites,
                                siteCells) : null,
    classes.length ? pinningTable('pinning-classes', ['Size class', 'Pinned pools', 'Blocks', 'Wasted'], classes,
                                  classCells) : null,
    types.length ? pinningTable('pinning-types', ['Type', 'Pools', 'Blocks', 'Wasted'], types, typeCells) : null,
    r.pinned_pools ? el('p', { class: 'muted', text: 'Wasted: the free bytes of a pinned pool (and the empty pools ' +
      'of the arenas that only pinned pools keep mapped), charged in equal shares to its live blocks. Types: ' +
      'GC-tracked objects only.' }) : null);
}

async function findPinning() {
  if (state.selected == null) return;
  const id = state.selected, run = ++pinningRun;
  const box = $('#pinning-result');
  pinningPending = run;
  $('#pinning-find').disabled = true;
  showResult(box, `walking the pools of ${state.apps.get(id)?.summary.name ?? 'the app'} at its next safe point…`);
  delete box.dataset.pinnedPools;
  try {
    const r = await get(`/api/v1/apps/${id}/pools/pinning?${pinningQuery($('#pinning-threshold').value)}`);
    if (run !== pinningRun) return;
    showResult(box, pinningView(r));
    box.dataset.pinnedPools = String(r.pinned_pools);
    $('#pinning-note').textContent = `as of ${clock(Date.now() / 1000)}`;
  } catch (e) {
    if (run === pinningRun) showError(box, e);
  } finally {
    if (pinningPending === run) pinningPending = 0;
    scheduleRender();
  }
}
$('#pinning-find').addEventListener('click', findPinning);

async function setGc(enable, button) {
  await busy(button, async () => {
    const box = $('#gc-toggle-result');
    try {
      const r = await post(appPath() + (enable ? '/gc/enable' : '/gc/disable'));
      showResult(box, `GC ${r.enabled ? 'enabled' : 'disabled'} (was ${r.was_enabled ? 'enabled' : 'disabled'})`);
    } catch (e) { showError(box, e); }
  });
}
$('#gc-enable').addEventListener('click', (e) => setGc(true, e.currentTarget));
$('#gc-disable').addEventListener('click', (e) => setGc(false, e.currentTarget));

$('#thresholds').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = e.currentTarget;
  const t = [0, 1, 2].map((i) => Number(f.elements['t' + i].value));
  busy(f.querySelector('button'), async () => {
    const box = $('#gc-toggle-result');
    try {
      const r = await post(appPath() + '/gc/threshold', { thresholds: t });
      showResult(box, `thresholds now ${r.thresholds.join(' / ')}`);
    } catch (e2) { showError(box, e2); }
  });
});

$('#trace-start').addEventListener('click', (e) => busy(e.currentTarget, async () => {
  const box = $('#trace-result');
  try {
    const r = await post(appPath() + '/trace', { action: 'start', nframes: typedNumber($('#nframes')) });
    showResult(box, `tracing started with ${r.nframes} frame${r.nframes === 1 ? '' : 's'}`);
    setTimeout(refreshTop, 1000);
  } catch (err) { showError(box, err); }
}));

$('#trace-stop').addEventListener('click', (e) => busy(e.currentTarget, async () => {
  const box = $('#trace-result');
  try {
    await post(appPath() + '/trace', { action: 'stop' });
    showResult(box, 'tracing stopped');
  } catch (err) { showError(box, err); }
}));

function where(s) {
  if (s.traceback && s.traceback.length) {
    return s.traceback.map((f) => `${f.file}:${f.lineno}${f.function ? ' ' + f.function : ''}`).join('  ←  ');
  }
  return s.lineno ? `${s.file}:${s.lineno}` : s.file;
}

// A number field's value as typed (its default when empty): the ranges are the protocol's, and memscoped judges
// them, answering 400 with a message that names the range, which the page then shows.
function typedNumber(input) {
  const v = input.value.trim();
  return Number(v === '' ? input.defaultValue : v);
}

let topBusy = false;
async function refreshTop() {
  if (topBusy || state.selected == null) return;
  topBusy = true;
  const key = $('#top-key').value, limit = typedNumber($('#top-limit'));
  const box = $('#top-result');
  try {
    const r = await get(`${appPath()}/trace/top?key=${encodeURIComponent(key)}&limit=${limit}`);
    const stats = r.stats || [];
    $('#top tbody').replaceChildren(...stats.map((s) => el('tr', {},
      el('td', { class: 'where', text: where(s) }),
      el('td', { class: 'num', text: bytes(s.size) }),
      el('td', { class: 'num', text: count(s.count) }),
      el('td', { class: 'num', text: bytes(s.count ? s.size / s.count : 0) }))));
    $('#top').hidden = false;
    showResult(box, `${count(stats.length)} entries · ${bytes(r.total_size)} in ${count(r.total_count)} blocks ` +
                    `traced · ${new Date().toLocaleTimeString()}`);
  } catch (e) {
    showResult(box, e.message, true, e.status);
  } finally {
    topBusy = false;
  }
}
$('#top-refresh').addEventListener('click', refreshTop);
$('#top-key').addEventListener('change', refreshTop);
setInterval(() => {
  const a = state.apps.get(state.selected);
  if ($('#top-auto').checked && a && a.summary.connected && a.doc && a.doc.trace && a.doc.trace.tracing &&
      !document.hidden) refreshTop();
}, 5000);

async function loadSnapshots(id) {
  try {
    const r = await get(`/api/v1/apps/${id}/trace/snapshots`);
    if (state.selected !== id) return;
    state.snapshots = r.snapshots || [];
  } catch { state.snapshots = []; }
  const opts = () => state.snapshots.map((s) => el('option', { value: String(s.id),
    text: `#${s.id} ${clock(s.time)} (${count(s.traces)} traces)` }));
  const from = $('#snap-from'), to = $('#snap-to');
  from.replaceChildren(...opts());
  to.replaceChildren(...opts());
  const n = state.snapshots.length;
  if (n >= 2) from.value = String(state.snapshots[n - 2].id);
  if (n >= 1) to.value = String(state.snapshots[n - 1].id);
}

$('#snap-take').addEventListener('click', (e) => busy(e.currentTarget, async () => {
  const box = $('#snap-result');
  try {
    const r = await post(appPath() + '/trace/snapshots');
    showResult(box, `snapshot #${r.id} stored (${count(r.traces)} traces)`);
    await loadSnapshots(state.selected);
  } catch (err) { showError(box, err); }
}));

$('#snap-diff').addEventListener('click', async () => {
  const box = $('#snap-result');
  const from = $('#snap-from').value, to = $('#snap-to').value;
  if (!from || !to) { showResult(box, 'take two snapshots first', true, null); return; }
  try {
    const r = await get(`${appPath()}/trace/diff?from=${from}&to=${to}&key=${encodeURIComponent($('#top-key').value)}`);
    const stats = (r.stats || []).slice().sort((x, y) => y.size_diff - x.size_diff); // growing lines first
    $('#diff tbody').replaceChildren(...stats.slice(0, 50).map((s) => el('tr', { class: s.size_diff > 0 ? 'up' : '' },
      el('td', { class: 'where', text: where(s) }),
      el('td', { class: 'num', text: bytes(s.size) }),
      el('td', { class: 'num', text: (s.size_diff > 0 ? '+' : '') + bytes(s.size_diff) }),
      el('td', { class: 'num', text: count(s.count) }),
      el('td', { class: 'num', text: signed(s.count_diff) }))));
    $('#diff').hidden = false;
    showResult(box, `#${from} → #${to}: ${count(stats.length)} lines differ, growing first`);
  } catch (err) { showError(box, err); }
});

// ---- Why alive? ------------------------------------------------------------------------------------------------
// A heap snapshot (POST: the app pauses for the walk of its heap), then the type's objects grouped by their
// shortest retainer path (GET .../retainers), with a link to the snapshot itself for Chrome DevTools.

const WHY_LIMIT = 10;
let whyRun = 0; // a newer click wins: an older answer arriving late is dropped

function whyView(appId, type, snap, r) {
  const paths = r.paths || [];
  const groups = r.groups ?? paths.length;
  const href = `/api/v1/apps/${appId}/heapsnapshots/${snap.id}`;
  const rows = paths.map((g) => {
    const cell = el('td', { class: 'path' }, ...pathParts(g).map(([text, kind]) => el('span', { class: kind, text })));
    // One object of the group with its real indices and node ids: DevTools finds an object by its @id.
    if (g.example) {
      cell.title = 'e.g. ' + g.example.map((s) => `${s.type} @${s.id}` + (s.edge ? ` ${s.edge}` : '')).join(' → ');
    }
    return el('tr', {}, el('td', { class: 'num', text: count(g.count) }),
              el('td', { class: 'num', text: bytes(g.retained_bytes) }), cell);
  });
  return el('div', {},
    el('div', { class: 'big' }, el('strong', { text: `${r.type ?? type}: ` }),
      el('span', { text: `${count(r.objects)} objects · ${count(groups)} retainer path${groups === 1 ? '' : 's'}` +
                         (groups > paths.length ? ` (the ${paths.length} largest)` : '') })),
    el('div', { class: 'muted' },
      el('span', { text: `heap snapshot #${snap.id}: ${count(snap.objects)} objects, ${count(snap.edges)} edges, ` +
                         `${bytes(snap.bytes)}; the app paused ${duration((snap.pause_ms ?? NaN) * 1e6)} ·` }),
      el('a', { class: 'download', href, download: '', text: 'download the .heapsnapshot' }),
      el('span', { text: ' (Chrome DevTools: Memory tab, Load)' })),
    el('table', { id: 'why-paths', class: 'grid small' },
      el('thead', {}, el('tr', {}, el('th', { class: 'num', text: 'Objects' }),
                                   el('th', { class: 'num', text: 'Retained' }), el('th', { text: 'Path from a root' }))),
      el('tbody', {}, ...rows)),
    el('p', { class: 'muted', text: 'Each object counts once, on its shortest path from a root (an object held from ' +
      'outside the heap, named when the app labels it). Retained: the bytes freed if the group went. ' +
      '(unreachable): garbage the collector has not freed yet.' }));
}

async function whyAlive(type, button) {
  const id = state.selected, run = ++whyRun;
  const box = $('#why');
  box.dataset.type = type;
  delete box.dataset.snapshot;
  await busy(button, async () => {
    showResult(box, `taking a heap snapshot to see what keeps ${type} alive…`);
    try {
      const snap = await post(`/api/v1/apps/${id}/heapsnapshot`);
      if (run !== whyRun) return;
      showResult(box, `heap snapshot #${snap.id} taken: grouping the ${type} objects by retainer path…`);
      const r = await get(`/api/v1/apps/${id}/heapsnapshots/${snap.id}/retainers?type=` +
                          `${encodeURIComponent(type)}&limit=${WHY_LIMIT}`);
      if (run !== whyRun) return;
      showResult(box, whyView(id, type, snap, r));
      box.dataset.snapshot = String(snap.id);
    } catch (e) {
      if (run === whyRun) showError(box, e);
    }
  });
}

$('#types tbody').addEventListener('click', (e) => {
  const b = e.target.closest('button.why');
  if (b && !b.disabled) whyAlive(b.dataset.type, b);
});

// ---- Start ------------------------------------------------------------------------------------------------------

// Relative times in the apps list move even when nothing else does.
setInterval(scheduleRender, 5000);

updateMode();
loadCharts().then(() => { connect(); scheduleRender(); });
