import { describe, expect, it } from 'vitest';
import { boundsOf, hyperbolic, normalise, parabolic, place, spherical } from './geometry';

function cloud(n: number, seed = 7): Float32Array {
  let s = seed;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const a = new Float32Array(n * 3);
  // stretched and shifted: extents 20, 4, 1 around (100, -5, 3)
  for (let i = 0; i < n; i++) {
    a[i * 3] = 100 + 10 * r();
    a[i * 3 + 1] = -5 + 2 * r();
    a[i * 3 + 2] = 3 + 0.5 * r();
  }
  return a;
}
const norm = (p: Float32Array, i: number) => Math.hypot(p[i * 3], p[i * 3 + 1], p[i * 3 + 2]);

describe('normalise', () => {
  it('puts the bounds into [-1, 1]³ with one scale, the largest axis spanning it', () => {
    const c = cloud(2000);
    const b = boundsOf(c);
    const n = normalise(c, b);
    const nb = boundsOf(n);
    for (let a = 0; a < 3; a++) {
      expect(nb.min[a]).toBeGreaterThanOrEqual(-1 - 1e-6);
      expect(nb.max[a]).toBeLessThanOrEqual(1 + 1e-6);
    }
    expect(nb.min[0]).toBeCloseTo(-1, 5);
    expect(nb.max[0]).toBeCloseTo(1, 5);
    // the shape is kept: the ratio of extents x : y is the input's
    const ratio = (nb.max[0] - nb.min[0]) / (nb.max[1] - nb.min[1]);
    expect(ratio).toBeCloseTo((b.max[0] - b.min[0]) / (b.max[1] - b.min[1]), 4);
  });
  it('moves a cloud of zero extent to the origin without dividing by zero', () => {
    const c = new Float32Array([5, 5, 5, 5, 5, 5]);
    expect([...normalise(c, boundsOf(c))]).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('spherical', () => {
  it('puts every point on the unit sphere', () => {
    const p = place(cloud(3000), boundsOf(cloud(3000)), 'spherical');
    for (let i = 0; i < 3000; i++) expect(Math.abs(norm(p, i) - 1)).toBeLessThan(1e-6);
  });
  it('keeps the direction from the mean', () => {
    const p = spherical(new Float32Array([2, 0, 0, -2, 0, 0, 0, 3, 0, 0, -3, 0]));
    expect([...p.slice(0, 3)]).toEqual([1, 0, 0]);
    expect([...p.slice(6, 9)]).toEqual([0, 1, 0]);
  });
  it('sends a point at the mean to (0, 0, 1)', () => {
    expect([...spherical(new Float32Array([1, 1, 1]))]).toEqual([0, 0, 1]);
  });
});

describe('hyperbolic', () => {
  it('keeps every point strictly inside the unit ball, the corners of the cube too', () => {
    const c = cloud(3000);
    const p = place(c, boundsOf(c), 'hyperbolic');
    for (let i = 0; i < 3000; i++) expect(norm(p, i)).toBeLessThan(1);
    const corner = hyperbolic(new Float32Array([1, 1, 1, -1, -1, -1]));
    expect(norm(corner, 0)).toBeCloseTo(Math.tanh(Math.sqrt(3)), 6);
  });
  it('maps radius r to tanh(r), keeps the direction and the origin', () => {
    const p = hyperbolic(new Float32Array([0.5, 0, 0, 0, 0, 0, 0, -2, 0]));
    expect(p[0]).toBeCloseTo(Math.tanh(0.5), 6);
    expect([...p.slice(3, 6)]).toEqual([0, 0, 0]);
    expect(p[7]).toBeCloseTo(-Math.tanh(2), 6);
    expect(p[6]).toBe(0);
  });
  it('is monotone in the radius: order of distances from the centre is kept', () => {
    const c = cloud(500);
    const n = normalise(c, boundsOf(c));
    const p = hyperbolic(n);
    for (let i = 1; i < 500; i++) expect(Math.sign(norm(p, i) - norm(p, i - 1))).toBe(Math.sign(norm(n, i) - norm(n, i - 1)));
  });
});

describe('parabolic', () => {
  it('lifts (x, y) to z = x² + y²', () => {
    const p = parabolic(new Float32Array([0.5, -0.5, 0.9, 1, 0, 0, 0, 0, -1]));
    expect([...p.slice(0, 3)]).toEqual([0.5, -0.5, 0.5]);
    expect([...p.slice(3, 6)]).toEqual([1, 0, 1]);
    expect([...p.slice(6, 9)]).toEqual([0, 0, 0]);
  });
  it('puts every point on the paraboloid, z in [0, 2]', () => {
    const c = cloud(1000);
    const p = place(c, boundsOf(c), 'parabolic');
    for (let i = 0; i < 1000; i++) {
      const [x, y, z] = [p[i * 3], p[i * 3 + 1], p[i * 3 + 2]];
      expect(Math.abs(z - (x * x + y * y))).toBeLessThan(1e-6);
      expect(z).toBeGreaterThanOrEqual(0);
      expect(z).toBeLessThanOrEqual(2 + 1e-6);
    }
  });
});

describe('euclidean', () => {
  it('is the normalised projection', () => {
    const c = cloud(100);
    expect([...place(c, boundsOf(c), 'euclidean')]).toEqual([...normalise(c, boundsOf(c))]);
  });
});
