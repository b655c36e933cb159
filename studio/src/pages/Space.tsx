// The 3D Space page: a collection's projection to three dimensions (PCA or UMAP, computed
// by the server as a job) drawn with Three.js, in one of four geometries, coloured by a
// payload field; hover shows a point, a click lists its nearest neighbours (from the
// server's k-NN graph in the original space), box and lasso select in screen space.
// This module and Three.js are loaded only when the page is opened (App.tsx: React.lazy).
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { enc, listCollections, request, type Job, type PointRecord } from '../api';
import { useSettings } from '../context';
import { formatCount, formatDuration, truncate } from '../format';
import { navigate, useLocation } from '../router';
import { useShortcut } from '../shortcuts';
import { ErrorBox, Skeleton } from '../components/Status';
import { useAsync } from '../components/useAsync';
import { categoryColor, categoryColors, MISSING, numberColors, parseCss, ramp, toCss, uniformColors, type RGB } from '../space/colors';
import { GEOMETRIES, GEOMETRY_LABELS, place, type Geometry } from '../space/geometry';
import {
  cancelJob,
  getCoords,
  getField,
  getIds,
  getJob,
  getNeighbours,
  getProjection,
  payloadFields,
  sampleNote,
  startProjection,
  type FieldValues,
  type Method,
  type NeighbourAnswer,
  type ProjectionMeta,
} from '../space/projection';
import { SpaceScene, type DragMode, type SceneTheme } from '../space/scene';

const TERMINAL = new Set(['done', 'failed', 'cancelled']);
const METHOD_LABELS: Record<Method, string> = { pca: 'PCA', umap: 'UMAP' };
const DRAG_LABELS: Record<DragMode, string> = { orbit: 'Orbit', box: 'Box select', lasso: 'Lasso select' };
const SHOW_IDS = 100;

interface Loaded {
  collection: string;
  meta: ProjectionMeta;
  coords: Float32Array;
  ids: Float64Array;
}

function cssColor(name: string, fallback: RGB): RGB {
  return parseCss(getComputedStyle(document.documentElement).getPropertyValue(name)) ?? fallback;
}

function readTheme(): { scene: SceneTheme; single: RGB } {
  return {
    scene: {
      background: cssColor('--surface', [1, 1, 1]),
      line: cssColor('--muted', [0.4, 0.4, 0.4]),
      focus: cssColor('--danger', [0.8, 0.1, 0.1]),
      neighbour: cssColor('--c4', [0.5, 0.2, 0.8]),
    },
    single: cssColor('--c1', [0.1, 0.35, 0.7]),
  };
}

function Legend({ field }: { field: FieldValues }) {
  if (field.kind === 'number') {
    const stops = Array.from({ length: 9 }, (_, i) => toCss(ramp(i / 8))).join(', ');
    return (
      <div className="space-legend" data-testid="space-legend">
        <span>{field.field}</span>
        <span>{formatNum(field.min)}</span>
        <span className="space-ramp" style={{ background: `linear-gradient(to right, ${stops})` }} aria-hidden="true" />
        <span>{formatNum(field.max)}</span>
        <span className="swatch" style={{ background: toCss(MISSING) }} aria-hidden="true" /> <span>no value</span>
      </div>
    );
  }
  const shown = field.categories.slice(0, 16);
  return (
    <ul className="space-legend categories" data-testid="space-legend" aria-label={`Colours of ${field.field}`}>
      {shown.map((c, i) => (
        <li key={i}>
          <span className="swatch" style={{ background: toCss(categoryColor(i)) }} aria-hidden="true" /> {truncate(c, 24)}
        </li>
      ))}
      {field.categories.length > shown.length && <li>… {field.categories.length - shown.length} more</li>}
      <li>
        <span className="swatch" style={{ background: toCss(MISSING) }} aria-hidden="true" /> other or none
      </li>
    </ul>
  );
}

function formatNum(x: number): string {
  return Number.isInteger(x) ? x.toLocaleString('en-US') : x.toPrecision(4);
}

