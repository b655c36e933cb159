import { describe, expect, it } from 'vitest';
import { buildRequest, PANE_DEFAULTS, type PaneSettings } from './pages/Search';
import { formatFromName, importPath } from './pages/Import';

const s: PaneSettings = { ...PANE_DEFAULTS, mode: 'vector', k: 5, ef: 32 };
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
  it('fusion parameters follow the method; RM3 only with any-term matching; embedding options', () => {
    expect(buildRequest('c', q, { ...s, mode: 'hybrid', fusion: 'convex', weight: 0.2, depth: 50, exact: true }, undefined)).toEqual([
      '/hektor/collections/c/search',
      { text: 'red fox', k: 5, match: 'any', with_payload: true, vector: [1, 2], fusion: { method: 'convex', weight: 0.2, depth: 50 }, exact: true },
    ]);
    expect(buildRequest('c', q, { ...s, mode: 'hybrid', fusion: 'dbsf', embed: true, expand: true }, undefined)).toEqual([
      '/hektor/collections/c/search',
      { text: 'red fox', k: 5, match: 'any', with_payload: true, expand: { method: 'rm3' }, embed: true, fusion: { method: 'dbsf', depth: 100 }, ef: 32 },
    ]);
    expect(buildRequest('c', q, { ...s, mode: 'text', match: 'phrase', expand: true }, undefined)).toEqual([
      '/hektor/collections/c/search',
      { text: 'red fox', k: 5, match: 'phrase', with_payload: true },
    ]);
    expect(buildRequest('c', q, { ...s, mode: 'meaning', expand: true }, filter)).toEqual([
      '/hektor/collections/c/search',
      { text: 'red fox', embed_only: true, k: 5, with_payload: true, filter, ef: 32 },
    ]);
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
