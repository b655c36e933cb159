// The dashboard: live figures and charts from /hektor/events (events.ts). Every number on
// it is a number the server sent.
import { useEffect, useMemo, useState } from 'react';
import { useEvents, type Stats } from '../events';
import { formatBytes, formatCount, formatDuration, formatMs, formatRate } from '../format';
import { navigate } from '../router';
import { TimeChart, type Series } from '../components/Chart';
import { Skeleton } from '../components/Status';

function series(history: Stats[], name: string, pick: (s: Stats) => number): Series {
  return { name, points: history.map((s) => [s.time * 1000, pick(s)]) };
}

function Figure({ label, value, testid }: { label: string; value: string; testid: string }) {
  return (
    <div className="figure">
      <div className="label">{label}</div>
      <div className="value" data-testid={testid}>
        {value}
      </div>
    </div>
  );
}

function ConnectionBanner({ view }: { view: ReturnType<typeof useEvents> }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  if (view.state === 'unreachable')
    return (
      <div className="alert warn" role="alert" data-testid="state-unreachable">
        <strong>Server unreachable — retrying</strong>
        {view.message}. Attempt {view.attempt}; next try in {(view.retryInMs / 1000).toFixed(1)} s.
        {view.latest && ' The figures below are the last ones received.'}
      </div>
    );
  if (view.state === 'error')
    return (
      <div className="alert error" role="alert" data-testid="state-error">
        <strong>The live statistics failed</strong>
        {view.message}. Retrying in {(view.retryInMs / 1000).toFixed(1)} s (attempt {view.attempt}).
        {view.latest && ' The figures below are the last ones received.'}
      </div>
    );
  if (view.state === 'live' && view.recoveredAt && now - view.recoveredAt < 15000)
    return (
      <div className="alert ok" role="status" data-testid="state-recovered">
        <strong>Recovered</strong>
        The connection to the server is back; the figures are live again.
      </div>
    );
  return null;
}

