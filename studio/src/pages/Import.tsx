// Import: uploads a file to POST /hektor/collections/{name}/import and follows the job the
// server starts (GET /hektor/jobs/{id}) until it ends; the progress bar is the job's own
// progress. A rejected file ends the job "failed" with the server's message, shown whole.
import { useEffect, useRef, useState } from 'react';
import { enc, listCollections, request, unwrapJob, upload, type Job } from '../api';
import { formatBytes, formatCount } from '../format';
import { navigate } from '../router';
import { useShortcut } from '../shortcuts';
import { ErrorBox } from '../components/Status';
import { useAsync } from '../components/useAsync';

export const FORMATS = ['fvecs', 'bvecs', 'npy', 'jsonl', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

export function formatFromName(name: string): Format | null {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  if (ext === 'ndjson') return 'jsonl';
  return (FORMATS as readonly string[]).includes(ext) ? (ext as Format) : null;
}

export interface ImportOptions {
  collection: string;
  format: Format;
  create: boolean;
  metric: 'l2' | 'ip' | 'cosine';
  textField: string;
  idField: string;
  vectorField: string;
}

export function importPath(o: ImportOptions): string {
  const p = new URLSearchParams({ format: o.format });
  if (o.create) {
    p.set('create', 'true');
    p.set('metric', o.metric);
  }
  // jsonl records always use the fields "id" and "vector"; csv names its columns.
  if ((o.format === 'jsonl' || o.format === 'csv') && o.textField.trim()) p.set('text_field', o.textField.trim());
  if (o.format === 'csv') {
    if (o.idField.trim()) p.set('id_field', o.idField.trim());
    if (o.vectorField.trim()) p.set('vector_field', o.vectorField.trim());
  }
  return `/hektor/collections/${enc(o.collection)}/import?${p}`;
}

const TERMINAL = new Set(['done', 'failed', 'cancelled']);

export function Import() {
  const names = useAsync(listCollections, []);
  const [file, setFile] = useState<File | null>(null);
  const [o, setO] = useState<ImportOptions>({ collection: '', format: 'fvecs', create: false, metric: 'l2', textField: '', idField: '', vectorField: '' });
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const cancelled = useRef(false);
  const fileRef = useRef<HTMLInputElement>(null);

  useEffect(() => () => void (cancelled.current = true), []);
  useShortcut('u', 'Choose a file to upload', 'Import', () => fileRef.current?.click());
  useShortcut('Ctrl+Enter', 'Upload and import', 'Import', () => start(), true);

  const follow = async (j: Job) => {
    let cur = j;
    setJob(cur);
    while (!TERMINAL.has(cur.state) && !cancelled.current) {
      await new Promise((r) => setTimeout(r, 250));
      cur = unwrapJob((await request<unknown>('GET', `/hektor/jobs/${enc(cur.id)}`)).result);
      setJob(cur);
    }
  };

  const start = async (e?: React.FormEvent) => {
    e?.preventDefault();
    if (busy) return;
    if (!file) return setError(new Error('Choose a file first.'));
    if (!o.collection.trim()) return setError(new Error('Name the collection to import into.'));
    setBusy(true);
    setError(null);
    setJob(null);
    try {
      const a = await upload<unknown>(importPath(o), file);
      await follow(unwrapJob(a.result));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const cancel = async () => {
    if (!job) return;
    try {
      setJob(unwrapJob((await request<unknown>('DELETE', `/hektor/jobs/${enc(job.id)}`)).result));
    } catch (err) {
      setError(err);
    }
  };

  const textual = o.format === 'jsonl' || o.format === 'csv';
  const csv = o.format === 'csv';
  return (
    <section aria-labelledby="import-title">
      <h1 id="import-title" tabIndex={-1}>
        Import
      </h1>
      <form className="card" onSubmit={start}>
        <div className="form">
          <div className="field">
            <label htmlFor="import-file">File (fvecs, bvecs, npy, jsonl, csv)</label>
            <input
              id="import-file"
              ref={fileRef}
              type="file"
              accept=".fvecs,.bvecs,.npy,.jsonl,.ndjson,.csv"
              aria-keyshortcuts="u"
              onChange={(e) => {
                const f = e.target.files?.[0] ?? null;
                setFile(f);
                const fmt = f && formatFromName(f.name);
                if (fmt) setO((x) => ({ ...x, format: fmt }));
              }}
            />
          </div>
          <div className="field">
            <label htmlFor="import-format">Format</label>
            <select id="import-format" value={o.format} onChange={(e) => setO({ ...o, format: e.target.value as Format })}>
              {FORMATS.map((f) => (
                <option key={f}>{f}</option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="import-collection">Collection</label>
            <input id="import-collection" list="import-collections" value={o.collection} onChange={(e) => setO({ ...o, collection: e.target.value })} />
            <datalist id="import-collections">
              {names.data?.map((n) => (
                <option key={n} value={n} />
              ))}
            </datalist>
          </div>
          <label className="check">
            <input type="checkbox" checked={o.create} onChange={(e) => setO({ ...o, create: e.target.checked })} /> Create it when it does not exist
          </label>
          {o.create && (
            <div className="field">
              <label htmlFor="import-metric">Metric</label>
              <select id="import-metric" value={o.metric} onChange={(e) => setO({ ...o, metric: e.target.value as ImportOptions['metric'] })}>
                <option value="l2">Euclidean (l2)</option>
                <option value="ip">Inner product (ip)</option>
                <option value="cosine">Cosine</option>
              </select>
            </div>
          )}
          {csv && (
            <>
              <div className="field">
                <label htmlFor="import-id-field">Id column (default id)</label>
                <input id="import-id-field" value={o.idField} onChange={(e) => setO({ ...o, idField: e.target.value })} />
              </div>
              <div className="field">
                <label htmlFor="import-vector-field">Vector column (default vector)</label>
                <input id="import-vector-field" value={o.vectorField} onChange={(e) => setO({ ...o, vectorField: e.target.value })} />
              </div>
            </>
          )}
          {textual && (
            <div className="field">
              <label htmlFor="import-text-field">{csv ? 'Text column' : 'Text field'} (default text)</label>
              <input id="import-text-field" value={o.textField} onChange={(e) => setO({ ...o, textField: e.target.value })} />
            </div>
          )}
          <button type="submit" disabled={busy} aria-keyshortcuts="Control+Enter">
            Upload and import
          </button>
        </div>
        {file && (
          <p className="muted">
            {file.name}, {formatBytes(file.size)}
          </p>
        )}
      </form>
      {error != null && <ErrorBox error={error} />}
      {job && (
        <div className="card" aria-live="polite" data-testid="import-job">
          <div className="row">
            <h2>
              Job {job.id}: {job.state}
            </h2>
            <span className="spacer" />
            {!TERMINAL.has(job.state) && (
              <button type="button" className="secondary" onClick={cancel}>
                Cancel import
              </button>
            )}
          </div>
          <progress value={job.progress} max={1} aria-label={`Import progress ${Math.round(job.progress * 100)}%`} />
          <p>
            {Math.round(job.progress * 100)}% ({formatCount(job.done)} of {formatCount(job.total)}{job.kind === 'import' ? ' bytes' : ''}) · {job.message}
          </p>
          {job.state === 'failed' && (
            <div className="alert error" role="alert" data-testid="import-rejected">
              <strong>The file was rejected; nothing of it was imported.</strong>
              {job.message}
            </div>
          )}
          {job.state === 'cancelled' && <div className="alert warn">The import was cancelled. {job.message}</div>}
          {job.state === 'done' && (
            <div className="alert ok" data-testid="import-done">
              <strong>Imported.</strong> {job.message}{' '}
              <button type="button" className="link" onClick={() => navigate(`/collections/${enc(job.collection)}`)}>
                Open {job.collection}
              </button>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
