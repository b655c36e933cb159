// The shell: skip link, header with navigation and theme switch, the page, and the
// keyboard-shortcut overlay. Pages are chosen by path (router.ts).
import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { SettingsContext } from './context';
import { navigate, useLocation } from './router';
import { applyTheme, loadSettings, nextTheme, saveSettings, THEME_LABELS, THEMES, type Settings, type Theme } from './settings';
import { handleKey, useShortcut, useShortcutList } from './shortcuts';
import { Dashboard } from './pages/Dashboard';
import { Collections } from './pages/Collections';
import { CollectionDetail } from './pages/CollectionDetail';
import { Search } from './pages/Search';
import { Import } from './pages/Import';
import { SettingsPage } from './pages/SettingsPage';
import { Skeleton } from './components/Status';

// The 3D page and Three.js load only when the page is opened (their own chunk).
const Space = lazy(() => import('./pages/Space'));

const NAV = [
  { path: '/', label: 'Dashboard', key: '1', seq: 'g d' },
  { path: '/collections', label: 'Collections', key: '2', seq: 'g c' },
  { path: '/search', label: 'Search', key: '3', seq: 'g s' },
  { path: '/import', label: 'Import', key: '4', seq: 'g i' },
  { path: '/space', label: '3D Space', key: '6', seq: 'g v' },
  { path: '/settings', label: 'Settings', key: '5', seq: 'g o' },
];

function NavShortcuts() {
  for (const n of NAV) {
    // The list is fixed, so the hooks run in the same order on every render.
    useShortcut(n.key, `Go to ${n.label}`, 'Global', () => navigate(n.path));
    useShortcut(n.seq, `Go to ${n.label}`, 'Global', () => navigate(n.path));
  }
  return null;
}

function ShortcutOverlay({ open, onClose }: { open: boolean; onClose: () => void }) {
  const list = useShortcutList();
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  const scopes = [...new Set(list.map((s) => s.scope))];
  return (
    <dialog ref={ref} className="dialog shortcuts" aria-labelledby="shortcuts-title" onClose={onClose}>
      <h2 id="shortcuts-title">Keyboard shortcuts</h2>
      {scopes.map((scope) => (
        <section key={scope}>
          <h3>{scope}</h3>
          <dl>
            {[...new Set(list.filter((s) => s.scope === scope).map((s) => s.description))].map((d) => (
              <div key={d} className="shortcut-row">
                <dt>
                  {list
                    .filter((s) => s.scope === scope && s.description === d)
                    .map((s, j) => (
                      <span key={s.keys}>
                        {j > 0 && <span className="muted"> or </span>}
                        {s.keys.split(' ').map((k, i) => (
                          <kbd key={i}>{k}</kbd>
                        ))}
                      </span>
                    ))}
                </dt>
                <dd>{d}</dd>
              </div>
            ))}
          </dl>
        </section>
      ))}
      <section>
        <h3>Dialogs</h3>
        <dl>
          <div className="shortcut-row">
            <dt>
              <kbd>Escape</kbd>
            </dt>
            <dd>Close the dialog (this one too)</dd>
          </div>
        </dl>
      </section>
      <div className="actions">
        <button type="button" onClick={onClose} autoFocus>
          Close
        </button>
      </div>
    </dialog>
  );
}

function Page({ path }: { path: string }) {
  if (path === '/' || path === '/dashboard') return <Dashboard />;
  if (path === '/collections') return <Collections />;
  if (path.startsWith('/collections/')) return <CollectionDetail name={decodeURIComponent(path.slice(13))} />;
  if (path === '/search') return <Search />;
  if (path === '/import') return <Import />;
  if (path === '/settings') return <SettingsPage />;
  if (path === '/space')
    return (
      <Suspense fallback={<Skeleton lines={4} label="Loading the 3D page" />}>
        <Space />
      </Suspense>
    );
  return (
    <section aria-labelledby="nf-title">
      <h1 id="nf-title">Page not found</h1>
      <p>
        The Studio has no page at <code>{path}</code>.{' '}
        <a href="#" onClick={(e) => (e.preventDefault(), navigate('/'))}>
          Go to the dashboard
        </a>
        .
      </p>
    </section>
  );
}

export function App() {
  const [settings, setSettings] = useState<Settings>(() => loadSettings());
  const [help, setHelp] = useState(false);
  const { path } = useLocation();

  const update = useCallback((patch: Partial<Settings>) => {
    setSettings((s) => {
      const n = saveSettings({ ...s, ...patch });
      applyTheme(n.theme);
      return n;
    });
  }, []);
  const ctx = useMemo(() => ({ settings, update }), [settings, update]);

  useShortcut('?', 'Show this list of shortcuts', 'Global', () => setHelp(true));
  useShortcut('t', 'Switch to the next theme', 'Global', () => update({ theme: nextTheme(loadSettings().theme) }));

  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      if (help) return; // the dialog handles Escape itself
      handleKey(e);
    };
    window.addEventListener('keydown', on);
    return () => window.removeEventListener('keydown', on);
  }, [help]);

  // Move focus to the page heading after navigation, so screen readers announce the page.
  const mainRef = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    mainRef.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [path]);

  const active = (p: string) => (p === '/' ? path === '/' || path === '/dashboard' : path === p || path.startsWith(p + '/'));

  return (
    <SettingsContext.Provider value={ctx}>
      <NavShortcuts />
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand" aria-label="HEKTOR Studio">
          HEKTOR <span className="brand-sub">Studio</span>
        </span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.path}>
                <a
                  href={import.meta.env.BASE_URL.replace(/\/$/, '') + n.path}
                  aria-current={active(n.path) ? 'page' : undefined}
                  onClick={(e) => {
                    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
                    e.preventDefault();
                    navigate(n.path);
                  }}
                  title={`${n.label} (${n.key})`}
                >
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar-tools">
          <label htmlFor="theme-select">Theme</label>
          <select id="theme-select" value={settings.theme} onChange={(e) => update({ theme: e.target.value as Theme })}>
            {THEMES.map((t) => (
              <option key={t} value={t}>
                {THEME_LABELS[t]}
              </option>
            ))}
          </select>
          <button type="button" className="ghost" onClick={() => setHelp(true)} aria-haspopup="dialog">
            Shortcuts <kbd>?</kbd>
          </button>
        </div>
      </header>
      <main id="main" ref={mainRef} tabIndex={-1}>
        <Page path={path} />
      </main>
      <ShortcutOverlay open={help} onClose={() => setHelp(false)} />
    </SettingsContext.Provider>
  );
}
