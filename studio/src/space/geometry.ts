// The four geometries of the 3D Space page. Each maps the projection's 3-d coordinates
// (float32, x,y,z per point) to positions in the scene; each is a pure function of the
// coordinates and the projection's bounds, so the same input always draws the same picture
// and the unit tests can check the shape (inside the ball, on the sphere, ...).
//
// Every geometry starts from the same normalisation: the bounds' centre goes to the origin
// and one scale for all three axes (half the largest extent) brings the cloud into the cube
// [-1, 1]³ without changing its shape (a flat PCA cloud stays flat).
//   euclidean   p = n                                   (the normalised projection)
//   spherical   p = (n - m) / |n - m|                   (m: the mean of the normalised points;
//                                                        a point at m goes to (0, 0, 1))
//   hyperbolic  p = tanh(|n|) · n / |n|                 (Poincaré ball: |p| < 1; the origin stays)
//   parabolic   p = (n.x, n.y, n.x² + n.y²)             (the paraboloid lift of the first two
//                                                        coordinates, z ∈ [0, 2])
export type Geometry = 'euclidean' | 'spherical' | 'hyperbolic' | 'parabolic';
export const GEOMETRIES: Geometry[] = ['euclidean', 'spherical', 'hyperbolic', 'parabolic'];
export const GEOMETRY_LABELS: Record<Geometry, string> = {
  euclidean: 'Euclidean (unit cube)',
  spherical: 'Spherical (unit sphere)',
  hyperbolic: 'Hyperbolic (Poincaré ball)',
  parabolic: 'Parabolic (paraboloid lift)',
};

export interface Bounds {
  min: number[];
  max: number[];
}

// Bounds of the coordinates themselves (used when the server's are absent or for tests).
export function boundsOf(coords: Float32Array): Bounds {
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < coords.length; i += 3)
    for (let a = 0; a < 3; a++) {
      const v = coords[i + a];
      if (v < min[a]) min[a] = v;
      if (v > max[a]) max[a] = v;
    }
  if (coords.length === 0) return { min: [0, 0, 0], max: [0, 0, 0] };
  return { min, max };
}

// Into [-1, 1]³: centre of the bounds to the origin, one scale for every axis. A cloud of
// zero extent (one point, or all equal) is only moved.
export function normalise(coords: Float32Array, b: Bounds): Float32Array {
  const c = [0, 1, 2].map((a) => (b.min[a] + b.max[a]) / 2);
  const half = Math.max(...[0, 1, 2].map((a) => (b.max[a] - b.min[a]) / 2));
  const s = half > 0 && Number.isFinite(half) ? 1 / half : 1;
  const out = new Float32Array(coords.length);
  for (let i = 0; i < coords.length; i += 3) {
    out[i] = (coords[i] - c[0]) * s;
    out[i + 1] = (coords[i + 1] - c[1]) * s;
    out[i + 2] = (coords[i + 2] - c[2]) * s;
  }
  return out;
}

export function spherical(n: Float32Array): Float32Array {
  const count = n.length / 3;
  const m = [0, 0, 0];
  for (let i = 0; i < n.length; i += 3) for (let a = 0; a < 3; a++) m[a] += n[i + a];
  if (count > 0) for (let a = 0; a < 3; a++) m[a] /= count;
  const out = new Float32Array(n.length);
  for (let i = 0; i < n.length; i += 3) {
    const x = n[i] - m[0], y = n[i + 1] - m[1], z = n[i + 2] - m[2];
    const r = Math.hypot(x, y, z);
    if (r > 0) {
      out[i] = x / r;
      out[i + 1] = y / r;
      out[i + 2] = z / r;
    } else out[i + 2] = 1;
  }
  return out;
}

export function hyperbolic(n: Float32Array): Float32Array {
  const out = new Float32Array(n.length);
  for (let i = 0; i < n.length; i += 3) {
    const r = Math.hypot(n[i], n[i + 1], n[i + 2]);
    const f = r > 0 ? Math.tanh(r) / r : 0;
    out[i] = n[i] * f;
    out[i + 1] = n[i + 1] * f;
    out[i + 2] = n[i + 2] * f;
  }
  return out;
}

export function parabolic(n: Float32Array): Float32Array {
  const out = new Float32Array(n.length);
  for (let i = 0; i < n.length; i += 3) {
    out[i] = n[i];
    out[i + 1] = n[i + 1];
    out[i + 2] = n[i] * n[i] + n[i + 1] * n[i + 1];
  }
  return out;
}

export function place(coords: Float32Array, b: Bounds, g: Geometry): Float32Array {
  const n = normalise(coords, b);
  if (g === 'spherical') return spherical(n);
  if (g === 'hyperbolic') return hyperbolic(n);
  if (g === 'parabolic') return parabolic(n);
  return n;
}
