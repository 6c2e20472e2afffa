// Pool pinning (issue 16): GET .../pools/pinning, as the "Pools by size class" panel shows it. A pool whose live
// bytes are at most max_utilization of its size is pinned: its few live blocks keep it (and an arena whose other
// pools are empty) from going back to the OS. The waste is charged in equal shares to those blocks: to their
// allocation site (while the app traces), their size class and their type (GC-tracked objects only). Nothing
// here becomes markup: the caller renders the texts with textContent.
import { bytes, count, percent, ago } from './format.js';

export const PINNING_LIMIT = 20;

// The query of one walk: the threshold as the select holds it ("0.25"), a fraction of the pool's size.
export function pinningQuery(maxUtilization) {
  return `max_utilization=${encodeURIComponent(maxUtilization)}&limit=${PINNING_LIMIT}`;
}

const plural = (n, one, many = one + 's') => `${count(n)} ${n === 1 ? one : many}`;

// "390 pinned pools" and what follows it on the summary line.
export function pinningHeadline(r) {
  return [plural(r.pinned_pools, 'pinned pool'),
          r.pinned_pools ? ` · ${bytes(r.wasted_bytes)} wasted · ${plural(r.pinned_blocks, 'live block')} pin them` +
                           (r.pinned_arenas ? ` · ${plural(r.pinned_arenas, 'arena')} kept mapped by them only` : '')
                         : ` · no pool is used at most ${percent(r.max_utilization)}`];
}

// The split of the waste and the walk's cost, in one line.
export function pinningDetail(r) {
  return `pools used at most ${percent(r.max_utilization)}: ${bytes(r.pool_wasted_bytes)} free inside them, ` +
    `${bytes(r.arena_wasted_bytes)} in the empty pools of the arenas they keep · the app walked ` +
    `${count(r.pools_walked)} pools and ${count(r.objects_walked)} objects in ${walkTime(r.walk_ms)}`;
}

function walkTime(ms) {
  if (ms == null || !Number.isFinite(ms)) return '—';
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

// Why the sites table is empty or short, or null: sites need tracing, and blocks allocated before tracing began
// have none.
export function pinningSiteHint(r) {
  if (!r.pinned_pools) return null;
  if (!r.tracing) {
    return 'Allocation sites need tracing: start it in the Tracing panel, then find the pinned pools again.';
  }
  if (r.untraced_blocks) {
    return `${plural(r.untraced_blocks, 'block')} (${bytes(r.untraced_wasted_bytes)} of the waste) were ` +
           'allocated before tracing began: no site.';
  }
  return null;
}

// "3 s ago": the age of a site's oldest block in a pinned pool.
function age(s, now = Date.now() / 1000) {
  return s == null || !Number.isFinite(s) ? '—' : ago(now - Math.max(0, s), now);
}

// The cells of one row of each table: [text, is-number] each.
export function siteCells(s) {
  return [[String(s.site ?? '?'), false], [count(s.pools), true], [count(s.blocks), true],
          [bytes(s.wasted_bytes), true], [age(s.oldest_age_s), true]];
}

export function classCells(c) {
  return [[`${c.size} B`, false], [count(c.pinned_pools), true], [count(c.blocks), true],
          [bytes(c.wasted_bytes), true]];
}

export function typeCells(t) {
  return [[String(t.type ?? '?'), false], [count(t.pools), true], [count(t.blocks), true],
          [bytes(t.wasted_bytes), true]];
}
