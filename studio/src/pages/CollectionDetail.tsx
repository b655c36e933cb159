// One collection: its parameters and counts, the server's statistics when it serves
// /hektor/collections/{name}/stats, and its points page by page (scroll) under a filter.
import { useEffect, useState } from 'react';
import { ApiError, enc, getCollection, request, type CollectionStats, type PointRecord } from '../api';
import { formatBytes, formatCount, formatMs, truncate, vectorPreview } from '../format';
import { navigate } from '../router';
import { useShortcut } from '../shortcuts';
import type { Condition } from '../filter';
import { useAsync } from '../components/useAsync';
import { ErrorBox, Skeleton } from '../components/Status';
import { FilterBuilder, filterOrError } from '../components/FilterBuilder';

const PAGE_SIZES = [10, 25, 50, 100];

async function loadStats(name: string): Promise<CollectionStats | null> {
  try {
    return (await request<CollectionStats>('GET', `/hektor/collections/${enc(name)}/stats`)).result;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && /route/i.test(e.message)) return null; // not served here
    throw e;
  }
}

function Browse({ name }: { name: string }) {
  const [conds, setConds] = useState<Condition[]>([]);
  const [limit, setLimit] = useState(10);
  // The start id of each page seen so far (null: the first); the last is the page shown.
  const [page, setPage] = useState<{ offsets: (number | null)[]; points: PointRecord[]; next: number | null; count: number; time: number } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [applied, setApplied] = useState<Record<string, unknown> | undefined>(undefined);

  const load = async (offsets: (number | null)[], filter: Record<string, unknown> | undefined) => {
    const offset = offsets[offsets.length - 1];
    setLoading(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { limit, with_payload: true, with_vector: true };
      if (offset !== null) body.offset = offset;
      if (filter) body.filter = filter;
      const [sc, ct] = await Promise.all([
        request<{ points: PointRecord[]; next_page_offset: number | null }>('POST', `/collections/${enc(name)}/points/scroll`, body),
        request<{ count: number }>('POST', `/collections/${enc(name)}/points/count`, filter ? { filter, exact: true } : { exact: true }),
      ]);
      setPage({ offsets, points: sc.result.points, next: sc.result.next_page_offset, count: ct.result.count, time: sc.time });
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    load([null], applied);

  }, [name, limit, applied]);

  const { filter, error: filterError } = filterOrError(conds);
  const offsets = page?.offsets ?? [null];
  const pageNo = offsets.length;
  const next = () => {
    if (page?.next == null || loading) return;
    load([...offsets, page.next], applied);
  };
  const prev = () => {
    if (offsets.length < 2 || loading) return;
    load(offsets.slice(0, -1), applied);
  };
  useShortcut('j', 'Next page of points', 'Collection', next);
  useShortcut('k', 'Previous page of points', 'Collection', prev);

  return (
    <div className="card">
      <h2>Points</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!filterError) setApplied(filter);
        }}
      >
        <FilterBuilder idPrefix="browse" conds={conds} onChange={setConds} />
        <div className="row">
          <button type="submit" disabled={!!filterError}>
            Apply filter
          </button>
          <div className="field">
            <label htmlFor="page-size">Page size</label>
            <select id="page-size" value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
              {PAGE_SIZES.map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </div>
        </div>
      </form>
      {error != null && <ErrorBox error={error} onRetry={() => load(offsets, applied)} />}
      {loading && !page && <Skeleton lines={5} label="Loading points" />}
      {page && (
        <>
          <p aria-live="polite" data-testid="browse-summary">
            {formatCount(page.count)} {applied ? 'matching ' : ''}points · page {pageNo} · server {formatMs(page.time * 1000)}
          </p>
          {page.points.length === 0 ? (
            <p data-testid="browse-empty">No points {applied ? 'match this filter' : 'in this collection'}.</p>
          ) : (
            <div className="table-wrap">
              <table data-testid="browse-table">
                <caption className="sr-only">Points, page {pageNo}</caption>
                <thead>
                  <tr>
                    <th scope="col" className="num">
                      Id
                    </th>
                    <th scope="col">Payload</th>
                    <th scope="col">Vector</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {page.points.map((p) => (
                    <tr key={p.id}>
                      <td className="num mono">{p.id}</td>
                      <td>
                        <pre className="payload mono">{p.payload ? truncate(JSON.stringify(p.payload), 300) : '—'}</pre>
                      </td>
                      <td className="mono">
                        {vectorPreview(p.vector)}
                      </td>
                      <td>
                        <button
                          type="button"
                          className="secondary"
                          onClick={() => navigate('/search', `?collection=${enc(name)}&like=${p.id}`)}
                        >
                          More like this<span className="sr-only"> point {p.id}</span>
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <div className="row" style={{ marginTop: '0.5rem' }}>
            <button type="button" className="secondary" onClick={prev} disabled={offsets.length < 2 || loading} aria-keyshortcuts="k">
              Previous page
            </button>
            <button type="button" className="secondary" onClick={next} disabled={page.next == null || loading} aria-keyshortcuts="j">
              Next page
            </button>
          </div>
        </>
      )}
    </div>
  );
}

export function CollectionDetail({ name }: { name: string }) {
  const info = useAsync(() => getCollection(name), [name]);
  const stats = useAsync(() => loadStats(name), [name]);
  const c = info.data?.result;
  const st = stats.data;
  useShortcut('r', 'Reload the parameters and statistics', 'Collection', () => {
    info.reload();
    stats.reload();
  });
  return (
    <section aria-labelledby="cd-title">
      <p>
        <a href="/studio/collections" onClick={(e) => (e.preventDefault(), navigate('/collections'))}>
          ← All collections
        </a>
      </p>
      <h1 id="cd-title" tabIndex={-1}>
        Collection {name}
      </h1>
      {info.error != null && <ErrorBox error={info.error} onRetry={info.reload} />}
      {info.loading && !c && <Skeleton lines={4} label="Loading the collection" />}
      {c && (
        <div className="grid">
          <div className="card">
            <h2>Parameters</h2>
            <table>
              <tbody>
                <tr>
                  <th scope="row">Points</th>
                  <td data-testid="detail-points">{formatCount(c.points_count)}</td>
                </tr>
                <tr>
                  <th scope="row">Indexed vectors</th>
                  <td>{formatCount(c.indexed_vectors_count)}</td>
                </tr>
                <tr>
                  <th scope="row">Dimension</th>
                  <td>{c.config.params.vectors.size}</td>
                </tr>
                <tr>
                  <th scope="row">Metric</th>
                  <td>{c.config.params.vectors.distance}</td>
                </tr>
                <tr>
                  <th scope="row">Index</th>
                  <td>{c.config.hnsw_config.m === 0 ? 'flat (exact)' : `HNSW, M ${c.config.hnsw_config.m}, ef_construction ${c.config.hnsw_config.ef_construct}`}</td>
                </tr>
                <tr>
                  <th scope="row">Payload indexes</th>
                  <td>
                    {Object.entries(c.payload_schema ?? {})
                      .map(([k, v]) => `${k} (${v.data_type})`)
                      .join(', ') || 'none'}
                  </td>
                </tr>
              </tbody>
            </table>
          </div>
          <div className="card">
            <h2>Storage</h2>
            {stats.loading && <Skeleton lines={3} label="Loading statistics" />}
            {stats.error != null && <ErrorBox error={stats.error} onRetry={stats.reload} />}
            {!stats.loading && st === null && (
              <p className="muted">This server does not serve /hektor/collections/{name}/stats, so memory and disk use are not known here.</p>
            )}
            {st && (
              <table>
                <tbody>
                  <tr>
                    <th scope="row">Memory</th>
                    <td data-testid="detail-memory">{formatBytes(st.memory_bytes)}</td>
                  </tr>
                  <tr>
                    <th scope="row">Disk</th>
                    <td>{formatBytes(st.disk_bytes)}</td>
                  </tr>
                  <tr>
                    <th scope="row">Index</th>
                    <td>
                      {st.index.kind}
                      {st.index.kind === 'hnsw' && `, M ${st.index.m}, ef_construction ${st.index.ef_construction}, ef_search ${st.index.ef_search}`}
                    </td>
                  </tr>
                  <tr>
                    <th scope="row">Text</th>
                    <td>
                      {st.text
                        ? `${formatCount(st.text.documents)} documents, ${formatCount(st.text.terms)} terms, ${st.text.avg_length.toFixed(1)} terms per document`
                        : 'no text indexed'}
                    </td>
                  </tr>
                  <tr>
                    <th scope="row">Quantization</th>
                    <td>{st.quantization ? JSON.stringify(st.quantization) : 'none'}</td>
                  </tr>
                  <tr>
                    <th scope="row">Payload indexes</th>
                    <td data-testid="detail-payload-indexes">{st.payload_indexes.map((p) => `${p.field} (${p.type})`).join(', ') || 'none'}</td>
                  </tr>
                </tbody>
              </table>
            )}
          </div>
        </div>
      )}
      {c && <Browse name={name} />}
    </section>
  );
}
