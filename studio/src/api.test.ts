import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, createBody, decode, request, unwrapJob } from './api';
import { saveSettings, DEFAULTS } from './settings';

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

describe('decode', () => {
  it('unwraps the envelope and keeps the server time', async () => {
    const a = await decode<number[]>(json(200, { result: [1, 2], status: 'ok', time: 0.0025 }), performance.now());
    expect(a.result).toEqual([1, 2]);
    expect(a.time).toBe(0.0025);
    expect(a.roundTripMs).toBeGreaterThanOrEqual(0);
  });

  it('turns an error envelope into an http ApiError with the status and the message', async () => {
    const e = await decode(json(400, { status: { error: 'Wrong input: bad dim' }, time: 0 }), 0).catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.kind).toBe('http');
    expect(e.status).toBe(400);
    expect(e.message).toBe('400: Wrong input: bad dim');
  });

  it('reports an error answer that is not JSON with its text', async () => {
    const e = await decode(new Response('gateway down', { status: 502, statusText: 'Bad Gateway' }), 0).catch((x) => x);
    expect(e.kind).toBe('http');
    expect(e.message).toBe('502: gateway down');
  });

  it('refuses a 200 answer without an envelope as a format error', async () => {
    const e = await decode(new Response('<html>', { status: 200 }), 0).catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.kind).toBe('format');
  });
});

// request() against a real HTTP server on loopback that records what it receives.
describe('request', () => {
  let server: Server;
  let base = '';
  const seen: { method?: string; url?: string; headers: Record<string, unknown>; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        if (req.url === '/collections/missing') {
          res.writeHead(404, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ status: { error: 'Not found: Collection `missing` doesn\'t exist!' }, time: 0.00001 }));
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ result: true, status: 'ok', time: 0.001 }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  afterEach(() => localStorage.clear());

  it('sends JSON and the api-key header to the configured server', async () => {
    saveSettings({ ...DEFAULTS, server: base + '/', apiKey: 's3cret' });
    const a = await request<boolean>('PUT', '/collections/x', { vectors: { size: 4, distance: 'Dot' } });
    expect(a.result).toBe(true);
    expect(a.time).toBe(0.001);
    const r = seen[seen.length - 1];
    expect(r.method).toBe('PUT');
    expect(r.url).toBe('/collections/x');
    expect(r.headers['api-key']).toBe('s3cret');
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({ vectors: { size: 4, distance: 'Dot' } });
  });

  it('gives the error envelope\'s message and status', async () => {
    saveSettings({ ...DEFAULTS, server: base });
    const e = await request('GET', '/collections/missing').catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect([e.kind, e.status]).toEqual(['http', 404]);
    expect(e.message).toBe("404: Not found: Collection `missing` doesn't exist!");
  });

  it('reports a server that does not answer as a network error', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    saveSettings({ ...DEFAULTS, server: `http://127.0.0.1:${port}` });
    const e = await request('GET', '/collections').catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.kind).toBe('network');
    expect(e.message).toMatch(/did not answer/);
  });
});

describe('createBody', () => {
  it('asks for a graph with m and ef_construct, or m 0 for flat', () => {
    expect(createBody({ name: 'a', size: 8, distance: 'Cosine', index: 'hnsw', m: 12, efConstruct: 150 })).toEqual({
      vectors: { size: 8, distance: 'Cosine' },
      hnsw_config: { m: 12, ef_construct: 150 },
    });
    expect(createBody({ name: 'a', size: 8, distance: 'Euclid', index: 'flat', m: 12, efConstruct: 150 }).hnsw_config).toEqual({ m: 0 });
  });
});

describe('unwrapJob', () => {
  const job = { id: 'j-1', kind: 'import', collection: 'c', state: 'running', progress: 0.5, done: 1, total: 2, message: '', started: 1, finished: null, result: null };
  it('takes {"job": job} and a bare job', () => {
    expect(unwrapJob({ job })).toEqual(job);
    expect(unwrapJob(job)).toEqual(job);
  });
  it('refuses something else', () => {
    expect(() => unwrapJob({ jobs: [] })).toThrow(/not a job/);
  });
});
