// The projection routes (docs/SERVER.md, "Projections"): start a job, read the metadata,
// the coordinates and ids (raw little-endian arrays), a point's neighbours from the
// server's k-NN graph, and a payload field's values for colouring.
import { ApiError, currentConn, decode, enc, headers, request, unwrapJob, url, type Job } from '../api';
import type { Bounds } from './geometry';

export type Method = 'pca' | 'umap';

export interface ProjectionMeta {
  method: Method;
  dims: number;
  count: number;
  total: number;
  sampled: boolean;
  neighbors: number;
  seed: number;
  created: number;
  took_s: number;
  stale: boolean;
  bounds: Bounds;
  explained_variance: number[] | null;
  quality: { knn_preservation: number };
}

export interface ProjectionRequest {
  method: Method;
  max_points: number;
  neighbors: number;
}

export interface Neighbour {
  index: number;
  id: number;
  distance: number;
}
export interface NeighbourAnswer {
  point: { index: number; id: number };
  neighbors: Neighbour[];
}

export type FieldValues =
  | { field: string; kind: 'number'; values: (number | null)[]; min: number; max: number }
  | { field: string; kind: 'category'; categories: string[]; codes: number[] };

const base = (name: string) => `/hektor/collections/${enc(name)}/projection`;

// Checks the request before it is sent; the message names the member.
export function projectionBody(r: ProjectionRequest): ProjectionRequest {
  if (r.method !== 'pca' && r.method !== 'umap') throw new Error(`method must be pca or umap, not "${r.method}"`);
  if (!Number.isInteger(r.max_points) || r.max_points < 1) throw new Error('max points must be a whole number of at least 1');
  if (!Number.isInteger(r.neighbors) || r.neighbors < 2 || r.neighbors > 100) throw new Error('neighbours must be a whole number from 2 to 100');
  return { method: r.method, max_points: r.max_points, neighbors: r.neighbors };
}

export const startProjection = (name: string, r: ProjectionRequest) =>
  request<unknown>('POST', base(name), projectionBody(r)).then((a) => unwrapJob(a.result));

export const getJob = (id: string) => request<unknown>('GET', `/hektor/jobs/${enc(id)}`).then((a) => unwrapJob(a.result));
export const cancelJob = (id: string) => request<unknown>('DELETE', `/hektor/jobs/${enc(id)}`).then((a) => unwrapJob(a.result));
export type { Job };

// The metadata, or null when the collection has no projection of that method (404).
export async function getProjection(name: string, method: Method): Promise<ProjectionMeta | null> {
  try {
    return (await request<ProjectionMeta>('GET', `${base(name)}?method=${method}`)).result;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      // A 404 for the collection itself, or from a server without the projection routes
      // ("no route"), is an error to show, not an offer to compute.
      if (/no route/i.test(e.message)) throw new ApiError('http', `${e.message} (this server has no projection routes)`, 404);
      if (/collection/i.test(e.message) && !/projection/i.test(e.message)) throw e;
      return null;
    }
    throw e;
  }
}

// A binary answer: the raw bytes, or the JSON error turned into an ApiError.
export async function decodeBinary(res: Response): Promise<ArrayBuffer> {
  if (!res.ok) {
    await decode(res, 0);
    throw new ApiError('http', `${res.status}`, res.status);
  }
  const type = res.headers.get('Content-Type') ?? '';
  if (!type.startsWith('application/octet-stream'))
    throw new ApiError('format', `expected application/octet-stream, got "${type}"`, res.status);
  return res.arrayBuffer();
}

async function binary(path: string): Promise<ArrayBuffer> {
  const conn = currentConn();
  let res: Response;
  try {
    res = await fetch(url(conn, path), { headers: headers(conn, false) });
  } catch (e) {
    throw new ApiError('network', `the server at ${conn.server || location.origin} did not answer (${(e as Error).message})`);
  }
  return decodeBinary(res);
}

// float32 × count × 3, checked against the count the metadata gives.
export function parseCoords(buf: ArrayBuffer, count: number): Float32Array {
  if (buf.byteLength !== count * 12)
    throw new ApiError('format', `the coordinates hold ${buf.byteLength} bytes, expected ${count * 12} (${count} points × 3 × 4)`);
  return new Float32Array(buf);
}

// uint64 × count, as numbers (ids above 2^53 would lose precision: refused).
export function parseIds(buf: ArrayBuffer, count: number): Float64Array {
  if (buf.byteLength !== count * 8)
    throw new ApiError('format', `the ids hold ${buf.byteLength} bytes, expected ${count * 8} (${count} × 8)`);
  const v = new BigUint64Array(buf);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    if (v[i] > BigInt(Number.MAX_SAFE_INTEGER)) throw new ApiError('format', `point id ${v[i]} is beyond what the browser holds exactly`);
    out[i] = Number(v[i]);
  }
  return out;
}

export async function getCoords(name: string, method: Method, count: number) {
  return parseCoords(await binary(`${base(name)}/coords?method=${method}`), count);
}
export async function getIds(name: string, method: Method, count: number) {
  return parseIds(await binary(`${base(name)}/ids?method=${method}`), count);
}

export const getNeighbours = (name: string, method: Method, index: number, k?: number) =>
  request<NeighbourAnswer>('GET', `${base(name)}/neighbors?method=${method}&index=${index}${k ? `&k=${k}` : ''}`).then((a) => a.result);

export const getField = (name: string, method: Method, field: string) =>
  request<FieldValues>('GET', `${base(name)}/field?method=${method}&name=${enc(field)}`).then((a) => a.result);

// The payload fields of a sample of points (dotted paths for nested objects, one level).
export async function payloadFields(name: string): Promise<string[]> {
  const a = await request<{ points: { payload: Record<string, unknown> | null }[] }>('POST', `/collections/${enc(name)}/points/scroll`, {
    limit: 100,
    with_payload: true,
    with_vector: false,
  });
  const keys = new Set<string>();
  for (const p of a.result.points)
    for (const [k, v] of Object.entries(p.payload ?? {})) {
      if (v && typeof v === 'object' && !Array.isArray(v)) for (const k2 of Object.keys(v)) keys.add(`${k}.${k2}`);
      else keys.add(k);
    }
  return [...keys].sort();
}

// "showing 1,000,000 of 3,200,000 points, a uniform sample"
export function sampleNote(m: Pick<ProjectionMeta, 'count' | 'total' | 'sampled'>): string {
  const f = (n: number) => n.toLocaleString('en-US');
  return m.sampled ? `showing ${f(m.count)} of ${f(m.total)} points, a uniform sample` : `showing all ${f(m.count)} points`;
}
