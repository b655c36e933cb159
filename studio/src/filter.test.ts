import { describe, expect, it } from 'vitest';
import { buildFilter, FilterError, newCondition, parseScalar, type Condition } from './filter';

const cond = (p: Partial<Condition>): Condition => ({ ...newCondition(), ...p });

describe('parseScalar', () => {
  it('reads integers, booleans and strings as a person typing them means', () => {
    expect(parseScalar('42')).toBe(42);
    expect(parseScalar('-7')).toBe(-7);
    expect(parseScalar('true')).toBe(true);
    expect(parseScalar('false')).toBe(false);
    expect(parseScalar(' paris ')).toBe('paris');
    expect(parseScalar('"42"')).toBe('42');
    expect(parseScalar('4.5')).toBe('4.5'); // match takes keywords, integers and booleans only
    expect(parseScalar('99999999999999999999')).toBe('99999999999999999999'); // beyond 2^53 stays text
  });
});

describe('buildFilter', () => {
  it('is undefined without conditions', () => {
    expect(buildFilter([])).toBeUndefined();
  });

  it('puts each condition in its group, in order', () => {
    const f = buildFilter([
      cond({ group: 'must', key: 'city', op: 'match', value: 'paris' }),
      cond({ group: 'must_not', key: 'tag', op: 'any', value: 'a, b ,c' }),
      cond({ group: 'should', key: 'price', op: 'range', gte: '10', lt: '20.5' }),
      cond({ group: 'must', key: 'n', op: 'match', value: '3' }),
      cond({ group: 'should', key: 'ok', op: 'match', value: 'true' }),
    ]);
    expect(f).toEqual({
      must: [
        { key: 'city', match: { value: 'paris' } },
        { key: 'n', match: { value: 3 } },
      ],
      must_not: [{ key: 'tag', match: { any: ['a', 'b', 'c'] } }],
      should: [
        { key: 'price', range: { gte: 10, lt: 20.5 } },
        { key: 'ok', match: { value: true } },
      ],
    });
  });

  it('keeps only the range bounds given, all four when given', () => {
    expect(buildFilter([cond({ key: 'x', op: 'range', gt: '-1', gte: '0', lt: '1e3', lte: '5' })])).toEqual({
      must: [{ key: 'x', range: { gt: -1, gte: 0, lt: 1000, lte: 5 } }],
    });
  });

  it('takes integers in "any of"', () => {
    expect(buildFilter([cond({ key: 'x', op: 'any', value: '1,2, 3' })])).toEqual({ must: [{ key: 'x', match: { any: [1, 2, 3] } }] });
  });

  it('names the problem in a bad condition', () => {
    expect(() => buildFilter([cond({ key: '', value: 'x' })])).toThrow(/no field name/);
    expect(() => buildFilter([cond({ key: 'city', value: '  ' })])).toThrow(/city: the match has no value/);
    expect(() => buildFilter([cond({ key: 'p', op: 'range' })])).toThrow(/p: the range has no bound/);
    expect(() => buildFilter([cond({ key: 'p', op: 'range', gt: 'abc' })])).toThrow(/p gt: "abc" is not a number/);
    expect(() => buildFilter([cond({ key: 't', op: 'any', value: 'a, 1' })])).toThrow(/only strings or only integers/);
    expect(() => buildFilter([cond({ key: 't', op: 'any', value: ' , ' })])).toThrow(FilterError);
  });
});
