// The Three.js scene of the 3D Space page. One THREE.Points over a BufferGeometry holds
// every point (attributes position, color and mark; a small ShaderMaterial draws round
// points whose size shrinks with distance; with a selection, the others fade). A second,
// small THREE.Points draws the clicked point and its neighbours on top of everything.
// Rendering happens on demand (after a camera change or new data), not in a loop.
//
// Picking never raycasts: when the camera stops (OrbitControls' "end", or 150 ms after the
// last "change" — the wheel sends no end), every point is projected to the screen once and
// bucketed into a ScreenGrid (picking.ts); hover and box/lasso selection read that grid.
import {
  BufferAttribute,
  BufferGeometry,
  Color,
  Float32BufferAttribute,
  LineBasicMaterial,
  LineSegments,
  Matrix4,
  PerspectiveCamera,
  Points,
  Scene,
  ShaderMaterial,
  SRGBColorSpace,
  Vector3,
  WebGLRenderer,
} from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
import type { Geometry } from './geometry';
import { projectToScreen, ScreenGrid } from './picking';
import type { RGB } from './colors';

export type DragMode = 'orbit' | 'box' | 'lasso';

export interface SceneTheme {
  background: RGB;
  line: RGB;
  focus: RGB;
  neighbour: RGB;
}

export interface SceneEvents {
  hover(index: number, x: number, y: number): void;
  pick(index: number): void;
  select(indices: number[]): void;
  gridReady(): void;
}

const VERTEX = /* glsl */ `
  uniform float uSize;
  attribute vec3 color;
  attribute float mark;
  varying vec3 vColor;
  varying float vMark;
  void main() {
    vec4 mv = modelViewMatrix * vec4(position, 1.0);
    gl_Position = projectionMatrix * mv;
    gl_PointSize = clamp(uSize * (mark > 0.5 ? 1.6 : 1.0) / max(-mv.z, 0.01), 1.5, 40.0);
    vColor = color;
    vMark = mark;
  }`;
// With a selection, the points outside it fade towards the background; the selected keep
// their colour (so a field's colouring still reads) and are drawn larger.
const FRAGMENT = /* glsl */ `
  uniform vec3 uBackground;
  uniform float uHasSelection;
  varying vec3 vColor;
  varying float vMark;
  void main() {
    vec2 c = gl_PointCoord - vec2(0.5);
    float r2 = dot(c, c);
    if (r2 > 0.25) discard;
    vec3 col = (uHasSelection > 0.5 && vMark < 0.5) ? mix(vColor, uBackground, 0.78) : vColor;
    gl_FragColor = vec4(col, 1.0);
  }`;
const HIGHLIGHT_FRAGMENT = /* glsl */ `
  uniform vec3 uRing;
  varying vec3 vColor;
  void main() {
    vec2 c = gl_PointCoord - vec2(0.5);
    float r2 = dot(c, c);
    if (r2 > 0.25) discard;
    gl_FragColor = vec4(r2 > 0.12 ? uRing : vColor, 1.0);
  }`;

// Faint reference lines: the cube's edges, the unit sphere (for spherical and the
// Poincaré ball), or the paraboloid z = x² + y² over the unit square's disc.
export function referenceLines(g: Geometry): Float32Array {
  const v: number[] = [];
  const circle = (r: number, z: number, axis: 'z' | 'x' | 'y', steps = 64) => {
    for (let i = 0; i < steps; i++) {
      const a0 = (i / steps) * 2 * Math.PI, a1 = ((i + 1) / steps) * 2 * Math.PI;
      const p = (a: number) =>
        axis === 'z' ? [r * Math.cos(a), r * Math.sin(a), z] : axis === 'x' ? [z, r * Math.cos(a), r * Math.sin(a)] : [r * Math.cos(a), z, r * Math.sin(a)];
      v.push(...p(a0), ...p(a1));
    }
  };
  if (g === 'euclidean') {
    const c = [-1, 1];
    for (const a of c) for (const b of c) {
      v.push(-1, a, b, 1, a, b);
      v.push(a, -1, b, a, 1, b);
      v.push(a, b, -1, a, b, 1);
    }
  } else if (g === 'spherical' || g === 'hyperbolic') {
    for (const lat of [-60, -30, 0, 30, 60]) {
      const t = (lat * Math.PI) / 180;
      circle(Math.cos(t), Math.sin(t), 'z');
    }
    circle(1, 0, 'x');
    circle(1, 0, 'y');
  } else {
    for (const r of [0.25, 0.5, 0.75, 1, 1.25, Math.SQRT2]) circle(r, r * r, 'z');
    for (let i = 0; i < 12; i++) {
      const a = (i / 12) * 2 * Math.PI;
      for (let s = 0; s < 8; s++) {
        const r0 = (s / 8) * Math.SQRT2, r1 = ((s + 1) / 8) * Math.SQRT2;
        v.push(r0 * Math.cos(a), r0 * Math.sin(a), r0 * r0, r1 * Math.cos(a), r1 * Math.sin(a), r1 * r1);
      }
    }
  }
  return new Float32Array(v);
}

