import { describe, expect, it } from 'vitest';
import { buildRequest, type PaneSettings } from './pages/Search';
import { formatFromName, importPath } from './pages/Import';

const s: PaneSettings = { mode: 'vector', k: 5, ef: 32, exact: false, fusion: 'rrf', rrfK: 60, depth: 100, match: 'any' };
const q = { vector: '[1, 2]', likeId: '7', text: 'red fox' };
const filter = { must: [{ key: 'a', match: { value: 1 } }] };

describe('search requests', () => {
  it('vector search goes to the Qdrant route with hnsw_ef or exact', () => {
    expect(buildRequest('my col', q, s, filter)).toEqual([
      '/collections/my%20col/points/search',
      { vector: [1, 2], limit: 5, with_payload: true, params: { hnsw_ef: 32 }, filter },
    ]);
    expect(buildRequest('c', q, { ...s, exact: true }, undefined)[1]).toEqual({ vector: [1, 2], limit: 5, with_payload: true, params: { exact: true } });
  });
  it('"more like this" recommends by the point id', () => {
    expect(buildRequest('c', q, { ...s, mode: 'like' }, undefined)).toEqual([
      '/collections/c/points/recommend',
      { positive: [7], limit: 5, with_payload: true, params: { hnsw_ef: 32 } },
    ]);
    expect(() => buildRequest('c', { ...q, likeId: 'x' }, { ...s, mode: 'like' }, undefined)).toThrow(/point id/);
  });
  it('text and hybrid go to /hektor/collections/{name}/search', () => {
    expect(buildRequest('c', q, { ...s, mode: 'text', match: 'all' }, filter)).toEqual([
      '/hektor/collections/c/search',
      { text: 'red fox', k: 5, match: 'all', with_payload: true, filter },
    ]);
    expect(buildRequest('c', q, { ...s, mode: 'hybrid', rrfK: 30, depth: 50 }, undefined)).toEqual([
      '/hektor/collections/c/search',
      { text: 'red fox', k: 5, match: 'any', with_payload: true, vector: [1, 2], fusion: { method: 'rrf', k: 30, depth: 50 }, ef: 32 },
    ]);
    expect(() => buildRequest('c', { ...q, text: ' ' }, { ...s, mode: 'text' }, undefined)).toThrow(/text query is empty/);
  });
});

describe('import requests', () => {
  it('name the format, and create, metric and fields when asked', () => {
    const o = { collection: 'c', format: 'fvecs' as const, create: false, metric: 'l2' as const, textField: 't', idField: '', vectorField: '' };
    expect(importPath(o)).toBe('/hektor/collections/c/import?format=fvecs');
    expect(importPath({ ...o, format: 'csv', create: true, metric: 'cosine', idField: 'key', vectorField: 'emb' })).toBe(
      '/hektor/collections/c/import?format=csv&create=true&metric=cosine&text_field=t&id_field=key&vector_field=emb',
    );
    // jsonl records always use "id" and "vector": only the text field is named
    expect(importPath({ ...o, format: 'jsonl', idField: 'key', vectorField: 'emb' })).toBe('/hektor/collections/c/import?format=jsonl&text_field=t');
  });
  it('take the format from the file name', () => {
    expect(formatFromName('base.FVECS')).toBe('fvecs');
    expect(formatFromName('x.ndjson')).toBe('jsonl');
    expect(formatFromName('data.parquet')).toBeNull();
  });
});
