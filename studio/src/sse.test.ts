import { describe, expect, it } from 'vitest';
import { SseParser } from './sse';
import { backoffMs, parseStats } from './events';

describe('SseParser', () => {
  it('splits events at blank lines across chunk boundaries', () => {
    const p = new SseParser();
    expect(p.push('event: stats\nda')).toEqual([]);
    expect(p.push('ta: {"a":1}\n\n: comment\nevent: stats\r\ndata: x\r\ndata: y\r\n\r\n')).toEqual([
      { event: 'stats', data: '{"a":1}' },
      { event: 'stats', data: 'x\ny' },
    ]);
    expect(p.push('data:plain\n\n')).toEqual([{ event: 'message', data: 'plain' }]);
  });
});

describe('stats messages', () => {
  const ok = {
    time: 1,
    uptime_s: 2,
    version: '0.1.0',
    collections: [],
    qps: 0,
    latency_ms: { p50: 0, p99: 0 },
    requests_total: 3,
    errors_total: 0,
    memory: { rss_bytes: 10, anon_bytes: 5 },
    jobs: [],
  };
  it('are checked member by member', () => {
    expect(parseStats(JSON.stringify(ok)).requests_total).toBe(3);
    expect(() => parseStats(JSON.stringify({ ...ok, qps: 'x' }))).toThrow(/"qps"/);
    expect(() => parseStats(JSON.stringify({ ...ok, memory: null }))).toThrow(/memory/);
  });
  it('retry with a doubling, capped backoff', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(backoffMs)).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });
});
