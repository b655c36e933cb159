import { describe, expect, it } from 'vitest';
import { ApiError } from '../api';
import { decodeBinary, parseCoords, parseIds, projectionBody, sampleNote } from './projection';

describe('projectionBody', () => {
  it('passes a good request and names the bad member', () => {
    expect(projectionBody({ method: 'pca', max_points: 1000, neighbors: 15 })).toEqual({ method: 'pca', max_points: 1000, neighbors: 15 });
    expect(() => projectionBody({ method: 'tsne' as 'pca', max_points: 1, neighbors: 15 })).toThrow(/method/);
    expect(() => projectionBody({ method: 'pca', max_points: 0, neighbors: 15 })).toThrow(/max points/);
    expect(() => projectionBody({ method: 'umap', max_points: 10, neighbors: 101 })).toThrow(/neighbours/);
    expect(() => projectionBody({ method: 'umap', max_points: 10, neighbors: 1.5 })).toThrow(/neighbours/);
  });
});

describe('binary answers', () => {
  it('reads little-endian float32 triples and uint64 ids', async () => {
    const f = new Float32Array([1, 2, 3, -4, 5.5, 6]);
    const buf = await decodeBinary(new Response(f.buffer, { headers: { 'Content-Type': 'application/octet-stream' } }));
    expect([...parseCoords(buf, 2)]).toEqual([1, 2, 3, -4, 5.5, 6]);
    const ids = new BigUint64Array([7n, 9007199254740991n]);
    expect([...parseIds(ids.buffer, 2)]).toEqual([7, 9007199254740991]);
  });
  it('refuses a length that does not match the count, and ids beyond 2^53', () => {
    expect(() => parseCoords(new ArrayBuffer(20), 2)).toThrow(/20 bytes, expected 24/);
    expect(() => parseIds(new ArrayBuffer(8), 2)).toThrow(/expected 16/);
    expect(() => parseIds(new BigUint64Array([2n ** 60n]).buffer, 1)).toThrow(/beyond/);
  });
  it('turns a JSON error into an ApiError with the server message, and a wrong type into a format error', async () => {
    const e = await decodeBinary(new Response(JSON.stringify({ status: { error: 'no projection; POST one' }, time: 0 }), { status: 404 })).catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(404);
    expect(e.message).toContain('no projection; POST one');
    const f = await decodeBinary(new Response('{}', { headers: { 'Content-Type': 'application/json' } })).catch((x) => x);
    expect(f.kind).toBe('format');
  });
});

describe('sampleNote', () => {
  it('says when the projection is a sample', () => {
    expect(sampleNote({ count: 1000000, total: 3200000, sampled: true })).toBe('showing 1,000,000 of 3,200,000 points, a uniform sample');
    expect(sampleNote({ count: 300, total: 300, sampled: false })).toBe('showing all 300 points');
  });
});
