// Screen-space picking and selection for up to millions of points without raycasting.
// When the camera stops, every point is projected once to screen pixels (projectToScreen)
// and bucketed into a grid of square cells (ScreenGrid, counting sort into flat arrays).
// Hover looks only at the cells around the cursor; box and lasso selection look only at
// the cells their bounding box covers. While the camera moves the grid is stale and
// hover is off; it is rebuilt when the camera stops.

// Projects positions (x,y,z per point) through a column-major 4×4 model-view-projection
// matrix to CSS pixels of a width × height canvas (origin top-left). Points behind the
// camera or outside the view get sx = NaN. depth: NDC z in [-1, 1] (smaller is nearer).
export function projectToScreen(
  pos: Float32Array,
  m: ArrayLike<number>,
  width: number,
  height: number,
  sx: Float32Array,
  sy: Float32Array,
  depth: Float32Array,
): void {
  const n = pos.length / 3;
  for (let i = 0; i < n; i++) {
    const x = pos[i * 3], y = pos[i * 3 + 1], z = pos[i * 3 + 2];
    const w = m[3] * x + m[7] * y + m[11] * z + m[15];
    if (w <= 0) {
      sx[i] = NaN;
      continue;
    }
    const cx = (m[0] * x + m[4] * y + m[8] * z + m[12]) / w;
    const cy = (m[1] * x + m[5] * y + m[9] * z + m[13]) / w;
    const cz = (m[2] * x + m[6] * y + m[10] * z + m[14]) / w;
    if (cx < -1 || cx > 1 || cy < -1 || cy > 1 || cz < -1 || cz > 1) {
      sx[i] = NaN;
      continue;
    }
    sx[i] = ((cx + 1) / 2) * width;
    sy[i] = ((1 - cy) / 2) * height;
    depth[i] = cz;
  }
}

export class ScreenGrid {
  readonly cols: number;
  readonly rows: number;
  private start: Uint32Array; // cell c holds items[start[c] .. start[c + 1])
  private items: Uint32Array;

  constructor(
    readonly sx: Float32Array,
    readonly sy: Float32Array,
    readonly depth: Float32Array,
    readonly width: number,
    readonly height: number,
    readonly cell = 16,
  ) {
    this.cols = Math.max(1, Math.ceil(width / cell));
    this.rows = Math.max(1, Math.ceil(height / cell));
    const cells = this.cols * this.rows;
    const n = sx.length;
    const cellOf = new Int32Array(n);
    const counts = new Uint32Array(cells + 1);
    for (let i = 0; i < n; i++) {
      const x = sx[i];
      if (Number.isNaN(x)) {
        cellOf[i] = -1;
        continue;
      }
      const c = this.cellIndex(x, sy[i]);
      cellOf[i] = c;
      counts[c + 1]++;
    }
    for (let c = 0; c < cells; c++) counts[c + 1] += counts[c];
    this.start = counts;
    this.items = new Uint32Array(counts[cells]);
    const fill = counts.slice(0, cells);
    for (let i = 0; i < n; i++) if (cellOf[i] >= 0) this.items[fill[cellOf[i]]++] = i;
  }

  private cellIndex(x: number, y: number): number {
    const cx = Math.min(this.cols - 1, Math.max(0, Math.floor(x / this.cell)));
    const cy = Math.min(this.rows - 1, Math.max(0, Math.floor(y / this.cell)));
    return cy * this.cols + cx;
  }

  get visible(): number {
    return this.items.length;
  }

  // Calls f for every visible point whose cell meets the rectangle.
  private each(x0: number, y0: number, x1: number, y1: number, f: (i: number) => void): void {
    const c0 = Math.max(0, Math.floor(x0 / this.cell)), c1 = Math.min(this.cols - 1, Math.floor(x1 / this.cell));
    const r0 = Math.max(0, Math.floor(y0 / this.cell)), r1 = Math.min(this.rows - 1, Math.floor(y1 / this.cell));
    for (let r = r0; r <= r1; r++)
      for (let c = c0; c <= c1; c++) {
        const k = r * this.cols + c;
        for (let j = this.start[k]; j < this.start[k + 1]; j++) f(this.items[j]);
      }
  }

  // The point nearest to (x, y) within radius pixels; among points at the same spot the
  // one nearest the camera. -1 when none.
  nearest(x: number, y: number, radius: number): number {
    let best = -1, bestD = radius * radius, bestZ = Infinity;
    this.each(x - radius, y - radius, x + radius, y + radius, (i) => {
      const dx = this.sx[i] - x, dy = this.sy[i] - y;
      const d = dx * dx + dy * dy;
      const z = this.depth[i];
      if (d < bestD - 0.25 || (d <= bestD + 0.25 && z < bestZ)) {
        best = i;
        bestD = Math.min(d, bestD);
        bestZ = z;
      }
    });
    return best;
  }

  inBox(x0: number, y0: number, x1: number, y1: number): number[] {
    const [ax, bx] = x0 < x1 ? [x0, x1] : [x1, x0];
    const [ay, by] = y0 < y1 ? [y0, y1] : [y1, y0];
    const out: number[] = [];
    this.each(ax, ay, bx, by, (i) => {
      const px = this.sx[i], py = this.sy[i];
      if (px >= ax && px <= bx && py >= ay && py <= by) out.push(i);
    });
    return out.sort((a, b) => a - b);
  }

  inPolygon(poly: [number, number][]): number[] {
    if (poly.length < 3) return [];
    let ax = Infinity, ay = Infinity, bx = -Infinity, by = -Infinity;
    for (const [x, y] of poly) {
      ax = Math.min(ax, x);
      ay = Math.min(ay, y);
      bx = Math.max(bx, x);
      by = Math.max(by, y);
    }
    const out: number[] = [];
    this.each(ax, ay, bx, by, (i) => {
      if (pointInPolygon(this.sx[i], this.sy[i], poly)) out.push(i);
    });
    return out.sort((a, b) => a - b);
  }
}

// Even-odd rule: a ray to the right crosses the polygon's edges an odd number of times.
export function pointInPolygon(x: number, y: number, poly: [number, number][]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
