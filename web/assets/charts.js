// The time-series charts of one app, drawn with uPlot (pinned in web/package.json, embedded in memscoped).
// uPlot is loaded lazily: a build without web/node_modules has no uPlot, and the page then says so instead of
// failing to load at all.

import { bytes, count, duration } from './format.js';

let UPlot = null;
export async function loadCharts() {
  try {
    UPlot = (await import('./vendor/uPlot.esm.js')).default;
    return true;
  } catch {
    return false;
  }
}

const AXIS = { stroke: '#9aa4b2', grid: { stroke: '#262d38', width: 1 }, ticks: { stroke: '#262d38', width: 1 } };
const COLORS = ['#4cc2ff', '#f5a524', '#b48cff', '#3ddc97', '#ff6b6b'];

// The four charts: which columns of the series they draw and how their values read.
export const CHARTS = [
  { id: 'heap', title: 'Heap in use', fmt: bytes,
    series: [{ label: 'pool', col: 'pool', fill: true }, { label: 'system', col: 'system', fill: true }] },
  { id: 'objects', title: 'Objects alive', fmt: count, series: [{ label: 'alive', col: 'objects', fill: true }] },
  { id: 'collections', title: 'GC collections (total)', fmt: count,
    series: [{ label: 'gen 0', col: 'gc0' }, { label: 'gen 1', col: 'gc1' }, { label: 'gen 2', col: 'gc2' }] },
  { id: 'pauses', title: 'GC pauses', fmt: duration,
    series: [{ label: 'longest pause', col: 'pauseMax' }, { label: 'pause time per sample', col: 'pauseDelta' }] },
];

// Columns of one app's history: built from GET .../history, then extended with each stats event.
export class Series {
  constructor() {
    this.cols = { time: [], pool: [], system: [], objects: [], gc0: [], gc1: [], gc2: [], pauseMax: [],
                  pauseTotal: [], pauseDelta: [], garbage: [] };
  }

  static fromHistory(h) {
    const s = new Series();
    const n = (h.time || []).length;
    for (let i = 0; i < n; i++) {
      s.push(h.time[i], h.pool_bytes[i], h.system_bytes[i], h.objects_alive[i],
             (h.gc_collections || [[], [], []]).map((g) => g[i] ?? 0), h.gc_pause_total_ns[i], h.gc_pause_max_ns[i],
             h.garbage[i]);
    }
    return s;
  }

  get length() { return this.cols.time.length; }

  push(t, pool, system, objects, gcs, pauseTotal, pauseMax, garbage) {
    const c = this.cols;
    const prevTotal = c.pauseTotal.length ? c.pauseTotal[c.pauseTotal.length - 1] : pauseTotal;
    c.time.push(t); c.pool.push(pool); c.system.push(system); c.objects.push(objects);
    c.gc0.push(gcs[0] ?? 0); c.gc1.push(gcs[1] ?? 0); c.gc2.push(gcs[2] ?? 0);
    c.pauseTotal.push(pauseTotal); c.pauseMax.push(pauseMax); c.garbage.push(garbage);
    c.pauseDelta.push(Math.max(0, (pauseTotal ?? 0) - (prevTotal ?? 0)));
  }

  // A stats document (GET /api/v1/apps/{id} or an SSE stats event); ignored unless newer than the last point.
  pushDoc(doc) {
    const last = this.cols.time[this.cols.time.length - 1];
    if (last !== undefined && doc.time <= last) return false;
    const heap = doc.heap || {}, gc = doc.gc || {}, gens = gc.generations || [];
    this.push(doc.time, heap.pool_bytes_in_use ?? null, heap.system_bytes_in_use ?? null,
              (doc.refcount || {}).objects_alive ?? null, gens.map((g) => g.collections ?? 0),
              gc.pause_total_ns ?? null, gc.pause_max_ns ?? null, gc.garbage ?? null);
    return true;
  }

  // Drops points older than `seconds` before the newest one.
  trim(seconds) {
    const t = this.cols.time;
    if (!t.length) return;
    const cut = t[t.length - 1] - seconds;
    let k = 0;
    while (k < t.length && t[k] < cut) k++;
    if (k) for (const key of Object.keys(this.cols)) this.cols[key].splice(0, k);
  }
}

export class ChartSet {
  constructor(root) {
    this.root = root;
    this.plots = [];
    this.figures = [];
    for (const spec of CHARTS) {
      const fig = document.createElement('figure');
      fig.className = 'chart';
      fig.id = 'chart-' + spec.id;
      fig.dataset.points = '0';
      const cap = document.createElement('figcaption');
      cap.textContent = spec.title;
      const box = document.createElement('div');
      box.className = 'plot';
      fig.append(cap, box);
      root.append(fig);
      this.figures.push({ fig, box, spec });
    }
    if (UPlot) {
      this.observer = new ResizeObserver(() => this.resize());
      this.observer.observe(root);
    } else {
      const p = document.createElement('p');
      p.className = 'muted';
      p.textContent = 'Charts are unavailable: this memscoped was built without uPlot (run `npm ci` in web/).';
      root.prepend(p);
    }
  }

  ensure() {
    if (!UPlot || this.plots.length) return;
    for (const { box, spec } of this.figures) {
      const width = Math.max(200, box.clientWidth || 400);
      const opts = {
        width, height: 170,
        legend: { show: true, live: true },
        cursor: { points: { size: 6 } },
        scales: { x: { time: true } },
        axes: [
          { ...AXIS },
          { ...AXIS, size: 70, values: (u, vals) => vals.map((v) => spec.fmt(v)) },
        ],
        series: [
          { value: (u, v) => (v == null ? '—' : new Date(v * 1000).toLocaleTimeString()) },
          ...spec.series.map((s, i) => ({
            label: s.label, stroke: COLORS[i], width: 1.5,
            fill: s.fill ? COLORS[i] + '22' : undefined,
            value: (u, v) => (v == null ? '—' : spec.fmt(v)),
            paths: spec.id === 'collections' ? UPlot.paths.stepped({ align: 1 }) : undefined,
          })),
        ],
      };
      this.plots.push(new UPlot(opts, [[], ...spec.series.map(() => [])], box));
    }
  }

  resize() {
    this.figures.forEach(({ box }, i) => {
      const p = this.plots[i];
      if (p && box.clientWidth) p.setSize({ width: box.clientWidth, height: 170 });
    });
  }

  update(series) {
    const n = series.length;
    this.figures.forEach(({ fig }) => { fig.dataset.points = String(n); });
    if (!UPlot) return;
    this.ensure();
    this.figures.forEach(({ spec }, i) => {
      this.plots[i].setData([series.cols.time, ...spec.series.map((s) => series.cols[s.col])]);
    });
  }
}
