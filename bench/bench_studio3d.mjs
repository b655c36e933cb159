// Frame time of the Studio's 3D Space page at 100K and 1M points.
//
// Starts `hektor serve --studio studio/dist` on a fresh database (a free port on
// 127.0.0.1), creates a flat 16-d Euclidean collection per size, imports generated
// clustered vectors through the import route (fvecs), computes a PCA projection through
// the projection route (a job), opens /studio/space in headless Chromium with WebGL in
// software (SwiftShader), waits until the points are drawn, then turns the camera a little
// on every animation frame for a few seconds and records requestAnimationFrame deltas.
// Writes the block between <!-- studio3d:begin --> and <!-- studio3d:end --> in
// docs/BENCHMARKS.md (or --out FILE).
//
//   node bench/bench_studio3d.mjs [--sizes 100000,1000000] [--seconds 6] [--out docs/BENCHMARKS.md]
//
// The camera is turned through the page's test hook (window.__hektorSpace.orbit), the
// same code path as a mouse drag after OrbitControls: the scene is re-rendered each frame.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SIZES = arg('sizes', '100000,1000000').split(',').map(Number);
const SECONDS = Number(arg('seconds', '6'));
const OUT = resolve(arg('out', join(root, 'docs', 'BENCHMARKS.md')));
const BIN = process.env.HEKTOR_BIN ?? join(root, 'build', 'hektor');
const DIST = join(root, 'studio', 'dist');
const CHROMIUM = process.env.HK_CHROMIUM ?? '/usr/bin/chromium';
const TMP = join(root, 'build', 'bench-tmp', `studio3d-${process.pid}`);
const DIM = 16;
const CLUSTERS = 24;

for (const [f, why] of [
  [BIN, "run 'make build'"],
  [join(DIST, 'index.html'), "run 'npm run build' in studio/"],
  [CHROMIUM, 'apt-get install chromium'],
]) {
  if (!existsSync(f)) {
    console.error(`${f} is missing: ${why}`);
    process.exit(1);
  }
}
const { chromium } = await import(pathToFileURL(join(root, 'studio', 'node_modules', 'playwright-core', 'index.mjs')).href);
const log = (m) => console.error(`[bench_studio3d] ${m}`);

function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
// Gaussian clusters around random centres, as fvecs.
function clustered(n, path) {
  const r = rng(1234 + n);
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const centres = Array.from({ length: CLUSTERS }, () => Array.from({ length: DIM }, () => gauss() * 4));
  const rec = 4 + DIM * 4;
  const buf = Buffer.alloc(n * rec);
  for (let i = 0; i < n; i++) {
    const c = centres[Math.floor(r() * CLUSTERS)];
    buf.writeInt32LE(DIM, i * rec);
    for (let d = 0; d < DIM; d++) buf.writeFloatLE(c[d] + gauss(), i * rec + 4 + d * 4);
  }
  writeFileSync(path, buf);
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

let base = '';
async function api(method, path, body, raw) {
  const headers = body && !raw ? { 'Content-Type': 'application/json' } : raw ? { 'Content-Type': 'application/octet-stream' } : {};
  const init = { method, headers, body: raw ? body : body && JSON.stringify(body) };
  if (raw) init.duplex = 'half';
  const r = await fetch(base + path, init);
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j.result;
}
async function follow(job, what) {
  let j = job;
  let last = -1;
  while (!['done', 'failed', 'cancelled'].includes(j.state)) {
    await new Promise((r) => setTimeout(r, 500));
    j = (await api('GET', `/hektor/jobs/${j.id}`)).job ?? (await api('GET', `/hektor/jobs/${j.id}`));
    const p = Math.floor(j.progress * 10);
    if (p !== last) log(`${what}: ${Math.round(j.progress * 100)}% ${j.message ?? ''}`);
    last = p;
  }
  if (j.state !== 'done') throw new Error(`${what}: job ${j.state}: ${j.message}`);
  return j;
}

const pct = (a, q) => a[Math.min(a.length - 1, Math.floor(q * (a.length - 1) + 0.5))];

async function main() {
  rmSync(TMP, { recursive: true, force: true });
  mkdirSync(TMP, { recursive: true });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  let serverLog = '';
  const server = spawn(BIN, ['--db', join(TMP, 'db'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--studio', DIST, '--max-body', String(256 << 20)], {
    env: { ...process.env },
  });
  server.stderr.on('data', (d) => (serverLog = (serverLog + d).slice(-5000)));
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`the server did not start: ${serverLog}`)), 30000);
    server.stdout.on('data', (d) => String(d).includes('serving http://') && (clearTimeout(t), res()));
    server.once('exit', (c) => (clearTimeout(t), rej(new Error(`the server exited with ${c}: ${serverLog}`))));
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--use-gl=swiftshader', '--enable-unsafe-swiftshader', '--disable-background-networking'],
  });
  const rows = [];
  let renderer = '';
  try {
    for (const n of SIZES) {
      const name = `bench${n}`;
      const file = join(TMP, `${name}.fvecs`);
      log(`generating ${n} clustered ${DIM}-d vectors`);
      clustered(n, file);
      await api('PUT', `/collections/${name}`, { vectors: { size: DIM, distance: 'Euclid' }, hnsw_config: { m: 0 } });
      let t0 = performance.now();
      const imp = await api('POST', `/hektor/collections/${name}/import?format=fvecs`, createReadStream(file), true);
      await follow(imp.job ?? imp, `import ${n}`);
      const importS = (performance.now() - t0) / 1000;
      log(`imported ${statSync(file).size} bytes in ${importS.toFixed(1)} s`);
      t0 = performance.now();
      const pj = await api('POST', `/hektor/collections/${name}/projection`, { method: 'pca', max_points: n, neighbors: 10 });
      await follow(pj.job ?? pj, `PCA ${n}`);
      const projS = (performance.now() - t0) / 1000;
      const meta = await api('GET', `/hektor/collections/${name}/projection?method=pca`);

      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      t0 = performance.now();
      await page.goto(`${base}/studio/space?collection=${name}`);
      await page.waitForFunction((c) => {
        const v = document.querySelector('[data-testid=space-view]');
        return v && Number(v.dataset.count) === c && v.dataset.point0;
      }, n, { timeout: 600000 });
      const loadS = (performance.now() - t0) / 1000;
      renderer ||= await page.evaluate(() => {
        const g = document.createElement('canvas').getContext('webgl2');
        const d = g && g.getExtension('WEBGL_debug_renderer_info');
        return d ? g.getParameter(d.UNMASKED_RENDERER_WEBGL) : 'unknown';
      });
      log(`${n}: page loaded and drawn in ${loadS.toFixed(1)} s; orbiting for ${SECONDS} s`);
      const r = await page.evaluate(
        (seconds) =>
          new Promise((res) => {
            const s = window.__hektorSpace;
            const f0 = s.frames;
            const deltas = [];
            let last = 0;
            const end = performance.now() + seconds * 1000;
            const step = (t) => {
              if (last) deltas.push(t - last);
              last = t;
              s.orbit(0.02);
              if (t < end) requestAnimationFrame(step);
              else res({ deltas, frames: s.frames - f0, canvas: [s.canvas.width, s.canvas.height] });
            };
            requestAnimationFrame(step);
          }),
        SECONDS,
      );
      if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
      const d = [...r.deltas].sort((a, b) => a - b);
      const mean = d.reduce((a, b) => a + b, 0) / d.length;
      rows.push({ n, count: meta.count, importS, projS, tookS: meta.took_s, loadS, frames: r.frames, samples: d.length, mean, p50: pct(d, 0.5), p95: pct(d, 0.95), fps: 1000 / mean, canvas: r.canvas });
      log(`${n}: mean ${mean.toFixed(1)} ms, p50 ${pct(d, 0.5).toFixed(1)}, p95 ${pct(d, 0.95).toFixed(1)}, ${(1000 / mean).toFixed(1)} fps over ${d.length} frames`);
      await page.close();
      await api('DELETE', `/collections/${name}`);
      rmSync(file, { force: true });
    }
  } finally {
    await browser.close();
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(TMP, { recursive: true, force: true });
  }
  return { rows, renderer };
}

