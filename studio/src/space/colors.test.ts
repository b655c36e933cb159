import { describe, expect, it } from 'vitest';
import { categoryColor, categoryColors, MISSING, numberColors, parseCss, ramp } from './colors';

const lum = ([r, g, b]: number[]) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

describe('ramp', () => {
  it('rises in lightness from one end to the other (perceptual, monotone)', () => {
    let prev = -1;
    for (let t = 0; t <= 1.0001; t += 0.02) {
      const l = lum(ramp(t));
      expect(l).toBeGreaterThan(prev);
      prev = l;
    }
  });
  it('clamps outside [0, 1] and treats NaN as 0', () => {
    expect(ramp(-3)).toEqual(ramp(0));
    expect(ramp(7)).toEqual(ramp(1));
    expect(ramp(NaN)).toEqual(ramp(0));
  });
});

describe('numberColors', () => {
  it('maps min to the start, max to the end and null to grey', () => {
    const c = numberColors([0, 10, null, 5], 0, 10);
    expect([...c.slice(0, 3)].map((v) => v.toFixed(3))).toEqual(ramp(0).map((v) => v.toFixed(3)));
    expect([...c.slice(3, 6)].map((v) => v.toFixed(3))).toEqual(ramp(1).map((v) => v.toFixed(3)));
    expect([...c.slice(6, 9)].map((v) => v.toFixed(3))).toEqual(MISSING.map((v) => v.toFixed(3)));
  });
  it('a field with one value takes the middle of the ramp', () => {
    const c = numberColors([4, 4], 4, 4);
    expect(c[0]).toBeCloseTo(ramp(0.5)[0], 5);
  });
});

describe('categories', () => {
  it('gives the first 12 categories distinct colours and -1 grey', () => {
    const seen = new Set(Array.from({ length: 12 }, (_, i) => categoryColor(i).map((v) => v.toFixed(2)).join()));
    expect(seen.size).toBe(12);
    const c = categoryColors([0, -1, 0]);
    expect([...c.slice(0, 3)]).toEqual([...c.slice(6, 9)]);
    expect([...c.slice(3, 6)].map((v) => v.toFixed(3))).toEqual(MISSING.map((v) => v.toFixed(3)));
  });
});

describe('parseCss', () => {
  it('reads hex and rgb() colours, refuses others', () => {
    expect(parseCss('#ff0000')).toEqual([1, 0, 0]);
    expect(parseCss(' #0f0')).toEqual([0, 1, 0]);
    expect(parseCss('rgb(0, 0, 255)')).toEqual([0, 0, 1]);
    expect(parseCss('blue')).toBeNull();
  });
});
