import { describe, expect, it } from 'vitest';
import { referenceLines } from './scene';

const pts = (a: Float32Array) => Array.from({ length: a.length / 3 }, (_, i) => [a[i * 3], a[i * 3 + 1], a[i * 3 + 2]]);

describe('referenceLines', () => {
  it('the cube: 12 edges of [-1, 1]³', () => {
    const p = pts(referenceLines('euclidean'));
    expect(p.length).toBe(24);
    for (const v of p) for (const x of v) expect(Math.abs(x)).toBe(1);
  });
  it('the sphere (spherical and hyperbolic): every vertex on the unit sphere', () => {
    for (const g of ['spherical', 'hyperbolic'] as const) {
      const p = pts(referenceLines(g));
      expect(p.length).toBeGreaterThan(100);
      for (const v of p) expect(Math.hypot(v[0], v[1], v[2])).toBeCloseTo(1, 5);
    }
  });
  it('the paraboloid: every vertex on z = x² + y²', () => {
    const p = pts(referenceLines('parabolic'));
    expect(p.length).toBeGreaterThan(100);
    for (const v of p) expect(v[2]).toBeCloseTo(v[0] * v[0] + v[1] * v[1], 5);
  });
});