function machine() {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  const chrome = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).stdout.trim();
  return `${model}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ${chrome}`;
}

function writeBlock(path, text) {
  const B = '<!-- studio3d:begin -->', E = '<!-- studio3d:end -->';
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const b = old.indexOf(B), e = old.indexOf(E);
  const next = b >= 0 && e > b ? old.slice(0, b) + text + old.slice(e + E.length) : old.replace(/\n*$/, '\n\n') + text + '\n';
  writeFileSync(path, next);
}

const { rows, renderer } = await main();
const date = new Date().toISOString().slice(0, 10);
const f1 = (x) => x.toFixed(1);
const lines = [
  '<!-- studio3d:begin -->',
  '## Studio 3D frame time',
  '',
  `\`bench/bench_studio3d.mjs\`, ${date}. The Studio's 3D Space page (one THREE.Points, round points from a small shader) in headless Chromium ` +
    `with WebGL in **software: SwiftShader on the CPU (${renderer})**, not a GPU — a desktop with any GPU draws these frames far faster. ` +
    `Flat 16-d Euclidean collections of clustered generated vectors, imported through the import route; PCA through the projection route; ` +
    `the page at 1280×800; the camera turned a little on every animation frame for ${SECONDS} s; frame time = requestAnimationFrame deltas ` +
    `(Chromium paces frames at 60 Hz, so 16.7 ms is the floor). The server, Chromium's renderer and SwiftShader share the machine's cores, ` +
    `and other work (other builds and tests) was running on the machine at the time. Machine: ${machine()}.`,
  '',
  '| points | import s | PCA job s | page load + first draw s | frames | mean ms | p50 ms | p95 ms | fps |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.count.toLocaleString('en-US')} | ${f1(r.importS)} | ${f1(r.projS)} | ${f1(r.loadS)} | ${r.samples} | ${f1(r.mean)} | ${f1(r.p50)} | ${f1(r.p95)} | ${f1(r.fps)} |`),
  '',
  "The PCA job's time is mostly the server's k-NN graph in the original space (for the neighbour list and the k-NN preservation measure; approximate, HNSW, above 50,000 points), not PCA itself. " +
    'Picking does not depend on the frame: hover and selection read a screen-space grid built once when the camera stops.',
  '<!-- studio3d:end -->',
];
writeBlock(OUT, lines.join('\n'));
console.log(lines.join('\n'));
