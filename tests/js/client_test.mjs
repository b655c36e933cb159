// client_test.mjs — the official Qdrant JavaScript client (@qdrant/js-client-rest,
// unchanged) against `hektor serve`: create a collection, upsert, search with a filter,
// scroll, recommend, delete, quantization_config (create, the codes trained once the
// collection holds --quantize-min-points points, update to "Disabled"), and assert every answer. Starts the server itself on a free
// port with a temporary database; exits non-zero on the first failed assertion.
//   HEKTOR_BIN=build/hektor node tests/js/client_test.mjs
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { QdrantClient } from '@qdrant/js-client-rest';

const bin = process.env.HEKTOR_BIN || new URL('../../build/hektor', import.meta.url).pathname;
const tmpRoot = process.env.HK_TEST_TMP || tmpdir();
mkdirSync(tmpRoot, { recursive: true });
const dir = mkdtempSync(join(tmpRoot, 'hk-js-'));

function startServer() {
  const proc = spawn(bin, ['--db', join(dir, 'db'), 'serve', '--port', '0', '--api-key', 'js-key',
    '--quantize-min-points', '200'], {
    env: { ...process.env, HEKTOR_NOSYNC: '1' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout });
    rl.once('line', (line) => {
      const m = /^hektor: serving (http:\/\/\S+)$/.exec(line);
      if (m) resolve({ proc, url: m[1] });
      else reject(new Error(`unexpected first line: ${line}`));
    });
    proc.once('exit', (code) => reject(new Error(`hektor serve exited with ${code}`)));
  });
}

