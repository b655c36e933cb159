// The search workbench: one query (a pasted vector, "more like this point", text, text by
// meaning through the server's built-in embedding, or text and vector together) run under
// one or two settings side by side, with filter, k, ef, the fusion method and RM3
// expansion; results with scores, payload and the server's timing; a query history.
import { useEffect, useMemo, useRef, useState } from 'react';
import { enc, getCollection, listCollections, request, type Answer, type ScoredPoint } from '../api';
import { useSettings } from '../context';
import type { Condition } from '../filter';
import { formatMs, formatScore, truncate } from '../format';
import { parseVector } from '../format';
import { useLocation } from '../router';
import { clearHistory, loadHistory, pushHistory, type HistoryEntry } from '../settings';
import { useShortcut } from '../shortcuts';
import { FilterBuilder, filterOrError } from '../components/FilterBuilder';
import { ErrorBox } from '../components/Status';
import { useAsync } from '../components/useAsync';

export type Mode = 'vector' | 'like' | 'text' | 'meaning' | 'hybrid';
export type Fusion = 'rrf' | 'convex' | 'dbsf' | 'combsum' | 'combmnz' | 'borda';
export const FUSION_LABEL: Record<Fusion, string> = {
  rrf: 'Reciprocal rank fusion',
  convex: 'Convex combination (min-max)',
  dbsf: 'Distribution-based (DBSF)',
  combsum: 'CombSUM',
  combmnz: 'CombMNZ',
  borda: 'Borda count',
};
const MODE_LABEL: Record<Mode, string> = {
  vector: 'Vector',
  like: 'More like this point',
  text: 'Text',
  meaning: 'Text by meaning (built-in embedding)',
  hybrid: 'Hybrid (text + vector)',
};

export interface PaneSettings {
  mode: Mode;
  k: number;
  ef: number;
  exact: boolean;
  fusion: Fusion;
  rrfK: number;
  weight: number; // convex: the vector list's weight
  depth: number;
  match: 'any' | 'all' | 'phrase';
  expand: boolean; // RM3
  embed: boolean; // hybrid: the vector is the text's built-in embedding
}

export const PANE_DEFAULTS: Omit<PaneSettings, 'mode' | 'k' | 'ef'> = {
  exact: false, fusion: 'rrf', rrfK: 60, weight: 0.5, depth: 100, match: 'any', expand: false, embed: false,
};

export interface QueryInput {
  vector: string;
  likeId: string;
  text: string;
}

interface Outcome {
  points: ScoredPoint[];
  serverMs: number;
  tookMs: number | null;
  roundTripMs: number;
}

// The request one pane sends: [method, path, body]. Exported for the unit tests.
export function buildRequest(collection: string, q: QueryInput, s: PaneSettings, filter: Record<string, unknown> | undefined): [string, Record<string, unknown>] {
  const c = enc(collection);
  const params: Record<string, unknown> = s.exact ? { exact: true } : { hnsw_ef: s.ef };
  if (s.mode === 'vector') {
    return [`/collections/${c}/points/search`, { vector: parseVector(q.vector), limit: s.k, with_payload: true, params, ...(filter && { filter }) }];
  }
  if (s.mode === 'like') {
    const id = q.likeId.trim();
    if (!/^\d+$/.test(id)) throw new Error('"More like this point" needs a point id (an unsigned integer)');
    return [`/collections/${c}/points/recommend`, { positive: [Number(id)], limit: s.k, with_payload: true, params, ...(filter && { filter }) }];
  }
  if (!q.text.trim()) throw new Error('the text query is empty');
  if (s.mode === 'meaning') {
    const body: Record<string, unknown> = { text: q.text, embed_only: true, k: s.k, with_payload: true, ...(filter && { filter }) };
    if (s.exact) body.exact = true;
    else body.ef = s.ef;
    return [`/hektor/collections/${c}/search`, body];
  }
  const body: Record<string, unknown> = { text: q.text, k: s.k, match: s.match, with_payload: true, ...(filter && { filter }) };
  if (s.expand && s.match === 'any') body.expand = { method: 'rm3' };
  if (s.mode === 'hybrid') {
    if (s.embed) body.embed = true;
    else body.vector = parseVector(q.vector);
    body.fusion = {
      method: s.fusion,
      ...(s.fusion === 'rrf' && { k: s.rrfK }),
      ...(s.fusion === 'convex' && { weight: s.weight }),
      depth: s.depth,
    };
    if (s.exact) body.exact = true;
    else body.ef = s.ef;
  }
  return [`/hektor/collections/${c}/search`, body];
}

