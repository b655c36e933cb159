// Collections: the list (with each one's size and parameters), a form to create one and a
// confirmed drop.
import { useRef, useState } from 'react';
import { createCollection, dropCollection, getCollection, listCollections, type CreateSpec, type Distance } from '../api';
import { formatCount } from '../format';
import { navigate, useLocation } from '../router';
import { useShortcut } from '../shortcuts';
import { useAsync } from '../components/useAsync';
import { Confirm } from '../components/Confirm';
import { ErrorBox, Skeleton } from '../components/Status';

const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

async function loadAll() {
  const names = await listCollections();
  return Promise.all(names.map(async (name) => ({ name, info: (await getCollection(name)).result })));
}

function CreateForm({ onCreated, onCancel }: { onCreated: (name: string) => void; onCancel: () => void }) {
  const [spec, setSpec] = useState<CreateSpec>({ name: '', size: 128, distance: 'Cosine', index: 'hnsw', m: 16, efConstruct: 200 });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const nameOk = NAME_RE.test(spec.name);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!nameOk) {
      setError(new Error('A name is 1 to 128 characters from A-Z a-z 0-9 _ . - and does not start with "."'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await createCollection(spec);
      onCreated(spec.name);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="create-title">
      <h2 id="create-title">New collection</h2>
      {error != null && <ErrorBox error={error} />}
      <div className="form">
        <div className="field">
          <label htmlFor="new-name">Name</label>
          <input id="new-name" required autoFocus value={spec.name} aria-invalid={spec.name !== '' && !nameOk} onChange={(e) => setSpec({ ...spec, name: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="new-dim">Dimension</label>
          <input id="new-dim" type="number" min={1} max={65536} required value={spec.size} onChange={(e) => setSpec({ ...spec, size: Number(e.target.value) })} />
        </div>
        <div className="field">
          <label htmlFor="new-metric">Metric</label>
          <select id="new-metric" value={spec.distance} onChange={(e) => setSpec({ ...spec, distance: e.target.value as Distance })}>
            <option value="Cosine">Cosine</option>
            <option value="Euclid">Euclidean (L2)</option>
            <option value="Dot">Dot product</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="new-index">Index</label>
          <select id="new-index" value={spec.index} onChange={(e) => setSpec({ ...spec, index: e.target.value as 'hnsw' | 'flat' })}>
            <option value="hnsw">HNSW graph</option>
            <option value="flat">Flat (exact)</option>
          </select>
        </div>
        {spec.index === 'hnsw' && (
          <>
            <div className="field">
              <label htmlFor="new-m">M (links per node)</label>
              <input id="new-m" type="number" min={2} max={256} value={spec.m} onChange={(e) => setSpec({ ...spec, m: Number(e.target.value) })} />
            </div>
            <div className="field">
              <label htmlFor="new-efc">ef_construction</label>
              <input id="new-efc" type="number" min={4} max={10000} value={spec.efConstruct} onChange={(e) => setSpec({ ...spec, efConstruct: Number(e.target.value) })} />
            </div>
          </>
        )}
        <button type="submit" disabled={busy}>
          Create
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function Collections() {
  const { search } = useLocation();
  const { data, error, loading, reload } = useAsync(loadAll, []);
  const [creating, setCreating] = useState(search.get('new') === '1');
  const [drop, setDrop] = useState<string | null>(null);
  const [dropError, setDropError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [busy, setBusy] = useState(false);
  const listRef = useRef<HTMLDivElement>(null);

  useShortcut('n', 'New collection', 'Collections', () => setCreating(true));
  useShortcut('r', 'Reload the list', 'Collections', reload);

  const doDrop = async () => {
    if (!drop) return;
    setBusy(true);
    try {
      await dropCollection(drop);
      setNotice(`Collection ${drop} dropped.`);
      setDrop(null);
      reload();
    } catch (e) {
      setDropError(e);
      setDrop(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="col-title">
      <div className="row">
        <h1 id="col-title" tabIndex={-1}>
          Collections
        </h1>
        <span className="spacer" />
        <button type="button" onClick={() => setCreating(true)} aria-keyshortcuts="n">
          New collection
        </button>
        <button type="button" className="secondary" onClick={reload} aria-keyshortcuts="r">
          Reload
        </button>
      </div>
      <div aria-live="polite">{notice && <p className="alert ok">{notice}</p>}</div>
      {dropError != null && <ErrorBox error={dropError} />}
      {creating && (
        <CreateForm
          onCancel={() => setCreating(false)}
          onCreated={(name) => {
            setCreating(false);
            setNotice(`Collection ${name} created.`);
            reload();
          }}
        />
      )}
      <div className="card" ref={listRef}>
        {loading && !data && <Skeleton lines={4} label="Loading collections" />}
        {error != null && <ErrorBox error={error} onRetry={reload} />}
        {data && data.length === 0 && <p data-testid="collections-empty">There are no collections. Create one, or import a file.</p>}
        {data && data.length > 0 && (
          <div className="table-wrap">
            <table>
              <caption className="sr-only">Collections</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col" className="num">
                    Points
                  </th>
                  <th scope="col" className="num">
                    Dimension
                  </th>
                  <th scope="col">Metric</th>
                  <th scope="col">Index</th>
                  <th scope="col">Payload indexes</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.map(({ name, info }) => {
                  const hn = info.config.hnsw_config;
                  return (
                    <tr key={name} data-testid={`row-${name}`}>
                      <td>
                        <a
                          href={`/studio/collections/${encodeURIComponent(name)}`}
                          onClick={(e) => (e.preventDefault(), navigate(`/collections/${encodeURIComponent(name)}`))}
                        >
                          {name}
                        </a>
                      </td>
                      <td className="num">{formatCount(info.points_count)}</td>
                      <td className="num">{info.config.params.vectors.size}</td>
                      <td>{info.config.params.vectors.distance}</td>
                      <td>{hn.m === 0 ? 'flat' : `HNSW (M ${hn.m}, ef_construction ${hn.ef_construct})`}</td>
                      <td>{Object.keys(info.payload_schema ?? {}).join(', ') || '—'}</td>
                      <td>
                        <div className="row">
                          <button type="button" className="secondary" onClick={() => navigate('/search', `?collection=${encodeURIComponent(name)}`)}>
                            Search<span className="sr-only"> {name}</span>
                          </button>
                          <button type="button" className="danger" onClick={() => setDrop(name)}>
                            Drop<span className="sr-only"> {name}</span>
                          </button>
                        </div>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </div>
      <Confirm
        open={drop !== null}
        title={`Drop collection ${drop ?? ''}?`}
        confirmLabel="Drop collection"
        busy={busy}
        onConfirm={doDrop}
        onCancel={() => setDrop(null)}
      >
        <p>
          This deletes <strong>{drop}</strong> and every point in it from the server. It cannot be undone.
        </p>
      </Confirm>
    </section>
  );
}