export class SpaceScene {
  readonly renderer: WebGLRenderer;
  readonly camera = new PerspectiveCamera(50, 1, 0.01, 100);
  readonly controls: OrbitControls;
  private scene = new Scene();
  private geometry = new BufferGeometry();
  private material: ShaderMaterial;
  private points: Points;
  private hiGeometry = new BufferGeometry();
  private hiMaterial: ShaderMaterial;
  private hi: Points;
  private lines: LineSegments;
  private lineMaterial = new LineBasicMaterial({ transparent: true, opacity: 0.28 });
  private positions = new Float32Array(0);
  private count = 0;
  private grid: ScreenGrid | null = null;
  private sx = new Float32Array(0);
  private sy = new Float32Array(0);
  private depth = new Float32Array(0);
  private width = 1;
  private height = 1;
  private frame = 0;
  private settle = 0;
  private highlighted: { index: number; kind: 'focus' | 'neighbour' }[] = [];
  private theme: SceneTheme;
  mode: DragMode = 'orbit';
  frames = 0; // rendered frames, for the benchmark
  private cleanup: (() => void)[] = [];

  constructor(
    private container: HTMLElement,
    readonly canvas: HTMLCanvasElement,
    private overlay: SVGSVGElement,
    private events: SceneEvents,
    theme: SceneTheme,
  ) {
    this.theme = theme;
    this.renderer = new WebGLRenderer({ canvas, antialias: false, preserveDrawingBuffer: true, powerPreference: 'high-performance' });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.material = new ShaderMaterial({
      uniforms: { uSize: { value: 12 }, uBackground: { value: new Color() }, uHasSelection: { value: 0 } },
      vertexShader: VERTEX,
      fragmentShader: FRAGMENT,
    });
    this.points = new Points(this.geometry, this.material);
    this.points.frustumCulled = false;
    this.hiMaterial = new ShaderMaterial({
      uniforms: { uSize: { value: 40 }, uRing: { value: new Color() } },
      vertexShader: VERTEX,
      fragmentShader: HIGHLIGHT_FRAGMENT,
      depthTest: false,
    });
    this.hi = new Points(this.hiGeometry, this.hiMaterial);
    this.hi.frustumCulled = false;
    this.hi.renderOrder = 2;
    this.lines = new LineSegments(new BufferGeometry(), this.lineMaterial);
    this.scene.add(this.lines, this.points, this.hi);
    this.camera.position.set(0, 0, 4);
    this.camera.up.set(0, 0, 1); // before the controls, which take their orbit axis from it
    this.controls = new OrbitControls(this.camera, canvas);
    this.controls.enableDamping = false;
    this.controls.addEventListener('change', () => this.cameraMoved());
    this.controls.addEventListener('end', () => this.scheduleGrid(0));
    this.setTheme(theme);
    this.listen();
    const ro = new ResizeObserver(() => this.resize());
    ro.observe(container);
    this.cleanup.push(() => ro.disconnect());
    this.resize();
  }

  private listen() {
    const c = this.container;
    let down: { x: number; y: number; select: boolean; path: [number, number][]; box: boolean } | null = null;
    const local = (e: PointerEvent): [number, number] => {
      const r = this.canvas.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    };
    const onDown = (e: PointerEvent) => {
      if (e.button !== 0 || e.target !== this.canvas) return;
      const [x, y] = local(e);
      const select = this.mode !== 'orbit' || e.shiftKey;
      // Selecting: keep OrbitControls out of this drag (this listener runs first: capture).
      this.controls.enabled = !select;
      down = { x, y, select, path: [[x, y]], box: this.mode === 'box' || (this.mode === 'orbit' && e.shiftKey) };
      if (select) this.canvas.setPointerCapture(e.pointerId);
    };
    const onMove = (e: PointerEvent) => {
      const [x, y] = local(e);
      if (down?.select) {
        down.path.push([x, y]);
        this.drawOverlay(down.box ? boxPath(down.path[0], [x, y]) : down.path);
        return;
      }
      if (down || e.target !== this.canvas) return;
      if (!this.grid) return this.events.hover(-1, x, y);
      this.events.hover(this.grid.nearest(x, y, 8), x, y);
    };
    const onUp = (e: PointerEvent) => {
      if (!down) return;
      const d = down;
      down = null;
      this.controls.enabled = true;
      const [x, y] = local(e);
      if (d.select) {
        this.drawOverlay([]);
        const grid = this.ensureGrid();
        if (Math.hypot(x - d.x, y - d.y) < 3) return;
        this.events.select(d.box ? grid.inBox(d.x, d.y, x, y) : grid.inPolygon(d.path));
        return;
      }
      if (Math.hypot(x - d.x, y - d.y) < 4) {
        const grid = this.ensureGrid();
        const i = grid.nearest(x, y, 8);
        if (i >= 0) this.events.pick(i);
      }
    };
    const onLeave = () => {
      if (!down) this.events.hover(-1, 0, 0);
    };
    c.addEventListener('pointerdown', onDown, { capture: true });
    c.addEventListener('pointermove', onMove);
    c.addEventListener('pointerup', onUp);
    c.addEventListener('pointerleave', onLeave);
    this.cleanup.push(() => {
      c.removeEventListener('pointerdown', onDown, { capture: true });
      c.removeEventListener('pointermove', onMove);
      c.removeEventListener('pointerup', onUp);
      c.removeEventListener('pointerleave', onLeave);
    });
  }

