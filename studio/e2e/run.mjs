// End-to-end tests of the Studio in headless Chromium (playwright-core, Debian's
// /usr/bin/chromium — no browser is ever downloaded) against a real `hektor serve --studio`
// that this script starts on 127.0.0.1 with a free port, on a database it builds with the
// CLI from generated data. Each workflow asserts what the page shows against what the
// server holds or a brute-force computation; axe-core runs on every page in every theme
// (zero violations expected); a screenshot of every page goes to e2e/screenshots/.
//
// Exit 0: all passed; 1: a failure (named); 77: skipped (no Chromium or no server binary).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const studio = resolve(here, '..');
const root = resolve(studio, '..');
const CHROMIUM = process.env.HK_CHROMIUM ?? '/usr/bin/chromium';
const BIN = process.env.HEKTOR_BIN ?? join(root, 'build', 'hektor');
const DIST = join(studio, 'dist');
const SHOTS = join(here, 'screenshots');
const TMP = join(process.env.HK_TEST_TMP ?? join(root, 'build', 'tmp'), `studio-e2e-${process.pid}`);
// SwiftShader: WebGL in software, for the 3D Space page (no GPU on the test machines).
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--use-gl=swiftshader', '--enable-unsafe-swiftshader'];
const THEMES = ['light', 'dark', 'contrast', 'solarized'];

