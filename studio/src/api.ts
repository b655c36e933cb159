// The HTTP client: every request goes through request(), which adds the API key, unwraps
// Qdrant's envelope {"result", "status": "ok", "time"} and turns every failure into an
// ApiError whose kind says what went wrong: 'network' (no answer: the server is down or
// unreachable), 'http' (an answer with an error status; message from the envelope), or
// 'format' (an answer that is not the JSON the route promises).
import { loadSettings } from './settings';

export type ErrorKind = 'network' | 'http' | 'format';

export class ApiError extends Error {
  constructor(
    public kind: ErrorKind,
    message: string,
    public status = 0,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Answer<T> {
  result: T;
  time: number; // seconds, the server's own timing from the envelope
  roundTripMs: number; // measured by the browser
}

export interface Conn {
  server: string;
  apiKey: string;
}

export function currentConn(): Conn {
  const s = loadSettings();
  return { server: s.server, apiKey: s.apiKey };
}

export function url(conn: Conn, path: string): string {
  return (conn.server || '') + path;
}

export function headers(conn: Conn, json: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  if (json) h['Content-Type'] = 'application/json';
  if (conn.apiKey) h['api-key'] = conn.apiKey;
  return h;
}

// Decodes one response. Exported for the unit tests, which feed it real Response objects.
export async function decode<T>(res: Response, started: number): Promise<Answer<T>> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const env = body as { result?: T; status?: unknown; time?: number } | undefined;
  if (!res.ok) {
    const st = env && typeof env === 'object' ? env.status : undefined;
    const msg =
      st && typeof st === 'object' && typeof (st as { error?: unknown }).error === 'string'
        ? (st as { error: string }).error
        : text.trim().slice(0, 300) || res.statusText || 'no message';
    throw new ApiError('http', `${res.status}: ${msg}`, res.status);
  }
  if (!env || typeof env !== 'object' || !('result' in env)) {
    throw new ApiError('format', `the answer is not a JSON envelope with "result": ${text.slice(0, 120)}`, res.status);
  }
  return {
    result: env.result as T,
    time: typeof env.time === 'number' ? env.time : 0,
    roundTripMs: performance.now() - started,
  };
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  conn: Conn = currentConn(),
  signal?: AbortSignal,
): Promise<Answer<T>> {
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(url(conn, path), {
      method,
      headers: headers(conn, body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError('network', `the server at ${conn.server || location.origin} did not answer (${(e as Error).message})`);
  }
  return decode<T>(res, started);
}

export async function upload<T>(path: string, file: Blob, conn: Conn = currentConn()): Promise<Answer<T>> {
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(url(conn, path), {
      method: 'POST',
      headers: { ...headers(conn, false), 'Content-Type': 'application/octet-stream' },
      body: file,
    });
  } catch (e) {
    throw new ApiError('network', `the server at ${conn.server || location.origin} did not answer (${(e as Error).message})`);
  }
  return decode<T>(res, started);
}

export const enc = encodeURIComponent;

// ---- Shapes of the routes the Studio uses (docs/SERVER.md) ----

export type Distance = 'Cosine' | 'Euclid' | 'Dot';

export interface CollectionInfo {
  points_count: number;
  indexed_vectors_count: number;
  config: {
    params: { vectors: { size: number; distance: Distance } };
    hnsw_config: { m: number; ef_construct: number };
  };
  payload_schema: Record<string, { data_type: string }>;
}

export interface PointRecord {
  id: number;
  payload: Record<string, unknown> | null;
  vector: number[] | null;
}

export interface ScoredPoint {
  id: number;
  score: number;
  payload?: Record<string, unknown> | null;
  vector?: number[] | null;
}

export interface Job {
  id: string;
  kind: string;
  collection: string;
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  progress: number;
  done: number;
  total: number;
  message: string;
  started: number;
  finished: number | null;
  result: Record<string, unknown> | null;
}

export interface CollectionStats {
  name: string;
  points: number;
  dim: number;
  metric: string;
  index: { kind: string; m?: number; ef_construction?: number; ef_search?: number };
  text: { documents: number; terms: number; avg_length: number } | null;
  quantization: Record<string, unknown> | null;
  memory_bytes: number;
  disk_bytes: number;
  payload_indexes: { field: string; type: string }[];
}

export const listCollections = () =>
  request<{ collections: { name: string }[] }>('GET', '/collections').then((a) =>
    a.result.collections.map((c) => c.name),
  );
export const getCollection = (name: string) => request<CollectionInfo>('GET', `/collections/${enc(name)}`);
export const dropCollection = (name: string) => request<boolean>('DELETE', `/collections/${enc(name)}`);

export interface CreateSpec {
  name: string;
  size: number;
  distance: Distance;
  index: 'hnsw' | 'flat';
  m: number;
  efConstruct: number;
}

export function createBody(s: CreateSpec) {
  return {
    vectors: { size: s.size, distance: s.distance },
    hnsw_config: s.index === 'flat' ? { m: 0 } : { m: s.m, ef_construct: s.efConstruct },
  };
}

export const createCollection = (s: CreateSpec) => request<boolean>('PUT', `/collections/${enc(s.name)}`, createBody(s));

// The job routes answer {"job": job} (import, get, cancel); a bare job is taken as well.
export function unwrapJob(r: unknown): Job {
  const o = r as { job?: Job } & Partial<Job>;
  const j = o && typeof o === 'object' && o.job && typeof o.job === 'object' ? o.job : (o as Job);
  if (!j || typeof j.id !== 'string' || typeof j.state !== 'string') throw new ApiError('format', `not a job: ${JSON.stringify(r).slice(0, 120)}`);
  return j;
}