  private drawOverlay(path: [number, number][]) {
    const svg = this.overlay;
    svg.replaceChildren();
    if (path.length < 2) return;
    const ns = 'http://www.w3.org/2000/svg';
    const poly = document.createElementNS(ns, 'polygon');
    poly.setAttribute('points', path.map((p) => p.join(',')).join(' '));
    poly.setAttribute('class', 'space-lasso');
    svg.appendChild(poly);
  }

  private resize() {
    const w = Math.max(1, this.container.clientWidth), h = Math.max(1, this.container.clientHeight);
    this.width = w;
    this.height = h;
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.updateSize();
    this.cameraMoved();
  }

  private updateSize() {
    // A point's diameter in pixels at distance 1: larger for small clouds, smaller for large ones.
    // (300 points: 9 px; 100,000: 4 px; 1,000,000: 2 px — also what keeps software
    // rendering's fill rate in bounds).
    const px = Math.max(2, Math.min(9, 14 - 2 * Math.log10(Math.max(10, this.count))));
    const ratio = this.renderer.getPixelRatio();
    this.material.uniforms.uSize.value = px * ratio * 3.5 * (this.height / 600);
    this.hiMaterial.uniforms.uSize.value = Math.max(14, px * 2.2) * ratio * 3.5 * (this.height / 600);
  }

  private cameraMoved() {
    this.grid = null;
    this.requestRender();
    this.scheduleGrid(150);
  }

  private scheduleGrid(ms: number) {
    clearTimeout(this.settle);
    this.settle = window.setTimeout(() => {
      this.ensureGrid();
    }, ms);
  }

  private ensureGrid(): ScreenGrid {
    if (this.grid) return this.grid;
    this.camera.updateMatrixWorld();
    const m = new Matrix4().multiplyMatrices(this.camera.projectionMatrix, this.camera.matrixWorldInverse);
    if (this.sx.length !== this.count) {
      this.sx = new Float32Array(this.count);
      this.sy = new Float32Array(this.count);
      this.depth = new Float32Array(this.count);
    }
    projectToScreen(this.positions, m.elements, this.width, this.height, this.sx, this.sy, this.depth);
    this.grid = new ScreenGrid(this.sx, this.sy, this.depth, this.width, this.height, 16);
    this.events.gridReady();
    return this.grid;
  }

  // The screen position (CSS pixels in the canvas) of a point, or null when it is off screen.
  screenOf(i: number): [number, number] | null {
    const g = this.ensureGrid();
    if (i < 0 || i >= this.count || Number.isNaN(g.sx[i])) return null;
    return [g.sx[i], g.sy[i]];
  }

  requestRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderer.render(this.scene, this.camera);
      this.frames++;
    });
  }

  setTheme(t: SceneTheme) {
    this.theme = t;
    // Theme colours are sRGB; the clear colour and the line material are colour-managed
    // (converted from linear on output), the two point shaders write their inputs as they are.
    this.renderer.setClearColor(new Color().setRGB(...t.background, SRGBColorSpace), 1);
    this.lineMaterial.color.setRGB(...t.line, SRGBColorSpace);
    (this.material.uniforms.uBackground.value as Color).setRGB(...t.background);
    (this.hiMaterial.uniforms.uRing.value as Color).setRGB(...t.background);
    this.setHighlights(this.highlighted);
  }

  // New positions (same count as the colours), with the geometry's reference lines.
  setData(positions: Float32Array, colors: Float32Array, g: Geometry, fit: boolean) {
    this.positions = positions;
    const n = positions.length / 3;
    const resized = n !== this.count;
    this.count = n;
    this.geometry.setAttribute('position', new BufferAttribute(positions, 3));
    if (resized || !this.geometry.getAttribute('color')) {
      this.geometry.setAttribute('color', new BufferAttribute(colors, 3));
      this.geometry.setAttribute('mark', new BufferAttribute(new Float32Array(n), 1));
    } else this.setColors(colors);
    this.geometry.computeBoundingSphere();
    this.lines.geometry.dispose();
    this.lines.geometry = new BufferGeometry().setAttribute('position', new Float32BufferAttribute(referenceLines(g), 3));
    this.updateSize();
    if (fit) this.fit();
    this.setHighlights(this.highlighted);
    this.cameraMoved();
  }

  setColors(colors: Float32Array) {
    const a = this.geometry.getAttribute('color') as BufferAttribute | undefined;
    if (!a || a.array.length !== colors.length) this.geometry.setAttribute('color', new BufferAttribute(colors, 3));
    else {
      (a.array as Float32Array).set(colors);
      a.needsUpdate = true;
    }
    this.requestRender();
  }

  setSelection(indices: number[]) {
    const a = this.geometry.getAttribute('mark') as BufferAttribute | undefined;
    if (!a) return;
    const m = a.array as Float32Array;
    m.fill(0);
    for (const i of indices) if (i < m.length) m[i] = 1;
    a.needsUpdate = true;
    this.material.uniforms.uHasSelection.value = indices.length > 0 ? 1 : 0;
    this.requestRender();
  }

  setHighlights(h: { index: number; kind: 'focus' | 'neighbour' }[]) {
    this.highlighted = h;
    const valid = h.filter((x) => x.index >= 0 && x.index < this.count);
    const pos = new Float32Array(valid.length * 3), col = new Float32Array(valid.length * 3);
    // The focus point last, so it is drawn on top.
    valid.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'focus' ? 1 : -1));
    valid.forEach((x, j) => {
      pos.set(this.positions.subarray(x.index * 3, x.index * 3 + 3), j * 3);
      col.set(x.kind === 'focus' ? this.theme.focus : this.theme.neighbour, j * 3);
    });
    this.hiGeometry.setAttribute('position', new BufferAttribute(pos, 3));
    this.hiGeometry.setAttribute('color', new BufferAttribute(col, 3));
    this.hiGeometry.setAttribute('mark', new BufferAttribute(new Float32Array(valid.length), 1));
    this.requestRender();
  }

  // Frames the whole cloud.
  fit() {
    // The cloud and its reference lines, whichever reaches farther from the cloud's centre.
    const s = this.geometry.boundingSphere;
    const c = s ? s.center.clone() : new Vector3();
    this.lines.geometry.computeBoundingSphere();
    const l = this.lines.geometry.boundingSphere;
    const r = Math.max(s && s.radius > 0 ? s.radius : 1, l ? l.center.distanceTo(c) + l.radius : 0);
    const dist = (r / Math.sin(((this.camera.fov / 2) * Math.PI) / 180)) * 1.08;
    this.controls.target.copy(c);
    this.camera.position.set(c.x + dist * 0.55, c.y - dist * 0.45, c.z + dist * 0.7);
    this.camera.near = dist / 100;
    this.camera.far = dist * 10;
    this.camera.updateProjectionMatrix();
    this.controls.update();
    this.cameraMoved();
  }

  // Turns the camera to look at point i (keeping its distance).
  focus(i: number) {
    if (i < 0 || i >= this.count) return;
    const p = new Vector3().fromArray(this.positions, i * 3);
    const offset = this.camera.position.clone().sub(this.controls.target);
    this.controls.target.copy(p);
    this.camera.position.copy(p).add(offset);
    this.controls.update();
    this.cameraMoved();
  }

  // Rotates the camera around the target by an angle (radians): for the benchmark and tests.
  orbit(angle: number) {
    const offset = this.camera.position.clone().sub(this.controls.target);
    offset.applyAxisAngle(this.camera.up, angle);
    this.camera.position.copy(this.controls.target).add(offset);
    this.camera.lookAt(this.controls.target);
    this.cameraMoved();
  }

  dispose() {
    clearTimeout(this.settle);
    cancelAnimationFrame(this.frame);
    this.cleanup.forEach((f) => f());
    this.controls.dispose();
    this.geometry.dispose();
    this.hiGeometry.dispose();
    this.lines.geometry.dispose();
    this.material.dispose();
    this.hiMaterial.dispose();
    this.lineMaterial.dispose();
    this.renderer.dispose();
  }
}

function boxPath(a: [number, number], b: [number, number]): [number, number][] {
  return [a, [b[0], a[1]], b, [a[0], b[1]]];
}
