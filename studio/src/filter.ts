// The filter builder's model and its translation into Qdrant's filter grammar, which the
// server reads for scroll, count and search (docs/SERVER.md#filters). A condition is a key
// and either a match (one value, or any of several) or a numeric range; conditions sit in
// three groups, must / should / must_not. Values typed as text are read as numbers or
// booleans when they look like one ("42", "true"), as a person typing them means; a value
// in quotes ("\"42\"") stays a string.

export type Group = 'must' | 'should' | 'must_not';
export const GROUPS: Group[] = ['must', 'should', 'must_not'];

export type Op = 'match' | 'any' | 'range';

export interface Condition {
  id: number;
  group: Group;
  key: string;
  op: Op;
  value: string; // match: one value; any: comma-separated values
  gt: string;
  gte: string;
  lt: string;
  lte: string;
}

export type Scalar = string | number | boolean;

export function parseScalar(s: string): Scalar {
  const t = s.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1);
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (/^-?\d+$/.test(t) && Number.isSafeInteger(Number(t))) return Number(t);
  return t;
}

export class FilterError extends Error {}

function num(label: string, s: string): number | undefined {
  const t = s.trim();
  if (t === '') return undefined;
  const v = Number(t);
  if (!Number.isFinite(v)) throw new FilterError(`${label}: "${s}" is not a number`);
  return v;
}

export function conditionJson(c: Condition): Record<string, unknown> {
  const key = c.key.trim();
  if (!key) throw new FilterError('a condition has no field name');
  if (c.op === 'match') {
    if (c.value.trim() === '') throw new FilterError(`${key}: the match has no value`);
    return { key, match: { value: parseScalar(c.value) } };
  }
  if (c.op === 'any') {
    const vals = c.value.split(',').map((v) => v.trim()).filter((v) => v !== '').map(parseScalar);
    if (vals.length === 0) throw new FilterError(`${key}: "any of" has no values`);
    const kinds = new Set(vals.map((v) => typeof v));
    if (kinds.has('boolean') || kinds.size > 1)
      throw new FilterError(`${key}: "any of" takes only strings or only integers`);
    return { key, match: { any: vals } };
  }
  const range: Record<string, number> = {};
  for (const b of ['gt', 'gte', 'lt', 'lte'] as const) {
    const v = num(`${key} ${b}`, c[b]);
    if (v !== undefined) range[b] = v;
  }
  if (Object.keys(range).length === 0) throw new FilterError(`${key}: the range has no bound`);
  return { key, range };
}

// The Qdrant filter for a list of conditions, or undefined when there are none.
export function buildFilter(conds: Condition[]): Record<string, unknown> | undefined {
  const out: Record<string, unknown[]> = {};
  for (const c of conds) (out[c.group] ??= []).push(conditionJson(c));
  return Object.keys(out).length ? out : undefined;
}

let nextId = 1;
export function newCondition(group: Group = 'must'): Condition {
  return { id: nextId++, group, key: '', op: 'match', value: '', gt: '', gte: '', lt: '', lte: '' };
}
