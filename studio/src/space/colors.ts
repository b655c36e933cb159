// Colours of the points. A numeric payload field goes through a perceptual ramp (the
// viridis colour map, sampled at nine stops and interpolated linearly in sRGB: lightness
// rises monotonically from dark violet to yellow, readable by most colour-blind viewers);
// a categorical field gets one hue per category, spaced by the golden angle so neighbouring
// codes differ strongly. Points without a value are drawn in a neutral grey.
export type RGB = [number, number, number]; // 0..1

const VIRIDIS: RGB[] = [
  [0.267, 0.005, 0.329],
  [0.283, 0.141, 0.458],
  [0.254, 0.265, 0.53],
  [0.207, 0.372, 0.553],
  [0.164, 0.471, 0.558],
  [0.128, 0.567, 0.551],
  [0.135, 0.659, 0.518],
  [0.478, 0.821, 0.318],
  [0.993, 0.906, 0.144],
];
export const MISSING: RGB = [0.55, 0.55, 0.55];

// t in [0, 1] (clamped) to the ramp.
export function ramp(t: number): RGB {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

export function hslToRgb(h: number, s: number, l: number): RGB {
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [f(0), f(8), f(4)];
}

// Category i's colour (i >= 0).
export function categoryColor(i: number): RGB {
  return hslToRgb((i * 137.508) % 360, 0.7, i % 2 ? 0.45 : 0.6);
}

export const toCss = (c: RGB) => `rgb(${c.map((v) => Math.round(v * 255)).join(', ')})`;

// Per-point colours, float RGB triples, for the colour attribute.
export function numberColors(values: (number | null)[], min: number, max: number): Float32Array {
  const out = new Float32Array(values.length * 3);
  const span = max - min;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const c = v === null || !Number.isFinite(v) ? MISSING : ramp(span > 0 ? (v - min) / span : 0.5);
    out.set(c, i * 3);
  }
  return out;
}

export function categoryColors(codes: number[]): Float32Array {
  const out = new Float32Array(codes.length * 3);
  const cache = new Map<number, RGB>();
  for (let i = 0; i < codes.length; i++) {
    const k = codes[i];
    let c = cache.get(k);
    if (!c) cache.set(k, (c = k < 0 ? MISSING : categoryColor(k)));
    out.set(c, i * 3);
  }
  return out;
}

export function uniformColors(count: number, c: RGB): Float32Array {
  const out = new Float32Array(count * 3);
  for (let i = 0; i < count; i++) out.set(c, i * 3);
  return out;
}

// A CSS colour ("#rrggbb", "#rgb" or "rgb(r, g, b)") to RGB; null when it is neither.
export function parseCss(s: string): RGB | null {
  const t = s.trim();
  let m = /^#([0-9a-f]{6})$/i.exec(t);
  if (m) return [0, 2, 4].map((o) => parseInt(m![1].slice(o, o + 2), 16) / 255) as RGB;
  m = /^#([0-9a-f]{3})$/i.exec(t);
  if (m) return [0, 1, 2].map((o) => parseInt(m![1][o] + m![1][o], 16) / 255) as RGB;
  m = /^rgba?\(\s*(\d+)[\s,]+(\d+)[\s,]+(\d+)/i.exec(t);
  if (m) return [1, 2, 3].map((o) => Number(m![o]) / 255) as RGB;
  return null;
}