const { proc, url } = await startServer();
let failed = false;
try {
  const client = new QdrantClient({ url, apiKey: 'js-key', checkCompatibility: false });

  // The version document Qdrant clients read.
  const version = await client.versionInfo();
  assert.equal(version.title, 'hektor - vector search engine');

  await client.createCollection('books', { vectors: { size: 4, distance: 'Cosine' } });
  assert.deepEqual(await client.collectionExists('books'), { exists: true });
  const names = (await client.getCollections()).collections.map((c) => c.name);
  assert.deepEqual(names, ['books']);

  const points = [];
  for (let i = 1; i <= 20; i++) {
    const a = i / 20;
    points.push({
      id: i,
      vector: [1, a, a * a, i % 2],
      payload: { genre: i % 3 === 0 ? 'poetry' : 'novel', year: 1990 + i },
    });
  }
  const up = await client.upsert('books', { wait: true, points });
  assert.equal(up.status, 'completed');
  await client.upsert('books', {
    wait: true,
    batch: { ids: [21, 22], vectors: [[0, 0, 1, 0], [0, 1, 0, 0]], payloads: [{ genre: 'poetry', year: 2020 }, { genre: 'essay', year: 2021 }] },
  });
  assert.equal((await client.count('books', { exact: true })).count, 22);
  const info = await client.getCollection('books');
  assert.equal(info.points_count, 22);
  assert.equal(info.config.params.vectors.distance, 'Cosine');

  await client.createPayloadIndex('books', { field_name: 'genre', field_schema: 'keyword', wait: true });

  // Search with a filter: only poetry after 2000, best first.
  const filter = {
    must: [
      { key: 'genre', match: { value: 'poetry' } },
      { key: 'year', range: { gte: 2000 } },
    ],
  };
  const hits = await client.search('books', { vector: [1, 0.5, 0.25, 0], filter, limit: 5, with_payload: true });
  assert.ok(hits.length > 0 && hits.length <= 5, `search returned ${hits.length}`);
  for (const h of hits) {
    assert.equal(h.payload.genre, 'poetry');
    assert.ok(h.payload.year >= 2000);
  }
  for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].score >= hits[i].score, 'scores descend');
  // The same ranking computed here by cosine similarity over the matching points.
  const all = [...points, { id: 21, vector: [0, 0, 1, 0], payload: { genre: 'poetry', year: 2020 } }];
  const cos = (a, b) => {
    const dot = a.reduce((s, x, i) => s + x * b[i], 0);
    return dot / Math.hypot(...a) / Math.hypot(...b);
  };
  const want = all
    .filter((p) => p.payload.genre === 'poetry' && p.payload.year >= 2000)
    .map((p) => ({ id: p.id, score: cos(p.vector, [1, 0.5, 0.25, 0]) }))
    .sort((x, y) => y.score - x.score);
  assert.deepEqual(hits.map((h) => h.id), want.map((w) => w.id));
  hits.forEach((h, i) => assert.ok(Math.abs(h.score - want[i].score) < 1e-5, `score of ${h.id}`));

  const batch = await client.searchBatch('books', {
    searches: [{ vector: [0, 0, 1, 0], limit: 1 }, { vector: [0, 1, 0, 0], limit: 1 }],
  });
  assert.deepEqual(batch.map((r) => r[0].id), [21, 22]);

  // Scroll every novel, two pages of 5 and the rest.
  const novels = [];
  let offset;
  do {
    const page = await client.scroll('books', {
      filter: { must: [{ key: 'genre', match: { value: 'novel' } }] }, limit: 5, offset, with_payload: true,
    });
    novels.push(...page.points.map((p) => p.id));
    offset = page.next_page_offset ?? undefined;
  } while (offset !== undefined);
  assert.deepEqual(novels, [1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20]);

  // Recommend like 21 (the [0,0,1,0] point) and unlike 22: the examples are left out.
  const rec = await client.recommend('books', { positive: [21], negative: [22], limit: 3 });
  assert.equal(rec.length, 3);
  assert.ok(!rec.some((r) => r.id === 21 || r.id === 22), 'examples are not recommended');
  assert.equal(rec[0].id, 20, `best recommendation ${rec[0].id}`);

  const got = await client.retrieve('books', { ids: [3, 99], with_vector: true });
  assert.equal(got.length, 1);
  assert.equal(got[0].payload.genre, 'poetry');
  assert.equal(got[0].vector.length, 4);

  await client.setPayload('books', { payload: { read: true }, points: [1, 2], wait: true });
  const [one] = await client.retrieve('books', { ids: [1] });
  assert.deepEqual(one.payload, { genre: 'novel', year: 1991, read: true });

  // Delete by ids and by filter.
  await client.delete('books', { wait: true, points: [1, 2] });
  await client.delete('books', { wait: true, filter: { must: [{ key: 'genre', match: { value: 'essay' } }] } });
  assert.equal((await client.count('books')).count, 19);

  // Errors come back as the client's errors with Qdrant's status codes.
  await assert.rejects(client.getCollection('nope'), (e) => e.status === 404);
  await assert.rejects(
    client.upsert('books', { wait: true, points: [{ id: 50, vector: [1, 2] }] }),
    (e) => e.status === 400,
  );
  await assert.rejects(
    new QdrantClient({ url, apiKey: 'wrong', checkCompatibility: false }).getCollections(),
    (e) => e.status === 401,
  );

  // The query API: a vector, and two prefetches fused by reciprocal rank fusion, which
  // must equal RRF (k = 60) computed here from the two searches.
  const q1 = await client.query('books', { query: [0, 0, 1, 0], limit: 2 });
  assert.equal(q1.points[0].id, 21);
  const la = (await client.search('books', { vector: [0, 0, 1, 0], limit: 4 })).map((h) => h.id);
  const lb = (await client.search('books', { vector: [0, 1, 0, 0], limit: 4 })).map((h) => h.id);
  const rrf = new Map();
  for (const l of [la, lb]) l.forEach((id, r) => rrf.set(id, (rrf.get(id) ?? 0) + 1 / (61 + r)));
  const wantFused = [...rrf.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, 5);
  const fused = await client.query('books', {
    prefetch: [{ query: [0, 0, 1, 0], limit: 4 }, { query: [0, 1, 0, 0], limit: 4 }],
    query: { fusion: 'rrf' },
    limit: 5,
    with_payload: true,
  });
  assert.deepEqual(fused.points.map((p) => p.id), wantFused.map((w) => w[0]));
  fused.points.forEach((p, i) => assert.ok(Math.abs(p.score - wantFused[i][1]) < 1e-6, `fused score of ${p.id}`));
  assert.ok(fused.points.every((p) => p.payload.genre), 'payloads');
  // DBSF: the same two lists fused by their score distributions; every point comes from them.
  const dbsf = await client.query('books', {
    prefetch: [{ query: [0, 0, 1, 0], limit: 4 }, { query: [0, 1, 0, 0], limit: 4 }],
    query: { fusion: 'dbsf' },
    limit: 5,
  });
  assert.equal(dbsf.points.length, 5);
  const listed = new Set(rrf.keys());
  assert.ok(dbsf.points.every((p) => listed.has(p.id)), 'dbsf points come from the prefetches');
  for (let i = 1; i < dbsf.points.length; i++) assert.ok(dbsf.points[i].score <= dbsf.points[i - 1].score, 'dbsf order');
  await assert.rejects(
    client.query('books', { prefetch: [{ query: [0, 0, 1, 0] }], query: { fusion: 'nope' } }),
    (e) => e.status === 400,
  );

  // Snapshots: create, list, change the collection, recover, delete.
  const snap = await client.createSnapshot('books');
  assert.ok(snap.name.startsWith('books-') && snap.name.endsWith('.snapshot'), snap.name);
  assert.deepEqual((await client.listSnapshots('books')).map((x) => x.name), [snap.name]);
  await client.delete('books', { wait: true, points: [3] });
  assert.equal((await client.count('books')).count, 18);
  assert.equal(await client.recoverSnapshot('books', { location: snap.name }), true);
  assert.equal((await client.count('books')).count, 19);
  await assert.rejects(client.recoverSnapshot('books', { location: 'file:///etc/passwd' }), (e) => e.status === 400);
  assert.equal(await client.deleteSnapshot('books', snap.name), true);
  assert.deepEqual(await client.listSnapshots('books'), []);

  assert.equal(await client.deleteCollection('books'), true);
  assert.deepEqual(await client.collectionExists('books'), { exists: false });

  // quantization_config through the unchanged client: product x4 (8-bit PQ, 8 bytes per
  // point at size 8) trained as a background job once 200 points are in.
  await client.createCollection('qz', {
    vectors: { size: 8, distance: 'Euclid' },
    quantization_config: { product: { compression: 'x4', always_ram: true } },
  });
  let qinfo = await client.getCollection('qz');
  assert.deepEqual(qinfo.config.quantization_config, { product: { compression: 'x4', always_ram: true } });
  const qpts = [];
  for (let i = 0; i < 300; i++) qpts.push({ id: i, vector: Array.from({ length: 8 }, (_, d) => Math.sin(i * (d + 1))) });
  await client.upsert('qz', { wait: true, points: qpts });
  const hdr = { 'api-key': 'js-key' };
  let stats;
  for (let t = 0; t < 600; t++) {
    stats = (await (await fetch(`${url}/hektor/collections/qz/stats`, { headers: hdr })).json()).result;
    if (stats.quantization) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(stats.quantization?.method, 'pq', 'codes trained by the job');
  assert.equal(stats.quantization.code_bytes, 8);
  const qhit = await client.search('qz', { vector: qpts[7].vector, limit: 1 });
  assert.equal(qhit[0].id, 7);
  assert.equal(await client.updateCollection('qz', { quantization_config: 'Disabled' }), true);
  qinfo = await client.getCollection('qz');
  assert.equal(qinfo.config.quantization_config, null);
  await assert.rejects(
    client.updateCollection('qz', { quantization_config: { binary: { always_ram: true } } }),
    (e) => e.status === 400,
  );
  assert.equal(await client.deleteCollection('qz'), true);
  console.log('js client: every check passed');
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  const exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) {
    console.error(`hektor serve exited with ${code} after SIGTERM`);
    failed = true;
  }
  if (!process.env.HK_KEEP) rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
