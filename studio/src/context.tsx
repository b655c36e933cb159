// The settings every page reads (theme, defaults, connection), with one setter that
// persists and applies them.
import { createContext, useContext } from 'react';
import type { Settings } from './settings';

export interface SettingsCtx {
  settings: Settings;
  update: (patch: Partial<Settings>) => void;
}

export const SettingsContext = createContext<SettingsCtx | null>(null);

export function useSettings(): SettingsCtx {
  const c = useContext(SettingsContext);
  if (!c) throw new Error('useSettings outside SettingsContext');
  return c;
}
