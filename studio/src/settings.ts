// Settings the Studio remembers in localStorage: server address, API key, theme and query
// defaults. One JSON value under one key, read whole and written whole, so a damaged or
// partial value falls back to the defaults field by field instead of breaking the page.

export const THEMES = ['light', 'dark', 'contrast', 'solarized'] as const;
export type Theme = (typeof THEMES)[number];
export const THEME_LABELS: Record<Theme, string> = {
  light: 'Light',
  dark: 'Dark',
  contrast: 'High contrast',
  solarized: 'Solarized',
};

export interface Settings {
  server: string; // '' = the origin the Studio was loaded from
  apiKey: string;
  theme: Theme;
  k: number;
  ef: number;
}

export const DEFAULTS: Settings = { server: '', apiKey: '', theme: 'light', k: 10, ef: 64 };
const KEY = 'hektor.studio.settings';

function intIn(v: unknown, lo: number, hi: number, dflt: number): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? v : dflt;
}

export function parseSettings(raw: string | null): Settings {
  let o: Record<string, unknown> = {};
  try {
    const v = raw ? JSON.parse(raw) : {};
    if (v && typeof v === 'object' && !Array.isArray(v)) o = v;
  } catch {
    o = {};
  }
  return {
    server: typeof o.server === 'string' ? o.server.trim().replace(/\/+$/, '') : DEFAULTS.server,
    apiKey: typeof o.apiKey === 'string' ? o.apiKey : DEFAULTS.apiKey,
    theme: THEMES.includes(o.theme as Theme) ? (o.theme as Theme) : DEFAULTS.theme,
    k: intIn(o.k, 1, 10000, DEFAULTS.k),
    ef: intIn(o.ef, 1, 100000, DEFAULTS.ef),
  };
}

export function loadSettings(storage: Storage = localStorage): Settings {
  return parseSettings(storage.getItem(KEY));
}

export function saveSettings(s: Settings, storage: Storage = localStorage): Settings {
  const clean = parseSettings(JSON.stringify(s));
  storage.setItem(KEY, JSON.stringify(clean));
  return clean;
}

export function applyTheme(theme: Theme, root: HTMLElement = document.documentElement): void {
  root.dataset.theme = theme;
  root.style.colorScheme = theme === 'light' ? 'light' : theme === 'solarized' ? 'light' : 'dark';
}

export function nextTheme(t: Theme): Theme {
  return THEMES[(THEMES.indexOf(t) + 1) % THEMES.length];
}

// Query history: newest first, at most HISTORY_MAX entries, identical queries merged.
export interface HistoryEntry {
  at: number; // ms since the epoch
  collection: string;
  query: Record<string, unknown>;
}
const HKEY = 'hektor.studio.history';
export const HISTORY_MAX = 50;

export function loadHistory(storage: Storage = localStorage): HistoryEntry[] {
  try {
    const v = JSON.parse(storage.getItem(HKEY) ?? '[]');
    return Array.isArray(v)
      ? v.filter((e) => e && typeof e.collection === 'string' && typeof e.at === 'number')
      : [];
  } catch {
    return [];
  }
}

export function pushHistory(e: HistoryEntry, storage: Storage = localStorage): HistoryEntry[] {
  const key = (x: HistoryEntry) => x.collection + '\u0000' + JSON.stringify(x.query);
  const h = [e, ...loadHistory(storage).filter((x) => key(x) !== key(e))].slice(0, HISTORY_MAX);
  storage.setItem(HKEY, JSON.stringify(h));
  return h;
}

export function clearHistory(storage: Storage = localStorage): void {
  storage.removeItem(HKEY);
}
