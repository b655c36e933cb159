import { describe, expect, it } from 'vitest';
import { Matrix4, PerspectiveCamera, Vector3 } from 'three';
import { pointInPolygon, projectToScreen, ScreenGrid } from './picking';

function rnd(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
}

function screenCloud(n: number, w: number, h: number) {
  const r = rnd(3);
  const sx = new Float32Array(n), sy = new Float32Array(n), depth = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    sx[i] = r() * w;
    sy[i] = r() * h;
    depth[i] = r() * 2 - 1;
  }
  sx[5] = NaN; // off screen
  return { sx, sy, depth };
}

describe('projectToScreen', () => {
  it('agrees with three.js Vector3.project and marks points behind the camera', () => {
    const cam = new PerspectiveCamera(50, 800 / 600, 0.1, 100);
    cam.position.set(1, 2, 4);
    cam.lookAt(0, 0, 0);
    cam.updateMatrixWorld();
    const m = new Matrix4().multiplyMatrices(cam.projectionMatrix, cam.matrixWorldInverse);
    const pos = new Float32Array([0, 0, 0, 0.5, -0.3, 0.2, -0.8, 0.4, -0.6, 2, 4, 8]); // the last is behind the camera
    const sx = new Float32Array(4), sy = new Float32Array(4), d = new Float32Array(4);
    projectToScreen(pos, m.elements, 800, 600, sx, sy, d);
    for (let i = 0; i < 3; i++) {
      const v = new Vector3(pos[i * 3], pos[i * 3 + 1], pos[i * 3 + 2]).project(cam);
      expect(sx[i]).toBeCloseTo(((v.x + 1) / 2) * 800, 2);
      expect(sy[i]).toBeCloseTo(((1 - v.y) / 2) * 600, 2);
      expect(d[i]).toBeCloseTo(v.z, 4);
    }
    expect(Number.isNaN(sx[3])).toBe(true);
    expect(sx[0]).toBeCloseTo(400, 2); // the look-at point is the centre
    expect(sy[0]).toBeCloseTo(300, 2);
  });
});

describe('ScreenGrid', () => {
  const W = 640, H = 480, N = 20000;
  const { sx, sy, depth } = screenCloud(N, W, H);
  const grid = new ScreenGrid(sx, sy, depth, W, H, 16);

  it('holds every on-screen point once', () => {
    expect(grid.visible).toBe(N - 1);
  });

  it('nearest agrees with a brute-force search', () => {
    const r = rnd(11);
    for (let q = 0; q < 300; q++) {
      const x = r() * W, y = r() * H, rad = 6;
      let best = -1, bd = rad * rad;
      for (let i = 0; i < N; i++) {
        if (Number.isNaN(sx[i])) continue;
        const d = (sx[i] - x) ** 2 + (sy[i] - y) ** 2;
        if (d < bd) (bd = d), (best = i);
      }
      const got = grid.nearest(x, y, rad);
      if (best < 0) expect(got).toBe(-1);
      else expect((sx[got] - x) ** 2 + (sy[got] - y) ** 2).toBeLessThanOrEqual(bd + 0.26);
    }
  });

  it('prefers the point nearer the camera at the same spot', () => {
    const g = new ScreenGrid(new Float32Array([10, 10]), new Float32Array([10, 10]), new Float32Array([0.5, -0.2]), 100, 100);
    expect(g.nearest(10, 10, 4)).toBe(1);
  });

  it('box selection is exactly the points inside the rectangle, either drag direction', () => {
    const want: number[] = [];
    for (let i = 0; i < N; i++) if (sx[i] >= 100 && sx[i] <= 300 && sy[i] >= 50 && sy[i] <= 170) want.push(i);
    expect(grid.inBox(100, 50, 300, 170)).toEqual(want);
    expect(grid.inBox(300, 170, 100, 50)).toEqual(want);
    expect(want.length).toBeGreaterThan(100);
  });

  it('lasso selection is exactly the points inside the polygon', () => {
    const tri: [number, number][] = [[50, 50], [400, 80], [200, 400]];
    const want: number[] = [];
    for (let i = 0; i < N; i++) if (!Number.isNaN(sx[i]) && pointInPolygon(sx[i], sy[i], tri)) want.push(i);
    expect(grid.inPolygon(tri)).toEqual(want);
    expect(want.length).toBeGreaterThan(1000);
    expect(grid.inPolygon([[1, 1], [2, 2]])).toEqual([]);
  });
});

describe('pointInPolygon', () => {
  it('handles a concave polygon', () => {
    const u: [number, number][] = [[0, 0], [10, 0], [10, 10], [7, 10], [7, 3], [3, 3], [3, 10], [0, 10]];
    expect(pointInPolygon(1, 5, u)).toBe(true);
    expect(pointInPolygon(5, 5, u)).toBe(false); // in the notch
    expect(pointInPolygon(5, 1, u)).toBe(true);
    expect(pointInPolygon(11, 5, u)).toBe(false);
  });
});
