// The live statistics stream (/hektor/events, contract in docs/SERVER.md): one connection,
// reopened with exponential backoff when the server goes away, and a history of the last
// minutes for the dashboard's charts. The connection state is what the dashboard shows:
// 'connecting' (nothing received yet), 'live', 'unreachable' (no answer: retrying),
// 'error' (the server answered with an error status or a malformed stream: retrying too).
import { useSyncExternalStore } from 'react';
import { currentConn, headers, url, type Job } from './api';
import { SseParser } from './sse';

export interface StatsCollection {
  name: string;
  points: number;
  dim: number;
  metric: string;
  index: string;
  text: boolean;
  quantization: string;
}

export interface Stats {
  time: number;
  uptime_s: number;
  version: string;
  collections: StatsCollection[];
  qps: number;
  latency_ms: { p50: number; p99: number };
  requests_total: number;
  errors_total: number;
  memory: { rss_bytes: number; anon_bytes: number };
  jobs: Job[];
}

export type StreamState = 'connecting' | 'live' | 'unreachable' | 'error';

export interface StreamView {
  state: StreamState;
  latest: Stats | null;
  history: Stats[];
  message: string; // why the stream is not live
  attempt: number; // failed attempts since the last live event
  retryInMs: number;
  recoveredAt: number | null; // ms timestamp of the last recovery from unreachable/error
}

export const INTERVAL_MS = 1000;
export const HISTORY_SECONDS = 300;

export function backoffMs(attempt: number): number {
  return Math.min(500 * 2 ** Math.max(0, attempt - 1), 8000);
}

// Checks the shape of one stats message; throws naming the first missing member.
export function parseStats(data: string): Stats {
  const s = JSON.parse(data);
  for (const k of ['time', 'uptime_s', 'qps', 'requests_total', 'errors_total'])
    if (typeof s?.[k] !== 'number') throw new Error(`stats message without a number "${k}"`);
  if (!Array.isArray(s.collections)) throw new Error('stats message without "collections"');
  if (!s.latency_ms || typeof s.latency_ms.p50 !== 'number') throw new Error('stats message without "latency_ms"');
  if (!s.memory || typeof s.memory.rss_bytes !== 'number') throw new Error('stats message without "memory"');
  if (!Array.isArray(s.jobs)) s.jobs = [];
  return s as Stats;
}

// One stream for the whole page: it starts with the first subscriber and keeps running
// while the Studio is open, so the dashboard's charts hold the last minutes even after a
// visit to another page.
let view: StreamView = {
  state: 'connecting',
  latest: null,
  history: [],
  message: '',
  attempt: 0,
  retryInMs: 0,
  recoveredAt: null,
};
const subscribers = new Set<() => void>();
let started = false;

function setView(f: (v: StreamView) => StreamView) {
  view = f(view);
  subscribers.forEach((l) => l());
}

function start() {
  if (started) return;
  started = true;
  let ctrl: AbortController | null = null;
  let attempt = 0;
  let failed = false;

  const fail = (state: 'unreachable' | 'error', message: string) => {
    attempt++;
    failed = true;
    const wait = backoffMs(attempt);
    setView((v) => ({ ...v, state, message, attempt, retryInMs: wait }));
    setTimeout(connect, wait);
  };

  const connect = async () => {
    ctrl = new AbortController();
    const conn = currentConn();
    let watchdog: ReturnType<typeof setTimeout> | null = null;
    const arm = () => {
      if (watchdog) clearTimeout(watchdog);
      watchdog = setTimeout(() => ctrl?.abort(new Error('no statistics for several seconds')), INTERVAL_MS * 4 + 2000);
    };
    try {
      arm();
      const res = await fetch(url(conn, `/hektor/events?interval_ms=${INTERVAL_MS}`), {
        headers: { ...headers(conn, false), Accept: 'text/event-stream' },
        signal: ctrl.signal,
      });
      if (!res.ok || !res.body) {
        let msg = `${res.status} ${res.statusText}`;
        try {
          const j = JSON.parse(await res.text());
          if (typeof j?.status?.error === 'string') msg = `${res.status}: ${j.status.error}`;
        } catch {
          /* the status line is the message */
        }
        if (watchdog) clearTimeout(watchdog);
        fail('error', `the server answered ${msg} for /hektor/events`);
        return;
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        for (const ev of parser.push(value)) {
          if (ev.event !== 'stats') continue;
          let st: Stats;
          try {
            st = parseStats(ev.data);
          } catch (e) {
            if (watchdog) clearTimeout(watchdog);
            ctrl.abort();
            fail('error', `malformed statistics from the server: ${(e as Error).message}`);
            return;
          }
          const wasFailed = failed;
          failed = false;
          attempt = 0;
          setView((v) => ({
            state: 'live',
            latest: st,
            // A restarted server starts its clock again; keep the history in time order.
            history: [...v.history.filter((h) => h.time < st.time && h.time >= st.time - HISTORY_SECONDS), st],
            message: '',
            attempt: 0,
            retryInMs: 0,
            recoveredAt: wasFailed ? Date.now() : v.recoveredAt,
          }));
        }
      }
      if (watchdog) clearTimeout(watchdog);
      fail('unreachable', 'the server closed the event stream');
    } catch (e) {
      if (watchdog) clearTimeout(watchdog);
      fail('unreachable', `the server at ${conn.server || location.origin} does not answer (${(e as Error).message || 'connection lost'})`);
    }
  };
  connect();
}

export function useEvents(): StreamView {
  return useSyncExternalStore(
    (l) => {
      subscribers.add(l);
      start();
      return () => subscribers.delete(l);
    },
    () => view,
  );
}
