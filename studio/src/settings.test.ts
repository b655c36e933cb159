import { beforeEach, describe, expect, it } from 'vitest';
import { type Theme, applyTheme, DEFAULTS, HISTORY_MAX, loadHistory, loadSettings, nextTheme, parseSettings, pushHistory, saveSettings, THEMES } from './settings';

beforeEach(() => localStorage.clear());

describe('settings', () => {
  it('are the defaults when nothing is stored', () => {
    expect(loadSettings()).toEqual(DEFAULTS);
  });

  it('persist across loads (the theme, server, key and defaults)', () => {
    saveSettings({ server: 'http://h:1/', apiKey: 'k', theme: 'solarized', k: 25, ef: 128 });
    expect(loadSettings()).toEqual({ server: 'http://h:1', apiKey: 'k', theme: 'solarized', k: 25, ef: 128 });
  });

  it('fall back field by field on damaged values', () => {
    expect(parseSettings('{"theme": "neon", "k": -3, "ef": 2.5, "server": 7, "apiKey": "x"}')).toEqual({ ...DEFAULTS, apiKey: 'x' });
    expect(parseSettings('not json')).toEqual(DEFAULTS);
    expect(parseSettings('[1,2]')).toEqual(DEFAULTS);
  });

  it('cycle through at least four themes and apply them to the root element', () => {
    expect(THEMES.length).toBeGreaterThanOrEqual(4);
    expect(THEMES).toEqual(expect.arrayContaining(['light', 'dark', 'contrast']));
    let t: Theme = THEMES[0];
    const seen = new Set<Theme>([t]);
    for (let i = 0; i < THEMES.length; i++) seen.add((t = nextTheme(t)));
    expect(seen.size).toBe(THEMES.length);
    expect(t).toBe(THEMES[0]);
    applyTheme('dark');
    expect(document.documentElement.dataset.theme).toBe('dark');
    expect(document.documentElement.style.colorScheme).toBe('dark');
  });
});

describe('query history', () => {
  it('keeps the newest first, merges repeats and holds at most HISTORY_MAX', () => {
    pushHistory({ at: 1, collection: 'a', query: { v: 1 } });
    pushHistory({ at: 2, collection: 'a', query: { v: 2 } });
    pushHistory({ at: 3, collection: 'a', query: { v: 1 } });
    expect(loadHistory().map((e) => e.at)).toEqual([3, 2]);
    for (let i = 0; i < HISTORY_MAX + 10; i++) pushHistory({ at: 10 + i, collection: 'b', query: { i } });
    const h = loadHistory();
    expect(h.length).toBe(HISTORY_MAX);
    expect(h[0].at).toBe(10 + HISTORY_MAX + 9);
  });

  it('ignores a damaged store', () => {
    localStorage.setItem('hektor.studio.history', '{oops');
    expect(loadHistory()).toEqual([]);
  });
});
