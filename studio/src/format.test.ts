import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatDuration, formatMs, formatRate, formatScore, parseVector, truncate, vectorPreview } from './format';

describe('formatting', () => {
  it('groups counts', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(NaN)).toBe('—');
  });
  it('sizes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(10 * 1048576)).toBe('10.0 MiB');
    expect(formatBytes(300 * 1073741824)).toBe('300 GiB');
    expect(formatBytes(-1)).toBe('—');
  });
  it('times from microseconds to seconds', () => {
    expect(formatMs(0.085)).toBe('85 µs');
    expect(formatMs(3.14159)).toBe('3.14 ms');
    expect(formatMs(250)).toBe('250 ms');
    expect(formatMs(12500)).toBe('12.5 s');
  });
  it('rates, durations and scores', () => {
    expect(formatRate(4.6)).toBe('4.60');
    expect(formatRate(123.45)).toBe('123.5');
    expect(formatRate(12345)).toBe('12,345');
    expect(formatDuration(59)).toBe('59 s');
    expect(formatDuration(3725)).toBe('1 h 2 min');
    expect(formatDuration(90000)).toBe('1 d 1 h');
    expect(formatScore(1.0546)).toBe('1.0546');
    expect(formatScore(0.5)).toBe('0.5');
    expect(formatScore(12345.678)).toBe('12345.7');
  });
  it('previews a vector, truncated', () => {
    expect(vectorPreview([1, 0.5, -0.25], 6)).toBe('[1, 0.500, -0.250]');
    expect(vectorPreview([1, 2, 3, 4, 5, 6, 7, 8], 3)).toBe('[1, 2, 3, … 5 more]');
    expect(vectorPreview(null)).toBe('—');
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 4)).toBe('abc');
  });
  it('parses pasted vectors and names a bad component', () => {
    expect(parseVector('[1, 2.5, -3e-1]')).toEqual([1, 2.5, -0.3]);
    expect(parseVector(' 1 2\n3,4 ')).toEqual([1, 2, 3, 4]);
    expect(() => parseVector('[1, x, 3]')).toThrow(/component 1: "x"/);
    expect(() => parseVector('[]')).toThrow(/empty/);
    expect(() => parseVector('1, NaN')).toThrow(/component 1/);
  });
});
