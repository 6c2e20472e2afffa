// Numbers for humans: binary byte units, durations from nanoseconds, grouped counts, relative times.

const COUNT = new Intl.NumberFormat('en-US');

export function count(n) {
  return n == null || !Number.isFinite(n) ? '—' : COUNT.format(n);
}

export function signed(n) {
  if (n == null || !Number.isFinite(n)) return '—';
  return (n > 0 ? '+' : '') + COUNT.format(n);
}

export function bytes(n) {
  if (n == null || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  const digits = i === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
  return (n < 0 ? '-' : '') + v.toFixed(digits) + ' ' + units[i];
}

export function duration(ns) {
  if (ns == null || !Number.isFinite(ns)) return '—';
  const a = Math.abs(ns);
  if (a < 1e3) return ns.toFixed(0) + ' ns';
  if (a < 1e6) return (ns / 1e3).toFixed(a < 1e4 ? 2 : 1) + ' µs';
  if (a < 1e9) return (ns / 1e6).toFixed(a < 1e7 ? 2 : 1) + ' ms';
  return (ns / 1e9).toFixed(2) + ' s';
}

export function percent(x) {
  return x == null || !Number.isFinite(x) ? '—' : (x * 100).toFixed(x < 0.1 ? 1 : 0) + ' %';
}

// "12 s ago", "3 min ago" from a Unix time in seconds.
export function ago(t, now = Date.now() / 1000) {
  if (!t) return '—';
  const d = Math.max(0, now - t);
  if (d < 1.5) return 'just now';
  if (d < 90) return Math.round(d) + ' s ago';
  if (d < 5400) return Math.round(d / 60) + ' min ago';
  if (d < 129600) return Math.round(d / 3600) + ' h ago';
  return Math.round(d / 86400) + ' d ago';
}

export function clock(t) {
  return t ? new Date(t * 1000).toLocaleTimeString() : '—';
}