export default function Space() {
  const { settings } = useSettings();
  const { search } = useLocation();
  const names = useAsync(listCollections, []);
  const [collection, setCollection] = useState(search.get('collection') ?? '');
  const [method, setMethod] = useState<Method>('pca');
  const [maxPoints, setMaxPoints] = useState('1000000');
  const [neighbours, setNeighbours] = useState('15');
  const [tick, setTick] = useState(0);
  const [meta, setMeta] = useState<ProjectionMeta | null | undefined>(undefined);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [job, setJob] = useState<Job | null>(null);
  const [jobError, setJobError] = useState<unknown>(null);
  const [geometry, setGeometry] = useState<Geometry>('euclidean');
  const [fields, setFields] = useState<string[]>([]);
  const [colorBy, setColorBy] = useState('');
  const [field, setField] = useState<FieldValues | null>(null);
  const [fieldError, setFieldError] = useState<unknown>(null);
  const [mode, setMode] = useState<DragMode>('orbit');
  const [hover, setHover] = useState<{ index: number; x: number; y: number } | null>(null);
  const [details, setDetails] = useState<{ index: number; point: PointRecord | null; error?: string } | null>(null);
  const [picked, setPicked] = useState<number>(-1);
  const [nbrs, setNbrs] = useState<NeighbourAnswer | null>(null);
  const [nbrError, setNbrError] = useState<unknown>(null);
  const [focused, setFocused] = useState(-1);
  const [selection, setSelection] = useState<number[]>([]);
  const [copied, setCopied] = useState('');
  const [glError, setGlError] = useState('');
  const [probe, setProbe] = useState('');
  const wrapRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const overlayRef = useRef<SVGSVGElement>(null);
  const sceneRef = useRef<SpaceScene | null>(null);
  const unmounted = useRef(false);
  const detailCache = useRef(new Map<string, PointRecord>());

  // First collection by default.
  useEffect(() => {
    // A functional update: a choice made between the render and this effect is kept.
    if (!collection && names.data?.length) setCollection((c) => c || names.data![0]);
  }, [names.data, collection]);

  // The scene lives as long as the page.
  useEffect(() => {
    unmounted.current = false;
    const wrap = wrapRef.current, canvas = canvasRef.current, overlay = overlayRef.current;
    if (!wrap || !canvas || !overlay) return;
    let scene: SpaceScene;
    try {
      scene = new SpaceScene(
        wrap,
        canvas,
        overlay,
        {
          hover: (index, x, y) => setHover(index >= 0 ? { index, x, y } : null),
          pick: (index) => {
            setPicked(index);
            setFocused(-1);
          },
          select: (indices) => setSelection(indices),
          gridReady: () => {
            const p = scene.screenOf(0);
            setProbe(p ? `${p[0].toFixed(1)},${p[1].toFixed(1)}` : '');
          },
        },
        readTheme().scene,
      );
    } catch (e) {
      setGlError((e as Error).message || String(e));
      return;
    }
    sceneRef.current = scene;
    // The benchmark (bench/bench_studio3d.mjs) turns the camera and counts frames through this.
    (window as unknown as { __hektorSpace?: SpaceScene }).__hektorSpace = scene;
    return () => {
      unmounted.current = true;
      delete (window as unknown as { __hektorSpace?: SpaceScene }).__hektorSpace;
      scene.dispose();
      sceneRef.current = null;
    };
  }, []);

  // The projection of (collection, method): metadata, then coordinates and ids.
  useEffect(() => {
    if (!collection) return;
    let live = true;
    setMeta(undefined);
    setLoadError(null);
    setPicked(-1);
    setSelection([]);
    setFocused(-1);
    setHover(null);
    setDetails(null);
    (async () => {
      const m = await getProjection(collection, method);
      if (!live) return;
      setMeta(m);
      if (!m) return setLoaded(null);
      const [coords, ids] = await Promise.all([getCoords(collection, method, m.count), getIds(collection, method, m.count)]);
      if (live) setLoaded({ collection, meta: m, coords, ids });
    })().catch((e) => live && (setLoadError(e), setLoaded(null)));
    return () => {
      live = false;
    };
  }, [collection, method, tick]);

  // Payload fields to colour by.
  useEffect(() => {
    if (!collection) return;
    let live = true;
    setColorBy('');
    payloadFields(collection).then(
      (f) => live && setFields(f),
      () => live && setFields([]),
    );
    return () => {
      live = false;
    };
  }, [collection]);

  // The field's values (route 6) when colouring by one.
  useEffect(() => {
    setField(null);
    setFieldError(null);
    if (!colorBy || !loaded) return;
    let live = true;
    getField(loaded.collection, loaded.meta.method, colorBy).then(
      (f) => live && setField(f),
      (e) => live && setFieldError(e),
    );
    return () => {
      live = false;
    };
  }, [colorBy, loaded]);

  const theme = useMemo(() => readTheme(), [settings.theme]); // eslint-disable-line react-hooks/exhaustive-deps

  const colors = useMemo(() => {
    if (!loaded) return null;
    const n = loaded.meta.count;
    if (field && field.kind === 'number' && field.values.length === n) return numberColors(field.values, field.min, field.max);
    if (field && field.kind === 'category' && field.codes.length === n) return categoryColors(field.codes);
    return uniformColors(n, theme.single);
  }, [loaded, field, theme]);

  const positions = useMemo(() => (loaded ? place(loaded.coords, loaded.meta.bounds, geometry) : null), [loaded, geometry]);

  useEffect(() => {
    sceneRef.current?.setTheme(theme.scene);
  }, [theme]);
  useEffect(() => {
    if (positions && colors && sceneRef.current) sceneRef.current.setData(positions, colors, geometry, true);
  }, [positions]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    if (colors) sceneRef.current?.setColors(colors);
  }, [colors]);
  useEffect(() => {
    if (sceneRef.current) sceneRef.current.mode = mode;
  }, [mode]);
  useEffect(() => {
    sceneRef.current?.setSelection(selection);
  }, [selection, positions]);

  // Hover details: the point's payload from the Qdrant route, fetched after a short pause.
  // Without a hovered point the clicked one stays shown, so moving the pointer from the
  // canvas to the neighbour list does not reflow the list under it.
  const detailIndex = focused >= 0 ? focused : hover ? hover.index : picked;
  const detailTitle = focused >= 0 ? 'Focused point' : !hover && picked >= 0 ? 'Clicked point' : 'Point under the cursor';
  useEffect(() => {
    if (!loaded || detailIndex < 0) return;
    const id = loaded.ids[detailIndex];
    const key = `${loaded.collection}/${id}`;
    const cached = detailCache.current.get(key);
    if (cached) return setDetails({ index: detailIndex, point: cached });
    let live = true;
    const t = setTimeout(() => {
      request<PointRecord>('GET', `/collections/${enc(loaded.collection)}/points/${id}`).then(
        (a) => {
          detailCache.current.set(key, a.result);
          if (live) setDetails({ index: detailIndex, point: a.result });
        },
        (e) => live && setDetails({ index: detailIndex, point: null, error: (e as Error).message }),
      );
    }, 120);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [loaded, detailIndex]);

  // A click: the point's neighbours from the server's k-NN graph.
  useEffect(() => {
    setNbrs(null);
    setNbrError(null);
    if (!loaded || picked < 0) return;
    let live = true;
    getNeighbours(loaded.collection, loaded.meta.method, picked).then(
      (a) => live && setNbrs(a),
      (e) => live && setNbrError(e),
    );
    return () => {
      live = false;
    };
  }, [loaded, picked]);

  useEffect(() => {
    const h: { index: number; kind: 'focus' | 'neighbour' }[] = [];
    if (nbrs) for (const n of nbrs.neighbors) h.push({ index: n.index, kind: 'neighbour' });
    if (picked >= 0) h.push({ index: picked, kind: 'focus' });
    if (focused >= 0 && focused !== picked) h.push({ index: focused, kind: 'focus' });
    sceneRef.current?.setHighlights(h);
  }, [nbrs, picked, focused, positions, theme]);

  const compute = useCallback(async () => {
    if (!collection) return setJobError(new Error('Choose a collection first.'));
    if (job && !TERMINAL.has(job.state)) return;
    setJobError(null);
    try {
      let j = await startProjection(collection, { method, max_points: Number(maxPoints), neighbors: Number(neighbours) });
      setJob(j);
      while (!TERMINAL.has(j.state) && !unmounted.current) {
        await new Promise((r) => setTimeout(r, 250));
        j = await getJob(j.id);
        setJob(j);
      }
      if (j.state === 'done') setTick((t) => t + 1);
    } catch (e) {
      setJobError(e);
    }
  }, [collection, method, maxPoints, neighbours, job]);

  const cancel = async () => {
    if (!job) return;
    try {
      setJob(await cancelJob(job.id));
    } catch (e) {
      setJobError(e);
    }
  };

  useShortcut('Ctrl+Enter', 'Compute the projection', '3D Space', () => void compute(), true);
  useShortcut('o', 'Drag orbits the camera', '3D Space', () => setMode('orbit'));
  useShortcut('b', 'Drag selects a box', '3D Space', () => setMode('box'));
  useShortcut('l', 'Drag draws a lasso', '3D Space', () => setMode('lasso'));
  useShortcut('e', 'Next geometry', '3D Space', () => setGeometry((g) => GEOMETRIES[(GEOMETRIES.indexOf(g) + 1) % GEOMETRIES.length]));
  useShortcut('f', 'Frame the whole cloud', '3D Space', () => sceneRef.current?.fit());
  useShortcut('x', 'Clear the selection and the clicked point', '3D Space', () => {
    setSelection([]);
    setPicked(-1);
    setFocused(-1);
  });

  const ids = loaded?.ids;
  const selectedIds = useMemo(() => (ids ? selection.map((i) => ids[i]) : []), [ids, selection]);
  const copy = async () => {
    const textIds = selectedIds.join('\n');
    try {
      await navigator.clipboard.writeText(textIds);
      setCopied(`Copied ${formatCount(selectedIds.length)} ids.`);
    } catch {
      const ta = document.getElementById('space-selection-ids') as HTMLTextAreaElement | null;
      ta?.select();
      setCopied('The browser refused the clipboard: the ids are selected in the box, press Ctrl+C.');
    }
  };

  const summary = loaded
    ? `3D scatter plot of ${formatCount(loaded.meta.count)} points of ${loaded.collection}, ${METHOD_LABELS[loaded.meta.method]} projection, ` +
      `${GEOMETRY_LABELS[geometry]} geometry, ${colorBy ? `coloured by ${colorBy}` : 'one colour'}; ` +
      `${formatCount(selection.length)} selected` +
      (picked >= 0 ? `; point ${loaded.ids[picked]} and its ${nbrs?.neighbors.length ?? 0} nearest neighbours highlighted` : '') +
      '. The neighbours and the selection are listed beside the plot.'
    : 'No projection loaded.';

  const running = job && !TERMINAL.has(job.state);
  const ev = loaded?.meta.explained_variance;
  const m = loaded?.meta;
  return (
    <section aria-labelledby="space-title" className="space-page">
      <h1 id="space-title" tabIndex={-1}>
        3D Space
      </h1>
      <form
        className="card"
        onSubmit={(e) => {
          e.preventDefault();
          void compute();
        }}
      >
        <div className="form">
          <div className="field">
            <label htmlFor="space-collection">Collection</label>
            <select id="space-collection" value={collection} onChange={(e) => setCollection(e.target.value)}>
              {!collection && <option value="">(none)</option>}
              {names.data?.map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="space-method">Method</label>
            <select id="space-method" value={method} onChange={(e) => setMethod(e.target.value as Method)}>
              <option value="pca">PCA</option>
              <option value="umap">UMAP</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="space-max">Max points</label>
            <input id="space-max" type="number" min={1} step={1} value={maxPoints} onChange={(e) => setMaxPoints(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="space-k">Neighbours (k-NN graph)</label>
            <input id="space-k" type="number" min={2} max={100} step={1} value={neighbours} onChange={(e) => setNeighbours(e.target.value)} />
          </div>
          <button type="submit" disabled={!!running} aria-keyshortcuts="Control+Enter">
            Compute
          </button>
        </div>
      </form>
      {names.error != null && <ErrorBox error={names.error} onRetry={names.reload} />}
      {names.data && names.data.length === 0 && <p className="alert warn">No collections yet: create or import one first.</p>}
      {jobError != null && <ErrorBox error={jobError} />}
      {job && job.state !== 'done' && (
        <div className="card" aria-live="polite" data-testid="space-job">
          <div className="row">
            <h2>
              Projection job {job.id}: {job.state}
            </h2>
            <span className="spacer" />
            {running && (
              <button type="button" className="secondary" onClick={cancel}>
                Cancel projection
              </button>
            )}
          </div>
          <progress value={job.progress} max={1} aria-label={`Projection progress ${Math.round(job.progress * 100)}%`} />
          <p>
            {Math.round(job.progress * 100)}% · {job.message}
          </p>
          {job.state === 'failed' && (
            <div className="alert error" role="alert">
              <strong>The projection failed.</strong> {job.message}
            </div>
          )}
          {job.state === 'cancelled' && <div className="alert warn">The projection was cancelled.</div>}
        </div>
      )}
      {loadError != null && <ErrorBox error={loadError} onRetry={() => setTick((t) => t + 1)} />}
      {collection && meta === null && !running && (
        <div className="alert warn" data-testid="space-none">
          {collection} has no {METHOD_LABELS[method]} projection yet.{' '}
          <button type="button" onClick={() => void compute()}>
            Compute it now
          </button>
        </div>
      )}
      {collection && meta === undefined && loadError == null && <Skeleton lines={2} label="Loading the projection" />}
      {m && loaded && (
        <div className="card space-info" data-testid="space-info">
          <p data-testid="space-sample">
            <strong>{METHOD_LABELS[m.method]}</strong> of {loaded.collection}: {sampleNote(m)}. Computed{' '}
            {new Date(m.created * 1000).toLocaleString()} in {formatDuration(m.took_s)}.
          </p>
          <dl className="space-figures">
            <div>
              <dt>k-NN preservation (k = {m.neighbors})</dt>
              <dd data-testid="space-knn">{(m.quality.knn_preservation * 100).toFixed(1)}%</dd>
            </div>
            {ev && (
              <div>
                <dt>Explained variance</dt>
                <dd data-testid="space-variance">
                  {ev.map((v, i) => `PC${i + 1} ${(v * 100).toFixed(1)}%`).join(', ')} ({(ev.reduce((a, b) => a + b, 0) * 100).toFixed(1)}% in all)
                </dd>
              </div>
            )}
          </dl>
          {m.stale && (
            <div className="alert warn" data-testid="space-stale">
              Stale: the collection changed since this projection was computed.{' '}
              <button type="button" className="secondary" onClick={() => void compute()} disabled={!!running}>
                Compute again
              </button>
            </div>
          )}
        </div>
      )}
      <div className="card space-toolbar" hidden={!loaded}>
        <div className="form">
          <div className="field">
            <label htmlFor="space-geometry">Geometry</label>
            <select id="space-geometry" value={geometry} onChange={(e) => setGeometry(e.target.value as Geometry)} aria-keyshortcuts="e">
              {GEOMETRIES.map((g) => (
                <option key={g} value={g}>
                  {GEOMETRY_LABELS[g]}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="space-color">Colour by</label>
            <select id="space-color" value={colorBy} onChange={(e) => setColorBy(e.target.value)}>
              <option value="">One colour</option>
              {fields.map((f) => (
                <option key={f} value={f}>
                  {f}
                </option>
              ))}
            </select>
          </div>
          <fieldset className="space-modes">
            <legend>Drag to</legend>
            {(['orbit', 'box', 'lasso'] as DragMode[]).map((d) => (
              <label key={d} className="check">
                <input type="radio" name="space-mode" value={d} checked={mode === d} onChange={() => setMode(d)} aria-keyshortcuts={d[0]} />
                {DRAG_LABELS[d]}
              </label>
            ))}
          </fieldset>
          <button type="button" className="secondary" onClick={() => sceneRef.current?.fit()} aria-keyshortcuts="f">
            Frame all
          </button>
        </div>
        <p className="muted">
          Drag to orbit, wheel to zoom, right-drag to pan; shift-drag selects a box in any mode. Hover a point for its payload, click it for its
          neighbours.
        </p>
        {fieldError != null && <ErrorBox error={fieldError} />}
        {field && <Legend field={field} />}
      </div>
      {glError && (
        <div className="alert error" role="alert">
          <strong>WebGL is not available in this browser, so the 3D view cannot be drawn.</strong> {glError}
        </div>
      )}
      <div className="space-layout" hidden={!loaded}>
        <div
          className={`space-view mode-${mode}`}
          ref={wrapRef}
          data-testid="space-view"
          data-point0={probe}
          data-count={loaded?.meta.count ?? 0}
        >
          <canvas ref={canvasRef} role="img" aria-label={summary} data-testid="space-canvas" />
          <svg ref={overlayRef} className="space-overlay" aria-hidden="true" />
          {hover && loaded && (
            <div className="space-tip" style={{ left: hover.x + 12, top: hover.y + 12 }} aria-hidden="true">
              id {loaded.ids[hover.index]}
            </div>
          )}
        </div>
        <div className="space-side">
          <section className="card" aria-labelledby="space-point-title" data-testid="space-point">
            <h2 id="space-point-title">{detailTitle}</h2>
            {details && loaded && details.index === detailIndex ? (
              <>
                <p>
                  id <strong data-testid="space-point-id">{loaded.ids[details.index]}</strong> (position {details.index})
                </p>
                {details.error ? <p className="alert error">{details.error}</p> : <pre className="json">{JSON.stringify(details.point?.payload ?? null, null, 1)}</pre>}
              </>
            ) : (
              <p className="muted">Hover over a point.</p>
            )}
          </section>
          <section className="card" aria-labelledby="space-nbr-title" data-testid="space-neighbours">
            <h2 id="space-nbr-title">Nearest neighbours</h2>
            {picked < 0 && <p className="muted">Click a point to list its nearest neighbours (original space).</p>}
            {nbrError != null && <ErrorBox error={nbrError} />}
            {nbrs && (
              <>
                <p>
                  of id <strong data-testid="space-picked-id">{nbrs.point.id}</strong>, distances in the collection's metric
                </p>
                <div className="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">#</th>
                        <th scope="col">id</th>
                        <th scope="col">distance</th>
                      </tr>
                    </thead>
                    <tbody>
                      {nbrs.neighbors.map((n, r) => (
                        <tr key={n.index} className={focused === n.index ? 'focused' : undefined}>
                          <td>{r + 1}</td>
                          <td>
                            <button
                              type="button"
                              className="link"
                              onClick={() => {
                                setFocused(n.index);
                                sceneRef.current?.focus(n.index);
                              }}
                              aria-label={`Focus point ${n.id}`}
                            >
                              {n.id}
                            </button>
                          </td>
                          <td>{n.distance.toPrecision(5)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </>
            )}
          </section>
          <section className="card" aria-labelledby="space-sel-title" data-testid="space-selection">
            <h2 id="space-sel-title">Selection</h2>
            <p aria-live="polite">
              <strong data-testid="space-selection-count">{formatCount(selection.length)}</strong> points selected
            </p>
            {selection.length > 0 && (
              <>
                <label htmlFor="space-selection-ids">
                  Ids{selection.length > SHOW_IDS ? ` (first ${SHOW_IDS}; Copy takes all)` : ''}
                </label>
                <textarea id="space-selection-ids" readOnly rows={4} value={selectedIds.slice(0, SHOW_IDS).join(', ')} />
                <div className="row">
                  <button type="button" className="secondary" onClick={copy}>
                    Copy ids
                  </button>
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => navigate('/search', `?collection=${enc(loaded!.collection)}&like=${selectedIds[0]}`)}
                  >
                    More like {selectedIds[0]}
                  </button>
                  <button type="button" className="secondary" onClick={() => setSelection([])}>
                    Clear
                  </button>
                </div>
                {copied && <p className="muted">{copied}</p>}
              </>
            )}
          </section>
        </div>
      </div>
      <p className="visually-hidden" aria-live="polite">
        {loaded ? summary : ''}
      </p>
    </section>
  );
}