function skip(msg) {
  console.log(`SKIP: ${msg}`);
  process.exit(77);
}
if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing (apt-get install chromium), so the Studio's browser tests cannot run`);
if (!existsSync(BIN)) skip(`${BIN} is missing: run 'make build' first`);
if (!existsSync(join(DIST, 'index.html'))) {
  console.error(`${DIST}/index.html is missing: run 'npm run build' in studio/ (scripts/setup.sh does)`);
  process.exit(1);
}
const { chromium } = await import('playwright-core');
const axeSource = readFileSync(join(studio, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

// ---- test data: deterministic, small, with payload and text ----
const DIM = 8;
const N = 300;
const CITIES = ['paris', 'berlin', 'rome'];
const WORDS = ['river', 'mountain', 'forest', 'desert', 'ocean', 'valley', 'island', 'glacier', 'canyon', 'meadow', 'harbor', 'volcano'];
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(42);
const points = Array.from({ length: N }, (_, id) => {
  const vector = Array.from({ length: DIM }, () => Math.round((rand() * 2 - 1) * 1000) / 1000);
  const words = Array.from({ length: 4 }, () => WORDS[Math.floor(rand() * WORDS.length)]);
  return { id, vector, payload: { city: CITIES[id % 3], price: id % 100, tag: words[0] }, text: words.join(' ') };
});
const l2 = (a, b) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
const bruteForce = (q, k, keep = () => true, exclude = -1) =>
  points
    .filter((p) => keep(p) && p.id !== exclude)
    .map((p) => ({ id: p.id, d: l2(q, p.vector) }))
    .sort((a, b) => a.d - b.d || a.id - b.id)
    .slice(0, k)
    .map((x) => x.id);

// ---- the server ----
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
const env = { ...process.env, HEKTOR_NOSYNC: '1' };
function cli(...args) {
  const r = spawnSync(BIN, ['--db', join(TMP, 'db'), ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`hektor ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
let server = null;
let apiKey = ''; // the server's --api-key, when it has one
let port = 0;
let serverLog = '';
async function startServer() {
  const key = apiKey ? ['--api-key', apiKey] : [];
  server = spawn(BIN, ['--db', join(TMP, 'db'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--studio', DIST, ...key], { env });
  server.stderr.on('data', (d) => (serverLog = (serverLog + d).slice(-20000)));
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`the server did not start: ${serverLog}`)), 20000);
    server.stdout.on('data', (d) => String(d).includes('serving http://') && (clearTimeout(t), res()));
    server.once('exit', (c) => (clearTimeout(t), rej(new Error(`the server exited with ${c}: ${serverLog}`))));
  });
}
// Stops the server with SIGTERM; it must exit 0 without a sanitizer report.
async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const p = new Promise((res) => server.once('exit', (code, sig) => res(code ?? sig)));
  server.kill('SIGTERM');
  const code = await p;
  check(code === 0, `the server exits 0 on SIGTERM (got ${code})`);
  const report = /ERROR: (Address|Leak)Sanitizer|runtime error:/.exec(serverLog);
  check(!report, `the server's log holds no sanitizer report${report ? ': ' + serverLog.slice(report.index, report.index + 400) : ''}`);
}
const base = () => `http://127.0.0.1:${port}`;
async function api(method, path, body) {
  const headers = { ...(body ? { 'Content-Type': 'application/json' } : {}), ...(apiKey ? { 'api-key': apiKey } : {}) };
  const r = await fetch(base() + path, { method, headers, body: body && JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j.result;
}

// ---- checks ----
let failures = 0;
let passed = 0;
function check(cond, what) {
  if (cond) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failures++;
    console.log(`FAIL ${what}`);
  }
}
function eq(a, b, what) {
  const ok = JSON.stringify(a) === JSON.stringify(b);
  check(ok, ok ? what : `${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
}

async function axe(page, name) {
  await page.addScriptTag({ content: axeSource });
  const r = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }),
  );
  const v = r.violations.map((x) => `${x.id} (${x.impact}): ${x.help} — ${x.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  check(v.length === 0, `axe: no violations on ${name}${v.length ? '\n       ' + v.join('\n       ') : ''}`);
}
async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
async function setTheme(page, theme) {
  await page.selectOption('#theme-select', theme);
  await page.waitForFunction((t) => document.documentElement.dataset.theme === t, theme);
}
// axe on the current page in every theme, screenshot in each; back to light after.
async function everyTheme(page, name) {
  for (const t of THEMES) {
    await setTheme(page, t);
    await page.waitForTimeout(150);
    await axe(page, `${name} [${t}]`);
    await shot(page, `${name}-${t}`);
  }
  await setTheme(page, 'light');
}
const text = (page, sel) => page.locator(sel).innerText();

// Pixels of the 3D canvas within 40 (sum of channel differences) of a CSS colour variable.
const canvasPixels = (page, cssVar) =>
  page.evaluate((v) => {
    const c = document.querySelector('[data-testid=space-canvas]');
    const t = document.createElement('canvas');
    t.width = c.width;
    t.height = c.height;
    const g = t.getContext('2d');
    g.drawImage(c, 0, 0);
    const d = g.getImageData(0, 0, t.width, t.height).data;
    const probe = document.createElement('span');
    probe.style.color = `var(${v})`;
    document.body.appendChild(probe);
    const [r, gr, b] = getComputedStyle(probe).color.match(/\d+/g).map(Number);
    probe.remove();
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - gr) + Math.abs(d[i + 2] - b) < 40) n++;
    return n;
  }, cssVar);

// The 3D Space page on the real collection "items": PCA through the projection job, the
// canvas drawn by WebGL (SwiftShader), hover, click with the neighbours the server's k-NN
// graph gives (checked against brute force on the original vectors), box selection,
// geometries, colouring, axe in every theme; then UMAP and the stale note.
async function spaceTests(page) {
  // the shortcut dialog in every theme (the dark themes' dialogs included)
  for (const t of THEMES) {
    await setTheme(page, t);
    await page.locator('body').press('?');
    await page.waitForSelector('dialog.shortcuts[open]');
    if (t === 'light') check((await text(page, 'dialog.shortcuts')).includes('Go to 3D Space'), 'space: the shortcut list names "Go to 3D Space"');
    await axe(page, `shortcut overlay [${t}]`);
    await page.keyboard.press('Escape');
    await page.waitForSelector('dialog.shortcuts[open]', { state: 'detached' }).catch(() => {});
  }
  await setTheme(page, 'light');
  const jsBefore = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.js')).map((e) => e.name));
  check(!jsBefore.some((n) => /Space-/.test(n)), 'space: the 3D chunk (Three.js) is not loaded before the page is opened');
  await page.locator('body').press('6');
  await page.waitForURL('**/studio/space');
  await page.waitForSelector('#space-collection');
  const jsAfter = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.js')).map((e) => e.name));
  check(jsAfter.some((n) => /Space-/.test(n)), 'space: "6" opens the page and loads its own chunk');
  await page.selectOption('#space-collection', 'items');
  await page.waitForSelector('[data-testid=space-none]');
  check((await text(page, '[data-testid=space-none]')).includes('no PCA projection'), 'space: without a projection the page offers to compute one (404)');
  await page.fill('#space-k', '10');
  await page.click('form >> text=Compute');
  await page.waitForSelector('[data-testid=space-info]', { timeout: 60000 });
  eq((await api('GET', '/hektor/jobs')).filter((j) => j.kind === 'project').map((j) => [j.collection, j.state]), [['items', 'done']], 'space: the projection job ends done');
  const meta = await api('GET', '/hektor/collections/items/projection?method=pca');
  eq([meta.count, meta.total, meta.sampled, meta.neighbors], [N, N, false, 10], 'space: the server holds a PCA projection of all 300 points with k = 10');
  check((await text(page, '[data-testid=space-sample]')).includes('showing all 300 points'), 'space: the page says the projection holds all 300 points');
  eq(await text(page, '[data-testid=space-knn]'), `${(meta.quality.knn_preservation * 100).toFixed(1)}%`, 'space: k-NN preservation as the server reports it');
  const ev = await text(page, '[data-testid=space-variance]');
  check(ev.includes(`PC1 ${(meta.explained_variance[0] * 100).toFixed(1)}%`), `space: explained variance shown (${ev})`);

  // drawn: points in the single colour (--c1) cover some pixels
  await page.waitForFunction(() => document.querySelector('[data-testid=space-view]')?.dataset.point0);
  await page.waitForTimeout(300);
  const drawn = await canvasPixels(page, '--c1');
  check(drawn > 200, `space: the canvas shows ${drawn} pixels in the points' colour`);

  // hover and click point 0 (its screen position is the view's data-point0)
  await page.locator('[data-testid=space-view]').scrollIntoViewIfNeeded();
  await page.waitForTimeout(300);
  const box = await page.locator('[data-testid=space-canvas]').boundingBox();
  const at = async () => (await page.locator('[data-testid=space-view]').getAttribute('data-point0')).split(',').map(Number);
  let [px, py] = await at();
  await page.mouse.move(box.x + px, box.y + py);
  await page.waitForSelector('[data-testid=space-point-id]');
  const hovered = Number(await text(page, '[data-testid=space-point-id]'));
  check(hovered >= 0 && hovered < N && (await text(page, '[data-testid=space-point] pre')).includes(`"city": "${points[hovered].payload.city}"`), `space: hovering shows point ${hovered} with its payload`);
  await page.mouse.click(box.x + px, box.y + py);
  await page.waitForSelector('[data-testid=space-picked-id]');
  const picked = Number(await text(page, '[data-testid=space-picked-id]'));
  const rows = await page.locator('[data-testid=space-neighbours] tbody tr').evaluateAll((trs) => trs.map((tr) => [Number(tr.children[1].textContent), Number(tr.children[2].textContent)]));
  const idsBuf = await fetch(base() + '/hektor/collections/items/projection/ids?method=pca').then((r) => r.arrayBuffer());
  const order = [...new BigUint64Array(idsBuf)].map(Number);
  const server = await api('GET', `/hektor/collections/items/projection/neighbors?method=pca&index=${order.indexOf(picked)}`);
  eq(rows.map((r) => r[0]), server.neighbors.map((n) => n.id), `space: clicking point ${picked} lists the server's ${server.neighbors.length} neighbours`);
  check(rows.every((r, i) => Math.abs(r[1] - server.neighbors[i].distance) <= 1e-4 * Math.max(1, server.neighbors[i].distance)), 'space: with the distances the server gives');
  check(rows.every((r) => Math.abs(r[1] - l2(points[picked].vector, points[r[0]].vector)) < 1e-3), 'space: the distances are the Euclidean distances of the original vectors');
  const truthNbrs = bruteForce(points[picked].vector, 10, () => true, picked);
  const rec = rows.filter((r) => truthNbrs.includes(r[0])).length / truthNbrs.length;
  check(rows.length === 10 && rec >= 0.9, `space: the neighbours are the true 10 nearest in the original space (recall ${rec})`);
  // Off the canvas the clicked point stays in the details (no reflow under the pointer).
  await page.mouse.move(box.x + box.width + 40, box.y - 40);
  await page.waitForFunction(() => document.querySelector('#space-point-title')?.textContent === 'Clicked point');
  eq(Number(await text(page, '[data-testid=space-point-id]')), picked, 'space: off the canvas the details keep the clicked point');
  await page.locator('[data-testid=space-neighbours] tbody tr').nth(2).locator('button').click();
  await page.waitForSelector('[data-testid=space-neighbours] tbody tr.focused');
  eq(await text(page, '#space-point-title'), 'Focused point', 'space: clicking a neighbour row focuses that point');
  await page.waitForFunction((id) => document.querySelector('[data-testid=space-point-id]')?.textContent === String(id), rows[2][0]);
  check(true, 'space: the focused point\'s details are shown');
  await shot(page, 'space-neighbours');

  // box selection over most of the view
  await page.locator('body').press('f');
  await page.locator('body').press('b');
  await page.waitForTimeout(300);
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.4);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 5 });
  await page.mouse.move(box.x + box.width * 0.62, box.y + box.height * 0.62, { steps: 5 });
  await page.mouse.up();
  const selected = Number((await text(page, '[data-testid=space-selection-count]')).replace(/,/g, ''));
  check(selected > 0 && selected < N, `space: a box over the middle of the view selects ${selected} of ${N} points`);
  const listed = (await page.inputValue('#space-selection-ids')).split(', ').map(Number);
  check(listed.length === Math.min(selected, 100) && listed.every((id) => id >= 0 && id < N), 'space: the selection lists its ids');
  await shot(page, 'space-box-selection');
  await page.click('[data-testid=space-selection] >> text=Clear');
  await page.locator('body').press('l');
  await page.locator('[data-testid=space-view]').scrollIntoViewIfNeeded();
  Object.assign(box, await page.locator('[data-testid=space-canvas]').boundingBox());
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.2);
  await page.mouse.down();
  for (const [fx, fy] of [[0.8, 0.2], [0.8, 0.8], [0.2, 0.8], [0.21, 0.21]]) await page.mouse.move(box.x + box.width * fx, box.y + box.height * fy, { steps: 4 });
  await page.mouse.up();
  const lasso = Number((await text(page, '[data-testid=space-selection-count]')).replace(/,/g, ''));
  check(lasso > 0 && lasso <= N, `space: a lasso selection selects ${lasso} points`);
  await page.locator('body').press('x');
  eq(await text(page, '[data-testid=space-selection-count]'), '0', 'space: "x" clears the selection');
  await page.locator('body').press('o');

  // geometries: each moves point 0 on screen and still draws the points
  let prev = (await at()).join();
  for (const g of ['spherical', 'hyperbolic', 'parabolic']) {
    await page.selectOption('#space-geometry', g);
    await page.waitForFunction((p) => { const v = document.querySelector('[data-testid=space-view]')?.dataset.point0; return v && v !== p; }, prev);
    prev = (await at()).join();
    await page.waitForTimeout(300);
    const n = await canvasPixels(page, '--c1');
    check(n > 100, `space: the ${g} geometry draws (${n} pixels in the points' colour)`);
    await shot(page, `space-${g}`);
  }
  await page.selectOption('#space-geometry', 'euclidean');

  // colour by a category and by a number
  await page.selectOption('#space-color', 'city');
  await page.waitForSelector('[data-testid=space-legend]');
  const legend = await text(page, '[data-testid=space-legend]');
  check(CITIES.every((c) => legend.includes(c)), `space: colouring by city lists the three cities in the legend`);
  await page.selectOption('#space-color', 'price');
  await page.waitForFunction(() => document.querySelector('[data-testid=space-legend]')?.textContent?.includes('99'));
  check((await text(page, '[data-testid=space-legend]')).includes('0'), 'space: colouring by price shows its range 0 to 99');
  await page.waitForTimeout(300);
  await everyTheme(page, 'space');

  // UMAP on the same collection: no explained variance
  await page.selectOption('#space-method', 'umap');
  await page.waitForSelector('[data-testid=space-none]');
  await page.click('form >> text=Compute');
  await page.waitForFunction(() => document.querySelector('[data-testid=space-sample]')?.textContent?.includes('UMAP'), null, { timeout: 120000 });
  const um = await api('GET', '/hektor/collections/items/projection?method=umap');
  eq(await text(page, '[data-testid=space-knn]'), `${(um.quality.knn_preservation * 100).toFixed(1)}%`, 'space: UMAP computed, its k-NN preservation shown');
  eq(await page.locator('[data-testid=space-variance]').count(), 0, 'space: UMAP has no explained variance');
  await shot(page, 'space-umap');

  // a sample: max points below the collection's size
  await page.selectOption('#space-method', 'pca');
  await page.waitForSelector('[data-testid=space-info]');
  await page.fill('#space-max', '150');
  await page.click('form >> text=Compute');
  await page.waitForFunction(() => document.querySelector('[data-testid=space-sample]')?.textContent?.includes('showing 150 of 300 points, a uniform sample'), null, { timeout: 60000 });
  const sm = await api('GET', '/hektor/collections/items/projection?method=pca');
  eq([sm.count, sm.total, sm.sampled, Number(await page.locator('[data-testid=space-view]').getAttribute('data-count'))], [150, N, true, 150], 'space: max points 150 projects a uniform sample of 150, and the page says so and draws 150');

  // a write makes the projection stale
  await api('PUT', '/collections/items/points?wait=true', { points: [{ id: 0, vector: points[0].vector, payload: points[0].payload }] });
  await page.reload();
  await page.selectOption('#space-collection', 'items');
  await page.waitForSelector('[data-testid=space-stale]');
  check(true, 'space: after a write the page says the projection is stale');
}

async function main() {
  rmSync(TMP, { recursive: true, force: true });
  mkdirSync(TMP, { recursive: true });
  mkdirSync(SHOTS, { recursive: true });
  writeFileSync(join(TMP, 'items.jsonl'), points.map((p) => JSON.stringify(p)).join('\n') + '\n');
  cli('create', 'items', '--dim', String(DIM), '--metric', 'l2', '--m', '8', '--ef-construction', '100');
  cli('import', 'items', join(TMP, 'items.jsonl'), '--quiet');
  port = await freePort();
  await startServer();

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.setDefaultTimeout(30000); // generous: make check runs this beside other tests, and against the ASan build

  try {
    // -- Dashboard: live numbers from /hektor/events --
    await page.goto(base() + '/studio/');
    await page.waitForSelector('[data-testid=fig-points]');
    eq(await text(page, '[data-testid=fig-points]'), '300', 'dashboard: total points is the collection size');
    eq(await text(page, '[data-testid=fig-collections]'), '1', 'dashboard: one collection');
    eq(await text(page, '[data-testid=points-items]'), '300', 'dashboard: points of collection items');
    for (let i = 0; i < 40; i++) await api('POST', '/collections/items/points/search', { vector: points[i].vector, limit: 5 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=fig-qps]')?.textContent) > 0);
    check(true, 'dashboard: queries per second rises above 0 after 40 searches');
    const lat = await text(page, '[data-testid=fig-latency]');
    check(/µs|ms/.test(lat) && !/^0 µs \/ 0 µs$/.test(lat), `dashboard: latency p50/p99 shown (${lat})`);
    const mem = await text(page, '[data-testid=fig-memory]');
    check(/MiB|GiB|KiB/.test(mem), `dashboard: resident memory shown (${mem})`);
    eq(await text(page, '[data-testid=stream-state]'), '● live', 'dashboard: the stream is live');
    await page.waitForTimeout(2500); // a few samples on the charts
    await everyTheme(page, 'dashboard');

    // -- keyboard: shortcut overlay and navigation --
    await page.locator('body').press('?');
    await page.waitForSelector('dialog.shortcuts[open]');
    check((await text(page, 'dialog.shortcuts')).includes('Go to Collections'), 'shortcuts: "?" opens the list, which names "Go to Collections"');
    await axe(page, 'shortcut overlay');
    await shot(page, 'shortcuts');
    await page.keyboard.press('Escape');
    await page.waitForSelector('dialog.shortcuts[open]', { state: 'detached' }).catch(() => {});
    check(!(await page.locator('dialog.shortcuts[open]').count()), 'shortcuts: Escape closes the list');
    await page.locator('body').press('2');
    await page.waitForURL('**/studio/collections');
    check(true, 'shortcuts: "2" goes to Collections');

    // -- Collections: create (flat and HNSW), list, drop with confirmation --
    await page.waitForSelector('[data-testid=row-items]');
    await page.locator('body').press('n');
    await page.fill('#new-name', 'e2e_flat');
    await page.fill('#new-dim', '4');
    await page.selectOption('#new-metric', 'Euclid');
    await page.selectOption('#new-index', 'flat');
    await page.click('form button[type=submit]');
    await page.waitForSelector('[data-testid=row-e2e_flat]');
    let info = await api('GET', '/collections/e2e_flat');
    eq([info.config.params.vectors.size, info.config.params.vectors.distance, info.config.hnsw_config.m], [4, 'Euclid', 0], 'collections: e2e_flat created flat, 4-d, Euclid');
    await page.click('text=New collection');
    await page.fill('#new-name', 'e2e_hnsw');
    await page.fill('#new-dim', '16');
    await page.selectOption('#new-metric', 'Dot');
    await page.fill('#new-m', '12');
    await page.fill('#new-efc', '150');
    await page.click('form button[type=submit]');
    await page.waitForSelector('[data-testid=row-e2e_hnsw]');
    info = await api('GET', '/collections/e2e_hnsw');
    eq([info.config.params.vectors.size, info.config.params.vectors.distance, info.config.hnsw_config.m, info.config.hnsw_config.ef_construct], [16, 'Dot', 12, 150], 'collections: e2e_hnsw created with M 12, ef_construction 150');
    await page.click('text=New collection');
    await page.fill('#new-name', 'items');
    await page.click('form button[type=submit]');
    await page.waitForSelector('form .alert.error');
    check((await text(page, 'form .alert.error')).includes('409'), 'collections: creating an existing name shows the 409 error');
    await page.click('form >> text=Cancel');
    await everyTheme(page, 'collections');
    await page.click('[data-testid=row-e2e_hnsw] button.danger');
    await page.waitForSelector('dialog[open]');
    await axe(page, 'drop confirmation');
    await shot(page, 'collections-drop-dialog');
    await page.click('dialog[open] >> text=Cancel');
    check((await api('GET', '/collections/e2e_hnsw/exists')).exists === true, 'collections: Cancel in the dialog keeps the collection');
    await page.click('[data-testid=row-e2e_hnsw] button.danger');
    await page.click('dialog[open] button.danger');
    await page.waitForSelector('[data-testid=row-e2e_hnsw]', { state: 'detached' });
    check((await api('GET', '/collections/e2e_hnsw/exists')).exists === false, 'collections: confirming the drop removes it on the server');

    // -- Collection details and browse with a filter --
    await api('PUT', '/collections/items/index', { field_name: 'city', field_schema: 'keyword' });
    await page.click('[data-testid=row-items] a');
    await page.waitForSelector('[data-testid=browse-table]');
    check((await text(page, '[data-testid=detail-payload-indexes]')).includes('city (keyword)'), 'details: the payload index from the stats');
    eq(await text(page, '[data-testid=detail-points]'), '300', 'details: 300 points');
    check(/B$/.test(await text(page, '[data-testid=detail-memory]')), 'details: memory from /hektor/collections/items/stats');
    const ids = async () => (await page.locator('[data-testid=browse-table] tbody tr td:first-child').allInnerTexts()).map(Number);
    eq(await ids(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'browse: first page is ids 0..9');
    check((await text(page, '[data-testid=browse-table] tbody tr:first-child')).includes('more]'), 'browse: the vector preview is truncated');
    await page.click('text=Next page');
    await page.waitForFunction(() => document.querySelector('[data-testid=browse-summary]')?.textContent?.includes('page 2'));
    eq(await ids(), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 'browse: second page is ids 10..19');
    await page.click('text=Previous page');
    await page.waitForFunction(() => document.querySelector('[data-testid=browse-summary]')?.textContent?.includes('page 1'));
    await page.click('text=Add condition');
    await page.fill('[id^=browse-c][id$=-key]', 'city');
    await page.fill('[id^=browse-c][id$=-value]', 'paris');
    await page.click('text=Add condition');
    const keys = page.locator('[id^=browse-c][id$=-key]');
    await keys.nth(1).fill('price');
    await page.locator('[id^=browse-c][id$=-op]').nth(1).selectOption('range');
    await page.locator('[id^=browse-c][id$=-gte]').fill('30');
    await page.locator('[id^=browse-c][id$=-lt]').fill('60');
    await page.click('text=Filter JSON');
    eq(JSON.parse(await text(page, '[data-testid=browse-filter-json]')), { must: [{ key: 'city', match: { value: 'paris' } }, { key: 'price', range: { gte: 30, lt: 60 } }] }, 'filter builder: the JSON shown');
    await page.click('text=Apply filter');
    const want = points.filter((p) => p.payload.city === 'paris' && p.payload.price >= 30 && p.payload.price < 60).map((p) => p.id);
    await page.waitForFunction((n) => document.querySelector('[data-testid=browse-summary]')?.textContent?.startsWith(`${n} matching`), want.length);
    check(true, `browse: the filter counts ${want.length} matching points`);
    eq(await ids(), want.slice(0, 10), 'browse: the filtered page holds exactly the matching ids');
    await everyTheme(page, 'collection-detail');

    // -- More like this → search by recommend --
    await page.locator('[data-testid=browse-table] tbody tr').first().locator('text=More like this').click();
    await page.waitForURL('**/studio/search?**');
    await page.waitForSelector('#search-like');
    eq(await page.inputValue('#search-like'), String(want[0]), 'more like this: the point id is filled in');
    await page.locator('body').press('Control+Enter'); // the filter is not carried over: plain recommend
    await page.waitForSelector('[data-testid=pane-a-results] tbody tr');
    const resultIds = async (pane) => (await page.locator(`[data-testid=${pane}-results] tbody tr td:nth-child(2)`).allInnerTexts()).map(Number);
    const likeIds = await resultIds('pane-a');
    const wantLike = bruteForce(points[want[0]].vector, 10, () => true, want[0]);
    const overlap = (a, b) => a.filter((x) => b.includes(x)).length / b.length;
    check(!likeIds.includes(want[0]) && overlap(likeIds, wantLike) >= 0.9, `more like this: recall@10 ${overlap(likeIds, wantLike)} against brute force, example left out`);

    // -- Search by vector, two settings side by side (HNSW ef 16 vs exact), with a filter --
    await page.goto(base() + '/studio/search?collection=items');
    await page.waitForSelector('#search-vector');
    const q = points[123].vector.map((x) => Math.round((x + 0.01) * 1000) / 1000);
    await page.fill('#search-vector', JSON.stringify(q));
    await page.check('text=Compare two settings');
    await page.fill('#pane-a-ef', '16');
    await page.click('form button[type=submit]');
    await page.waitForSelector('[data-testid=pane-b-results] tbody tr');
    const a = await resultIds('pane-a');
    const b = await resultIds('pane-b');
    const truth = bruteForce(q, 10);
    eq(b, truth, 'search: exact setting B equals brute force top 10');
    check(overlap(a, truth) >= 0.9, `search: HNSW setting A (ef 16) recall@10 ${overlap(a, truth)} >= 0.9`);
    const timing = await text(page, '[data-testid=pane-a-timing]');
    check(/server .*(µs|ms)/.test(timing) && timing.includes('Euclidean distance, lower is closer'), 'search: the server time and the meaning of the score are shown');
    await page.click('text=Add condition');
    await page.fill('[id^=search-c][id$=-key]', 'city');
    await page.locator('[id^=search-c][id$=-op]').selectOption('any');
    await page.fill('[id^=search-c][id$=-value]', 'rome, berlin');
    await page.click('form button[type=submit]');
    const truthF = bruteForce(q, 10, (p) => p.payload.city !== 'paris');
    await page.waitForFunction((t) => [...document.querySelectorAll('[data-testid=pane-b-results] tbody tr td:nth-child(2)')].map((e) => e.textContent).join(',') === t, truthF.join(','));
    check(true, 'search: with the filter city any of rome, berlin, the exact setting equals filtered brute force');
    const payloads = await page.locator('[data-testid=pane-a-results] tbody td:nth-child(4)').allInnerTexts();
    check(payloads.length > 0 && payloads.every((p) => !p.includes('paris')), 'search: no filtered result is in paris');
    await everyTheme(page, 'search-vector');

    // -- Search by text and hybrid (/hektor/collections/items/search) --
    await page.uncheck('text=Compare two settings');
    await page.click('text=Clear filter');
    await page.selectOption('#pane-a-mode', 'text');
    await page.fill('#search-text', 'glacier');
    await page.click('form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('[data-testid=pane-a-timing]')?.textContent?.includes('search'));
    const textIds = await resultIds('pane-a');
    const withWord = new Set(points.filter((p) => p.text.split(' ').includes('glacier')).map((p) => p.id));
    check(textIds.length === Math.min(10, withWord.size) && textIds.every((id) => withWord.has(id)), `search: text "glacier" returns ${textIds.length} points, each holding the word`);
    await page.click('text=Add condition');
    await page.fill('[id^=search-c][id$=-key]', 'city');
    await page.fill('[id^=search-c][id$=-value]', 'rome');
    await page.locator('body').press('Control+Enter');
    await page.waitForFunction(() => document.querySelector('[data-testid=pane-a-timing]')?.textContent?.includes('results'));
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=pane-a-results] tbody td:nth-child(4)')].every((e) => e.textContent.includes('rome')));
    const textRome = await resultIds('pane-a');
    const wantRome = [...withWord].filter((id) => points[id].payload.city === 'rome');
    check(textRome.length === Math.min(10, wantRome.length) && textRome.every((id) => wantRome.includes(id)), `search: text "glacier" with city = rome returns ${textRome.length} points, each in rome holding the word`);
    await page.click('text=Clear filter');
    await page.selectOption('#pane-a-mode', 'hybrid');
    await page.click('form button[type=submit]');
    // (the filtered text search's rows stay until the answer: wait for other rows)
    const before = JSON.stringify(textRome);
    await page.waitForFunction((b) => {
      const ids = [...document.querySelectorAll('[data-testid=pane-a-results] tbody tr td:nth-child(2)')].map((e) => Number(e.textContent));
      return ids.length === 10 && JSON.stringify(ids) !== b;
    }, before);
    const hyb = await resultIds('pane-a');
    check(hyb.some((id) => withWord.has(id)) && hyb.some((id) => truth.includes(id)), 'search: hybrid results mix text hits and vector neighbours');
    await shot(page, 'search-hybrid');
    // Another fusion method: DBSF over the same two lists; its scores are fused scores.
    await page.selectOption('#pane-a-fusion', 'dbsf');
    await page.click('form button[type=submit]');
    await page.waitForFunction((b) => {
      const ids = [...document.querySelectorAll('[data-testid=pane-a-results] tbody tr td:nth-child(2)')].map((e) => Number(e.textContent));
      return ids.length === 10 && JSON.stringify(ids) !== b;
    }, JSON.stringify(hyb));
    const hybD = await resultIds('pane-a');
    check(hybD.length === 10 && hybD.some((id) => withWord.has(id)) && hybD.some((id) => truth.includes(id)), 'search: hybrid by DBSF mixes text hits and vector neighbours');
    await page.selectOption('#pane-a-fusion', 'rrf');
    const hist = await page.locator('[data-testid=history] li').count();
    check(hist >= 4, `search: ${hist} queries in the history`);
    await page.reload();
    await page.waitForSelector('[data-testid=history]');
    eq(await page.locator('[data-testid=history] li').count(), hist, 'search: the history survives a reload');
    await page.locator('[data-testid=history] li button').last().click();
    eq(await page.inputValue('#search-like'), String(want[0]), 'search: a history entry restores its query');

    await spaceTests(page);

    // -- Import: a good fvecs file with progress, a rejected jsonl file --
    const NV = 20000;
    const fv = Buffer.alloc(NV * (4 + DIM * 4));
    for (let i = 0; i < NV; i++) {
      fv.writeInt32LE(DIM, i * (4 + DIM * 4));
      for (let d = 0; d < DIM; d++) fv.writeFloatLE(rand(), i * (4 + DIM * 4) + 4 + d * 4);
    }
    writeFileSync(join(TMP, 'upload.fvecs'), fv);
    await page.locator('body').press('4');
    await page.waitForURL('**/studio/import');
    await page.setInputFiles('#import-file', join(TMP, 'upload.fvecs'));
    eq(await page.inputValue('#import-format'), 'fvecs', 'import: the format follows the file name');
    await page.fill('#import-collection', 'uploaded');
    await page.check('text=Create it when it does not exist');
    // Sample the progress bar every 20 ms while the job runs.
    await page.evaluate(() => {
      window.__seen = [];
      setInterval(() => {
        const p = document.querySelector('[data-testid=import-job] progress');
        if (p) window.__seen.push(p.value);
      }, 20);
    });
    await page.click('text=Upload and import');
    await page.waitForSelector('[data-testid=import-done]', { timeout: 60000 });
    const seen = await page.evaluate(() => [...new Set(window.__seen)]);
    const jobSeconds = (await api('GET', '/hektor/jobs')).find((j) => j.collection === 'uploaded')?.result?.seconds;
    check(seen.some((v) => v > 0 && v < 1), `import: the progress bar moved through ${seen.filter((v) => v > 0 && v < 1).length} values between 0 and 1 (the job took ${jobSeconds} s)`);
    eq(await page.locator('[data-testid=import-job] progress').evaluate((e) => e.value), 1, 'import: the progress bar ends full');
    eq((await api('POST', '/collections/uploaded/points/count', {})).count, NV, `import: ${NV} points in the new collection`);
    await everyTheme(page, 'import-done');
    const bad = points.slice(0, 5).map((p) => JSON.stringify(p));
    bad[2] = '{"id": 2, "vector": [1, 2, "x"]}';
    writeFileSync(join(TMP, 'bad.jsonl'), bad.join('\n') + '\n');
    await page.setInputFiles('#import-file', join(TMP, 'bad.jsonl'));
    eq(await page.inputValue('#import-format'), 'jsonl', 'import: jsonl chosen from the name');
    await page.fill('#import-collection', 'e2e_flat');
    await page.uncheck('text=Create it when it does not exist');
    await page.click('text=Upload and import');
    await page.waitForSelector('[data-testid=import-rejected]', { timeout: 30000 });
    const rej = await text(page, '[data-testid=import-rejected]');
    check(/line 3/.test(rej), `import: the rejection names the line (${rej.replace(/\n/g, ' ')})`);
    eq((await api('POST', '/collections/e2e_flat/points/count', {})).count, 0, 'import: nothing of the rejected file is in the collection');
    await axe(page, 'import rejected');
    await shot(page, 'import-rejected');

    // -- a csv file with a text column into a new cosine collection --
    const csv = ['key,emb,body,city'];
    for (let i = 0; i < 50; i++) csv.push(`${1000 + i},"[${points[i].vector.join(',')}]",${points[i].text},${points[i].payload.city}`);
    writeFileSync(join(TMP, 'docs.csv'), csv.join('\n') + '\n');
    await page.setInputFiles('#import-file', join(TMP, 'docs.csv'));
    await page.fill('#import-collection', 'csvdocs');
    await page.check('text=Create it when it does not exist');
    await page.selectOption('#import-metric', 'cosine');
    await page.fill('#import-id-field', 'key');
    await page.fill('#import-vector-field', 'emb');
    await page.fill('#import-text-field', 'body');
    await page.click('text=Upload and import');
    await page.waitForSelector('[data-testid=import-done]', { timeout: 30000 });
    const got = await api('GET', '/collections/csvdocs/points/1007');
    eq([got.payload.city, (await api('GET', '/collections/csvdocs')).config.params.vectors.distance], [points[7].payload.city, 'Cosine'], 'import: csv with named id, vector and text columns, cosine');
    const hits = await api('POST', '/hektor/collections/csvdocs/search', { text: points[7].text.split(' ')[0], k: 50 });
    check(hits.points.some((p) => p.id === 1007), 'import: the csv text column is searchable');
    await shot(page, 'import-csv');
    await api('DELETE', '/collections/csvdocs');

    // -- 3D Space: a UMAP job on the 20,000 imported points, cancelled from the page --
    await page.goto(base() + '/studio/space?collection=uploaded');
    await page.waitForSelector('[data-testid=space-none]');
    await page.selectOption('#space-method', 'umap');
    await page.waitForFunction(() => document.querySelector('[data-testid=space-none]')?.textContent?.includes('UMAP'));
    await page.click('form >> text=Compute');
    await page.waitForSelector('text=Cancel projection');
    await page.click('text=Cancel projection');
    await page.waitForFunction(() => document.querySelector('[data-testid=space-job] h2')?.textContent?.endsWith('cancelled'), null, { timeout: 60000 });
    const pj = (await api('GET', '/hektor/jobs')).filter((j) => j.kind === 'project' && j.collection === 'uploaded');
    eq(pj.map((j) => j.state), ['cancelled'], 'space: "Cancel projection" cancels the UMAP job on the server');
    check((await api('GET', '/hektor/collections/uploaded/projection?method=umap').catch((e) => e.message)).includes('404'), 'space: a cancelled job leaves no projection');
    await axe(page, 'space cancelled');

    // -- the dashboard lists the finished import jobs --
    await page.locator('body').press('1');
    await page.waitForSelector('[data-testid=job-csvdocs]');
    check((await text(page, '[data-testid=job-csvdocs]')).includes('imported 50 points'), 'dashboard: the import just finished is listed with its message');

    // -- Settings and theme persistence --
    await page.locator('body').press('5');
    await page.waitForURL('**/studio/settings');
    await page.selectOption('#set-theme', 'dark');
    await page.fill('#set-k', '7');
    await page.locator('#set-k').press('Control+Enter');
    await page.reload();
    await page.waitForSelector('#set-theme');
    eq(await page.evaluate(() => document.documentElement.dataset.theme), 'dark', 'settings: the dark theme survives a reload');
    eq(await page.inputValue('#set-k'), '7', 'settings: default k survives a reload');
    await page.locator('body').press('t');
    eq(await page.evaluate(() => document.documentElement.dataset.theme), 'contrast', 'shortcuts: "t" switches to the next theme');
    await page.reload();
    await page.waitForSelector('#set-theme');
    eq(await page.evaluate(() => document.documentElement.dataset.theme), 'contrast', 'settings: the theme chosen with "t" survives a reload');
    await page.fill('#set-server', base());
    await page.click('text=Test connection');
    await page.waitForSelector('.alert.ok');
    check((await text(page, '.alert.ok')).includes('3 collections'), 'settings: "Test connection" reaches the server at the address typed');
    await page.fill('#set-server', 'http://127.0.0.1:1');
    await page.click('text=Test connection');
    await page.waitForSelector('form .alert.error');
    check((await text(page, 'form .alert.error')).includes('did not answer'), 'settings: "Test connection" to a closed port says the server did not answer');
    await page.fill('#set-server', '');
    await setTheme(page, 'light');
    await everyTheme(page, 'settings');
    eq(await page.inputValue('#set-theme'), 'light', "settings: the page's theme choice follows the header's");
    await page.goto(base() + '/studio/search');
    await page.waitForSelector('#pane-a-k');
    eq(await page.inputValue('#pane-a-k'), '7', 'settings: the search page starts from the saved k');

    // -- loading: a server that accepts connections and never answers (a real socket) shows
    //    skeletons, then, when no statistics arrive for six seconds, the unreachable state --
    const held = [];
    const hang = createServer((sock) => held.push(sock));
    await new Promise((r) => hang.listen(0, '127.0.0.1', r));
    const setServer = (addr) =>
      page.evaluate((a) => {
        const s = JSON.parse(localStorage.getItem('hektor.studio.settings') ?? '{}');
        localStorage.setItem('hektor.studio.settings', JSON.stringify({ ...s, server: a }));
      }, addr);
    await setServer(`http://127.0.0.1:${hang.address().port}`);
    await page.goto(base() + '/studio/');
    await page.waitForSelector('[aria-label="Loading statistics"]');
    check(true, 'dashboard: skeletons while no statistics have arrived');
    await axe(page, 'dashboard loading');
    await shot(page, 'dashboard-loading');
    await page.waitForSelector('[data-testid=state-unreachable]', { timeout: 20000 });
    check((await text(page, '[data-testid=state-unreachable]')).includes('no statistics for several seconds'), 'dashboard: a stream that stalls is reported unreachable');
    held.forEach((sock) => sock.destroy());
    await new Promise((r) => hang.close(r));
    await setServer('');

    // -- the server goes away and comes back --
    await page.goto(base() + '/studio/');
    await page.waitForSelector('[data-testid=fig-points]');
    await stopServer();
    await page.waitForSelector('[data-testid=state-unreachable]', { timeout: 20000 });
    check(true, 'dashboard: stopping the server shows "Server unreachable — retrying"');
    await axe(page, 'dashboard unreachable');
    await shot(page, 'dashboard-unreachable');
    await startServer();
    await page.waitForSelector('[data-testid=state-recovered]', { timeout: 20000 });
    check(true, 'dashboard: restarting the server on the same port shows "Recovered"');
    eq(await text(page, '[data-testid=fig-points]'), (N + NV).toLocaleString('en-US'), 'dashboard: the figures are live again after recovery');
    await shot(page, 'dashboard-recovered');

    // -- the server comes back wanting an API key: the error state, then the key in Settings --
    await stopServer();
    apiKey = 'e2e-secret-key';
    await startServer();
    await page.waitForSelector('[data-testid=state-error]', { timeout: 20000 });
    check((await text(page, '[data-testid=state-error]')).includes('401'), 'dashboard: a server that wants an API key shows the error state with the 401');
    await axe(page, 'dashboard error');
    await shot(page, 'dashboard-error');
    await page.locator('body').press('5');
    await page.fill('#set-key', apiKey);
    await page.click('text=Save settings');
    await page.locator('body').press('1');
    await page.waitForSelector('[data-testid=state-recovered]', { timeout: 20000 });
    check(true, 'settings: with the API key saved, the dashboard recovers');
    eq(await text(page, '[data-testid=fig-collections]'), '3', 'dashboard: live figures through the API key');
    await page.locator('body').press('2');
    await page.waitForSelector('[data-testid=row-items]');
    check(true, 'collections: the API routes work with the saved key (api-key header)');
    await page.locator('body').press('1');
    await page.waitForSelector('[data-testid=fig-points]');

    // -- the empty state --
    for (const c of ['items', 'e2e_flat', 'uploaded']) await api('DELETE', `/collections/${c}`);
    await page.waitForSelector('[data-testid=state-empty]');
    check(true, 'dashboard: no collections shows the empty state');
    await axe(page, 'dashboard empty');
    await shot(page, 'dashboard-empty');

    eq(pageErrors, [], 'no uncaught errors in the page');
  } catch (e) {
    await page.screenshot({ path: join(SHOTS, 'failure.png'), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
    await stopServer();
  }
}

try {
  await main();
} catch (e) {
  failures++;
  console.log(`FAIL ${e.stack ?? e}`);
  console.log(`server log (tail):\n${serverLog.slice(-3000)}`);
  await stopServer().catch(() => {});
}
console.log(`${passed} passed, ${failures} failed; screenshots in ${SHOTS}`);
if (!failures) rmSync(TMP, { recursive: true, force: true });
process.exit(failures ? 1 : 0);
