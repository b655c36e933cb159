// Builds a Qdrant filter from conditions (filter.ts) and shows the JSON it produces.
import { buildFilter, FilterError, GROUPS, newCondition, type Condition, type Group, type Op } from '../filter';

const GROUP_LABEL: Record<Group, string> = { must: 'must', should: 'should', must_not: 'must not' };

export function filterOrError(conds: Condition[]): { filter?: Record<string, unknown>; error?: string } {
  try {
    return { filter: buildFilter(conds) };
  } catch (e) {
    if (e instanceof FilterError) return { error: e.message };
    throw e;
  }
}

export function FilterBuilder({ idPrefix, conds, onChange }: { idPrefix: string; conds: Condition[]; onChange: (c: Condition[]) => void }) {
  const set = (id: number, patch: Partial<Condition>) => onChange(conds.map((c) => (c.id === id ? { ...c, ...patch } : c)));
  const { filter, error } = filterOrError(conds);
  return (
    <fieldset>
      <legend>Filter</legend>
      {conds.length === 0 && <p className="muted">No conditions: every point matches.</p>}
      {conds.map((c, i) => {
        const p = `${idPrefix}-c${c.id}`;
        return (
          <div className="cond" key={c.id} role="group" aria-label={`Condition ${i + 1}`}>
            <div className="field">
              <label htmlFor={`${p}-group`}>Group</label>
              <select id={`${p}-group`} value={c.group} onChange={(e) => set(c.id, { group: e.target.value as Group })}>
                {GROUPS.map((g) => (
                  <option key={g} value={g}>
                    {GROUP_LABEL[g]}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor={`${p}-key`}>Field</label>
              <input id={`${p}-key`} value={c.key} placeholder="city.name" onChange={(e) => set(c.id, { key: e.target.value })} />
            </div>
            <div className="field">
              <label htmlFor={`${p}-op`}>Condition</label>
              <select id={`${p}-op`} value={c.op} onChange={(e) => set(c.id, { op: e.target.value as Op })}>
                <option value="match">equals</option>
                <option value="any">is any of</option>
                <option value="range">in range</option>
              </select>
            </div>
            {c.op !== 'range' ? (
              <div className="field">
                <label htmlFor={`${p}-value`}>{c.op === 'any' ? 'Values (comma-separated)' : 'Value'}</label>
                <input id={`${p}-value`} value={c.value} onChange={(e) => set(c.id, { value: e.target.value })} />
              </div>
            ) : (
              (['gte', 'gt', 'lte', 'lt'] as const).map((b) => (
                <div className="field" key={b}>
                  <label htmlFor={`${p}-${b}`}>{{ gte: '≥', gt: '>', lte: '≤', lt: '<' }[b]}</label>
                  <input id={`${p}-${b}`} inputMode="decimal" size={7} value={c[b]} onChange={(e) => set(c.id, { [b]: e.target.value })} />
                </div>
              ))
            )}
            <button type="button" className="secondary" onClick={() => onChange(conds.filter((x) => x.id !== c.id))}>
              Remove<span className="sr-only"> condition {i + 1}</span>
            </button>
          </div>
        );
      })}
      <div className="row" style={{ marginTop: '0.5rem' }}>
        <button type="button" className="secondary" onClick={() => onChange([...conds, newCondition()])}>
          Add condition
        </button>
        {conds.length > 0 && (
          <button type="button" className="secondary" onClick={() => onChange([])}>
            Clear filter
          </button>
        )}
      </div>
      {error ? (
        <p className="alert error" role="alert" style={{ marginTop: '0.5rem' }}>
          {error}
        </p>
      ) : (
        filter && (
          <details>
            <summary>Filter JSON</summary>
            <pre className="json" data-testid={`${idPrefix}-filter-json`}>{JSON.stringify(filter, null, 2)}</pre>
          </details>
        )
      )}
    </fieldset>
  );
}
