// Settings: server address, API key, theme and query defaults, kept in localStorage.
import { useState } from 'react';
import { request } from '../api';
import { useShortcut } from '../shortcuts';
import { useSettings } from '../context';
import { THEME_LABELS, THEMES, type Settings, type Theme } from '../settings';

export function SettingsPage() {
  const { settings, update } = useSettings();
  const [draft, setDraft] = useState<Settings>(settings);
  const [saved, setSaved] = useState(false);
  const [probe, setProbe] = useState<{ ok: boolean; text: string } | null>(null);

  const save = (e?: React.FormEvent) => {
    e?.preventDefault();
    update({ ...draft, theme: settings.theme });
    setSaved(true);
  };

  const test = async () => {
    setProbe(null);
    try {
      const a = await request<{ collections: unknown[] }>('GET', '/collections', undefined, { server: draft.server.trim().replace(/\/+$/, ''), apiKey: draft.apiKey });
      setProbe({ ok: true, text: `Connected: ${a.result.collections.length} collections, answered in ${(a.roundTripMs).toFixed(0)} ms.` });
    } catch (err) {
      setProbe({ ok: false, text: (err as Error).message });
    }
  };

  useShortcut('Ctrl+Enter', 'Save the settings', 'Settings', () => save(), true);

  const set = (patch: Partial<Settings>) => {
    setDraft({ ...draft, ...patch });
    setSaved(false);
  };

  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title" tabIndex={-1}>
        Settings
      </h1>
      <form className="card" onSubmit={save}>
        <fieldset>
          <legend>Server</legend>
          <div className="form">
            <div className="field">
              <label htmlFor="set-server">Server address (empty: the server this page came from)</label>
              <input
                id="set-server"
                type="url"
                size={40}
                placeholder="http://127.0.0.1:6333"
                aria-describedby="set-server-help"
                value={draft.server}
                onChange={(e) => set({ server: e.target.value })}
              />
              <small id="set-server-help" className="muted">
                Another origin works only through a proxy: hektor serve sends no CORS headers.
              </small>
            </div>
            <div className="field">
              <label htmlFor="set-key">API key (sent as the api-key header)</label>
              <input id="set-key" type="password" autoComplete="off" size={30} value={draft.apiKey} onChange={(e) => set({ apiKey: e.target.value })} />
            </div>
            <button type="button" className="secondary" onClick={test}>
              Test connection
            </button>
          </div>
          <div aria-live="polite">{probe && <p className={`alert ${probe.ok ? 'ok' : 'error'}`}>{probe.text}</p>}</div>
        </fieldset>
        <fieldset>
          <legend>Appearance (applied and kept at once)</legend>
          <div className="form">
          <div className="field">
            <label htmlFor="set-theme">Theme</label>
            <select id="set-theme" value={settings.theme} onChange={(e) => update({ theme: e.target.value as Theme })}>
              {THEMES.map((t) => (
                <option key={t} value={t}>
                  {THEME_LABELS[t]}
                </option>
              ))}
            </select>
          </div>
          </div>
        </fieldset>
        <fieldset>
          <legend>Search defaults</legend>
          <div className="form">
            <div className="field">
              <label htmlFor="set-k">k (results)</label>
              <input id="set-k" type="number" min={1} max={10000} value={draft.k} onChange={(e) => set({ k: Number(e.target.value) })} />
            </div>
            <div className="field">
              <label htmlFor="set-ef">ef (HNSW search breadth)</label>
              <input id="set-ef" type="number" min={1} max={100000} value={draft.ef} onChange={(e) => set({ ef: Number(e.target.value) })} />
            </div>
          </div>
        </fieldset>
        <div className="row">
          <button type="submit" aria-keyshortcuts="Control+Enter">
            Save settings
          </button>
          <span aria-live="polite">{saved && 'Saved.'}</span>
        </div>
      </form>
    </section>
  );
}