async function run(collection: string, q: QueryInput, s: PaneSettings, filter: Record<string, unknown> | undefined): Promise<Outcome> {
  const [path, body] = buildRequest(collection, q, s, filter);
  if (path.startsWith('/hektor/')) {
    const a: Answer<{ points: ScoredPoint[]; took_ms: number }> = await request('POST', path, body);
    return { points: a.result.points, serverMs: a.time * 1000, tookMs: a.result.took_ms, roundTripMs: a.roundTripMs };
  }
  const a = await request<ScoredPoint[]>('POST', path, body);
  return { points: a.result, serverMs: a.time * 1000, tookMs: null, roundTripMs: a.roundTripMs };
}

// What a score means in each metric (docs/SERVER.md, Conventions).
const SCORE_NOTE: Record<string, string> = {
  Euclid: 'Score: Euclidean distance, lower is closer.',
  Cosine: 'Score: cosine similarity, higher is closer.',
  Dot: 'Score: dot product, higher is closer.',
};

function Pane({
  label,
  id,
  s,
  onChange,
  outcome,
  error,
  other,
  metric,
}: {
  label: string;
  id: string;
  metric: string | undefined;
  s: PaneSettings;
  onChange: (s: PaneSettings) => void;
  outcome: Outcome | null;
  error: unknown;
  other: Set<number> | null;
}) {
  const textual = s.mode === 'text' || s.mode === 'hybrid';
  return (
    <div className="card" role="region" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{label}</h2>
      <div className="form">
        <div className="field">
          <label htmlFor={`${id}-mode`}>Query by</label>
          <select id={`${id}-mode`} value={s.mode} onChange={(e) => onChange({ ...s, mode: e.target.value as Mode })}>
            {(Object.keys(MODE_LABEL) as Mode[]).map((m) => (
              <option key={m} value={m}>
                {MODE_LABEL[m]}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-k`}>k</label>
          <input id={`${id}-k`} type="number" min={1} max={100000} value={s.k} onChange={(e) => onChange({ ...s, k: Number(e.target.value) })} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-ef`}>ef</label>
          <input id={`${id}-ef`} type="number" min={1} max={100000} value={s.ef} disabled={s.exact || s.mode === 'text'} onChange={(e) => onChange({ ...s, ef: Number(e.target.value) })} />
        </div>
        <label className="check">
          <input type="checkbox" checked={s.exact} onChange={(e) => onChange({ ...s, exact: e.target.checked })} /> Exact
        </label>
        {textual && (
          <div className="field">
            <label htmlFor={`${id}-match`}>Terms</label>
            <select id={`${id}-match`} value={s.match} onChange={(e) => onChange({ ...s, match: e.target.value as PaneSettings['match'] })}>
              <option value="any">any term</option>
              <option value="all">all terms</option>
              <option value="phrase">the phrase</option>
            </select>
          </div>
        )}
        {textual && s.match === 'any' && (
          <label className="check">
            <input type="checkbox" checked={s.expand} onChange={(e) => onChange({ ...s, expand: e.target.checked })} /> Expand (RM3)
          </label>
        )}
        {s.mode === 'hybrid' && (
          <>
            <div className="field">
              <label htmlFor={`${id}-fusion`}>Fusion</label>
              <select id={`${id}-fusion`} value={s.fusion} onChange={(e) => onChange({ ...s, fusion: e.target.value as Fusion })}>
                {(Object.keys(FUSION_LABEL) as Fusion[]).map((f) => (
                  <option key={f} value={f}>
                    {FUSION_LABEL[f]}
                  </option>
                ))}
              </select>
            </div>
            {s.fusion === 'rrf' && (
              <div className="field">
                <label htmlFor={`${id}-rrfk`}>RRF k</label>
                <input id={`${id}-rrfk`} type="number" min={1} value={s.rrfK} onChange={(e) => onChange({ ...s, rrfK: Number(e.target.value) })} />
              </div>
            )}
            {s.fusion === 'convex' && (
              <div className="field">
                <label htmlFor={`${id}-weight`}>Vector weight</label>
                <input id={`${id}-weight`} type="number" min={0} max={1} step={0.05} value={s.weight} onChange={(e) => onChange({ ...s, weight: Number(e.target.value) })} />
              </div>
            )}
            <label className="check">
              <input type="checkbox" checked={s.embed} onChange={(e) => onChange({ ...s, embed: e.target.checked })} /> Vector from the text (built-in embedding)
            </label>
            <div className="field">
              <label htmlFor={`${id}-depth`}>Depth</label>
              <input id={`${id}-depth`} type="number" min={1} value={s.depth} onChange={(e) => onChange({ ...s, depth: Number(e.target.value) })} />
            </div>
          </>
        )}
      </div>
      {error != null && <ErrorBox error={error} />}
      {outcome && (
        <>
          <p aria-live="polite" data-testid={`${id}-timing`}>
            {outcome.points.length} results · server {formatMs(outcome.serverMs)}
            {outcome.tookMs !== null && ` (search ${formatMs(outcome.tookMs)})`} · round trip {formatMs(outcome.roundTripMs)}
            {s.mode !== 'text' && s.mode !== 'hybrid' && s.mode !== 'meaning' && metric && SCORE_NOTE[metric] && ` · ${SCORE_NOTE[metric]}`}
            {(s.mode === 'text' || s.mode === 'hybrid') && ` · Score: ${s.mode === 'text' ? 'BM25' : `fused score (${s.fusion})`}, higher is closer.`}
            {s.mode === 'meaning' && ' · Score: cosine similarity to the text\'s embedding, higher is closer.'}
          </p>
          <div className="table-wrap">
            <table data-testid={`${id}-results`}>
              <caption className="sr-only">{label} results</caption>
              <thead>
                <tr>
                  <th scope="col" className="num">
                    #
                  </th>
                  <th scope="col" className="num">
                    Id
                  </th>
                  <th scope="col" className="num">
                    Score
                  </th>
                  <th scope="col">Payload</th>
                </tr>
              </thead>
              <tbody>
                {outcome.points.map((p, i) => (
                  <tr key={p.id} className={other?.has(p.id) ? 'shared' : undefined}>
                    <td className="num">
                      {i + 1}
                      {other?.has(p.id) && <span className="sr-only"> (also in the other results)</span>}
                    </td>
                    <td className="num mono">{p.id}</td>
                    <td className="num mono">{formatScore(p.score)}</td>
                    <td>
                      <pre className="payload mono">{p.payload ? truncate(JSON.stringify(p.payload), 200) : '—'}</pre>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {other && <p className="muted">Rows marked at the left edge are also in the other setting's results.</p>}
        </>
      )}
    </div>
  );
}

export function Search() {
  const { settings } = useSettings();
  const { search } = useLocation();
  const names = useAsync(listCollections, []);
  const [collectionInfo, setCollectionInfo] = useState<{ name: string; metric: string } | null>(null);
  const [collection, setCollection] = useState(search.get('collection') ?? '');
  const like = search.get('like');
  const dflt: PaneSettings = { ...PANE_DEFAULTS, mode: like ? 'like' : 'vector', k: settings.k, ef: settings.ef };
  const [q, setQ] = useState<QueryInput>({ vector: '', likeId: like ?? '', text: '' });
  const [a, setA] = useState<PaneSettings>(dflt);
  const [b, setB] = useState<PaneSettings>({ ...dflt, exact: true });
  const [compare, setCompare] = useState(false);
  const [conds, setConds] = useState<Condition[]>([]);
  const [out, setOut] = useState<{ a: Outcome | null; b: Outcome | null; ea: unknown; eb: unknown }>({ a: null, b: null, ea: null, eb: null });
  const [busy, setBusy] = useState(false);
  const [history, setHistory] = useState<HistoryEntry[]>(() => loadHistory());
  const firstInput = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    // A functional update: a choice made between the render and this effect is kept.
    if (!collection && names.data?.length) setCollection((c) => c || names.data![0]);
  }, [names.data, collection]);

  useEffect(() => {
    if (!collection) return;
    let live = true;
    getCollection(collection).then(
      (a) => live && setCollectionInfo({ name: collection, metric: a.result.config.params.vectors.distance }),
      () => live && setCollectionInfo(null),
    );
    return () => {
      live = false;
    };
  }, [collection]);
  const metric = collectionInfo?.name === collection ? collectionInfo.metric : undefined;

  const { filter, error: filterError } = filterOrError(conds);
  const modes = new Set([a.mode, ...(compare ? [b.mode] : [])]);

  const submit = async () => {
    if (!collection || busy || filterError) return;
    setBusy(true);
    const [ra, rb] = await Promise.allSettled([run(collection, q, a, filter), compare ? run(collection, q, b, filter) : Promise.resolve(null)]);
    setOut({
      a: ra.status === 'fulfilled' ? ra.value : null,
      ea: ra.status === 'rejected' ? ra.reason : null,
      b: rb.status === 'fulfilled' ? rb.value : null,
      eb: rb.status === 'rejected' ? rb.reason : null,
    });
    setHistory(pushHistory({ at: Date.now(), collection, query: { q: { ...q, vector: q.vector.slice(0, 20000) }, a, b: compare ? b : null, conds } }));
    setBusy(false);
  };

  const restore = (h: HistoryEntry) => {
    const v = h.query as { q: QueryInput; a: PaneSettings; b: PaneSettings | null; conds: Condition[] };
    setCollection(h.collection);
    setQ(v.q);
    setA({ ...PANE_DEFAULTS, ...v.a });
    setCompare(!!v.b);
    if (v.b) setB({ ...PANE_DEFAULTS, ...v.b });
    setConds(v.conds ?? []);
  };

  useShortcut('Ctrl+Enter', 'Run the search', 'Search', submit, true);
  useShortcut('/', 'Focus the query', 'Search', () => firstInput.current?.focus());
  useShortcut('c', 'Compare two settings side by side (toggle)', 'Search', () => setCompare((x) => !x));

  const ids = useMemo(
    () => ({ a: out.a ? new Set(out.a.points.map((p) => p.id)) : null, b: out.b ? new Set(out.b.points.map((p) => p.id)) : null }),
    [out],
  );

  return (
    <section aria-labelledby="search-title">
      <h1 id="search-title" tabIndex={-1}>
        Search
      </h1>
      {names.error != null && <ErrorBox error={names.error} onRetry={names.reload} />}
      <form
        className="card"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <div className="form" style={{ marginBottom: '0.75rem' }}>
          <div className="field">
            <label htmlFor="search-collection">Collection</label>
            <select id="search-collection" value={collection} onChange={(e) => setCollection(e.target.value)}>
              {!names.data?.length && <option value="">(no collections)</option>}
              {names.data?.map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </div>
          <label className="check">
            <input type="checkbox" checked={compare} onChange={(e) => setCompare(e.target.checked)} aria-keyshortcuts="c" /> Compare two settings
          </label>
        </div>
        {(modes.has('vector') || (a.mode === 'hybrid' && !a.embed) || (compare && b.mode === 'hybrid' && !b.embed)) && (
          <div className="field" style={{ marginBottom: '0.75rem' }}>
            <label htmlFor="search-vector">Query vector (JSON array or numbers separated by commas or spaces)</label>
            <textarea id="search-vector" ref={firstInput} rows={3} value={q.vector} onChange={(e) => setQ({ ...q, vector: e.target.value })} />
          </div>
        )}
        {modes.has('like') && (
          <div className="field" style={{ marginBottom: '0.75rem' }}>
            <label htmlFor="search-like">Point id (more like this point)</label>
            <input id="search-like" inputMode="numeric" value={q.likeId} onChange={(e) => setQ({ ...q, likeId: e.target.value })} />
          </div>
        )}
        {(modes.has('text') || modes.has('meaning') || modes.has('hybrid')) && (
          <div className="field" style={{ marginBottom: '0.75rem' }}>
            <label htmlFor="search-text">Text query</label>
            <input id="search-text" value={q.text} onChange={(e) => setQ({ ...q, text: e.target.value })} />
          </div>
        )}
        <FilterBuilder idPrefix="search" conds={conds} onChange={setConds} />
        <div className="row">
          <button type="submit" disabled={busy || !collection || !!filterError} aria-keyshortcuts="Control+Enter">
            Search
          </button>
          <span className="muted">
            <kbd>Ctrl</kbd>+<kbd>Enter</kbd> runs the search
          </span>
        </div>
      </form>
      <div className={compare ? 'two' : undefined}>
        <Pane label={compare ? 'Setting A' : 'Results'} id="pane-a" s={a} onChange={setA} outcome={out.a} error={out.ea} other={compare ? ids.b : null} metric={metric} />
        {compare && <Pane label="Setting B" id="pane-b" s={b} onChange={setB} outcome={out.b} error={out.eb} other={ids.a} metric={metric} />}
      </div>
      <div className="card">
        <div className="row">
          <h2>History</h2>
          <span className="spacer" />
          {history.length > 0 && (
            <button type="button" className="secondary" onClick={() => (clearHistory(), setHistory([]))}>
              Clear history
            </button>
          )}
        </div>
        {history.length === 0 ? (
          <p className="muted">Queries you run are kept here (in this browser).</p>
        ) : (
          <ul className="plain" data-testid="history">
            {history.map((h) => {
              const v = h.query as { q: QueryInput; a: PaneSettings; b: PaneSettings | null; conds?: Condition[] };
              const what = v.a.mode === 'like' ? `like point ${v.q.likeId}` : v.a.mode === 'text' || v.a.mode === 'meaning' ? `“${truncate(v.q.text, 40)}”` : truncate(v.q.vector, 40);
              return (
                <li key={h.at + h.collection}>
                  <button type="button" className="link" onClick={() => restore(h)}>
                    {h.collection}: {MODE_LABEL[v.a.mode]} {what}, k {v.a.k}
                    {v.b ? ` · compared with ${MODE_LABEL[v.b.mode]}, k ${v.b.k}${v.b.exact ? ', exact' : ''}` : ''}
                    {v.conds?.length ? ` · ${v.conds.length} filter condition${v.conds.length > 1 ? 's' : ''}` : ''}
                  </button>{' '}
                  <span className="muted">{new Date(h.at).toLocaleString()}</span>
                </li>
              );
            })}
          </ul>
        )}
      </div>
    </section>
  );
}