export function Dashboard() {
  const view = useEvents();
  const s = view.latest;
  const h = view.history;

  const charts = useMemo(
    () => ({
      qps: [series(h, 'queries/s', (x) => x.qps)],
      lat: [series(h, 'p50', (x) => x.latency_ms.p50), series(h, 'p99', (x) => x.latency_ms.p99)],
      mem: [series(h, 'resident', (x) => x.memory.rss_bytes), series(h, 'anonymous', (x) => x.memory.anon_bytes)],
      points: [series(h, 'points', (x) => x.collections.reduce((a, c) => a + c.points, 0))],
    }),
    [h],
  );

  const totalPoints = s ? s.collections.reduce((a, c) => a + c.points, 0) : 0;
  const running = s ? s.jobs.filter((j) => j.state === 'queued' || j.state === 'running') : [];
  const recent = s ? s.jobs.filter((j) => !(j.state === 'queued' || j.state === 'running')) : [];

  return (
    <section aria-labelledby="dash-title">
      <div className="row">
        <h1 id="dash-title" tabIndex={-1}>
          Dashboard
        </h1>
        <span className="spacer" />
        <span className={`badge ${view.state === 'live' ? 'live' : ''}`} data-testid="stream-state">
          {view.state === 'live' ? '● live' : view.state}
        </span>
      </div>
      <ConnectionBanner view={view} />
      {!s && view.state === 'connecting' && (
        <>
          <div className="figures">
            {Array.from({ length: 5 }, (_, i) => (
              <div className="figure" key={i}>
                <Skeleton lines={2} label="Loading statistics" />
              </div>
            ))}
          </div>
          <div className="grid">
            <div className="card">
              <Skeleton lines={6} label="Loading chart" />
            </div>
            <div className="card">
              <Skeleton lines={6} label="Loading chart" />
            </div>
          </div>
        </>
      )}
      {s && (
        <>
          <p className="muted">
            HEKTOR {s.version}, up {formatDuration(s.uptime_s)} · {formatCount(s.requests_total)} {s.requests_total === 1 ? 'request' : 'requests'},{' '}
            {formatCount(s.errors_total)} {s.errors_total === 1 ? 'error' : 'errors'}
          </p>
          <div className="figures">
            <Figure label="Collections" value={formatCount(s.collections.length)} testid="fig-collections" />
            <Figure label="Points" value={formatCount(totalPoints)} testid="fig-points" />
            <Figure label="Queries per second" value={formatRate(s.qps)} testid="fig-qps" />
            <Figure label="Latency p50 / p99" value={`${formatMs(s.latency_ms.p50)} / ${formatMs(s.latency_ms.p99)}`} testid="fig-latency" />
            <Figure label="Memory (resident)" value={formatBytes(s.memory.rss_bytes)} testid="fig-memory" />
          </div>
          {s.collections.length === 0 && (
            <div className="card" data-testid="state-empty">
              <h2>No collections yet</h2>
              <p>This server holds no collections. Create one, or import a file (fvecs, bvecs, npy, jsonl, csv) into a new one.</p>
              <div className="row">
                <button type="button" onClick={() => navigate('/collections', '?new=1')}>
                  Create a collection
                </button>
                <button type="button" className="secondary" onClick={() => navigate('/import')}>
                  Import a file
                </button>
              </div>
            </div>
          )}
          <div className="grid charts">
            <TimeChart title="Queries per second" series={charts.qps} format={formatRate} summary={`now ${formatRate(s.qps)} queries per second`} />
            <TimeChart
              title="Search latency"
              series={charts.lat}
              format={formatMs}
              summary={`p50 ${formatMs(s.latency_ms.p50)}, p99 ${formatMs(s.latency_ms.p99)}`}
            />
            <TimeChart title="Memory" series={charts.mem} format={formatBytes} summary={`resident ${formatBytes(s.memory.rss_bytes)}`} />
            <TimeChart title="Points stored" series={charts.points} format={formatCount} summary={`${formatCount(totalPoints)} points`} />
          </div>
          <div className="grid" style={{ marginTop: '1rem' }}>
            <div className="card">
              <h2>Collections</h2>
              {s.collections.length === 0 ? (
                <p>None yet.</p>
              ) : (
                <div className="table-wrap">
                  <table>
                    <caption className="sr-only">Collections and their points</caption>
                    <thead>
                      <tr>
                        <th scope="col">Name</th>
                        <th scope="col" className="num">
                          Points
                        </th>
                        <th scope="col" className="num">
                          Dim
                        </th>
                        <th scope="col">Metric</th>
                        <th scope="col">Index</th>
                        <th scope="col">Text</th>
                        <th scope="col">Quantization</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.collections.map((c) => (
                        <tr key={c.name}>
                          <td>
                            <a
                              href={`/studio/collections/${encodeURIComponent(c.name)}`}
                              onClick={(e) => (e.preventDefault(), navigate(`/collections/${encodeURIComponent(c.name)}`))}
                            >
                              {c.name}
                            </a>
                          </td>
                          <td className="num" data-testid={`points-${c.name}`}>
                            {formatCount(c.points)}
                          </td>
                          <td className="num">{c.dim || '—'}</td>
                          <td>{c.metric}</td>
                          <td>{c.index}</td>
                          <td>{c.text ? 'yes' : 'no'}</td>
                          <td>{c.quantization}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </div>
            <div className="card">
              <h2>Jobs</h2>
              {running.length === 0 && recent.length === 0 && <p className="muted">No jobs are running or finished in the last minute.</p>}
              <ul className="plain">
                {[...running, ...recent].map((j) => (
                  <li key={j.id} data-testid={`job-${j.collection}`}>
                    <div className="row">
                      <strong>{j.kind}</strong> <span>{j.collection}</span>
                      <span className="spacer" />
                      <span className="badge">{j.state}</span>
                    </div>
                    <progress value={j.progress} max={1} aria-label={`${j.kind} ${j.collection}: ${Math.round(j.progress * 100)}%`} />
                    <div className="muted">
                      {Math.round(j.progress * 100)}% ({formatCount(j.done)} of {formatCount(j.total)}{j.kind === 'import' ? ' bytes' : ''}){j.message && ` · ${j.message}`}
                    </div>
                  </li>
                ))}
              </ul>
            </div>
          </div>
        </>
      )}
    </section>
  );
}
