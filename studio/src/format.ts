// Number, size and time formatting shared by every page (en-US digits grouping).

const grouped = new Intl.NumberFormat('en-US');

export function formatCount(n: number): string {
  return Number.isFinite(n) ? grouped.format(n) : '—';
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  if (ms < 10000) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '—';
  return perSecond < 10 ? perSecond.toFixed(2) : perSecond < 1000 ? perSecond.toFixed(1) : grouped.format(Math.round(perSecond));
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

export function formatScore(x: number): string {
  return Number.isFinite(x) ? (Math.abs(x) >= 1000 ? x.toFixed(1) : x.toPrecision(6).replace(/\.?0+$/, '')) : '—';
}

// "[0.125, -0.5, 0.75, … 125 more]" — the first `show` components of a vector.
export function vectorPreview(v: number[] | null | undefined, show = 6): string {
  if (!v) return '—';
  if (v.length === 0) return '[]';
  const head = v.slice(0, show).map((x) => (Number.isInteger(x) ? String(x) : x.toFixed(3)));
  return v.length > show ? `[${head.join(', ')}, … ${v.length - show} more]` : `[${head.join(', ')}]`;
}

export function truncate(s: string, max: number): string {
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

// Parses a pasted vector: JSON "[1, 2, 3]" or numbers separated by commas or spaces.
export function parseVector(text: string): number[] {
  const t = text.trim();
  if (!t) throw new Error('the vector is empty');
  const body = t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t;
  const parts = body.split(/[\s,]+/).filter((p) => p !== '');
  const v = parts.map((p, i) => {
    const x = Number(p);
    if (!Number.isFinite(x)) throw new Error(`component ${i}: "${p}" is not a finite number`);
    return x;
  });
  if (v.length === 0) throw new Error('the vector is empty');
  return v;
}
