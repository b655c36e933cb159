// Keyboard shortcuts: one registry that the shell's keydown listener consults and the "?"
// overlay lists. Pages add their own with useShortcut while they are shown. Single keys do
// nothing while focus is in a text field (so typing is never taken), except the ones marked
// `inFields` (Escape, Ctrl+Enter).
import { useEffect, useRef, useSyncExternalStore } from 'react';

export interface Shortcut {
  keys: string; // as shown: "g c", "?", "Ctrl+Enter"
  description: string;
  scope: string; // "Global" or the page's name
  inFields?: boolean;
}

interface Entry extends Shortcut {
  run: () => void;
}

const entries = new Map<number, Entry>();
const listeners = new Set<() => void>();
let snapshot: Shortcut[] = [];
let seq = 0;

function changed() {
  snapshot = [...entries.values()].map(({ keys, description, scope, inFields }) => ({ keys, description, scope, inFields }));
  listeners.forEach((l) => l());
}

export function useShortcutList(): Shortcut[] {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => snapshot,
  );
}

export function useShortcut(keys: string, description: string, scope: string, run: () => void, inFields = false) {
  const ref = useRef(run);
  ref.current = run;
  useEffect(() => {
    const id = ++seq;
    entries.set(id, { keys, description, scope, inFields, run: () => ref.current() });
    changed();
    return () => {
      entries.delete(id);
      changed();
    };
  }, [keys, description, scope, inFields]);
}

function isField(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  if (!el || !el.tagName) return false;
  return el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName);
}

// The name of a key press in the registry's spelling.
export function keyName(e: KeyboardEvent): string {
  let k = e.key;
  if (k === ' ') k = 'Space';
  return (e.ctrlKey || e.metaKey ? 'Ctrl+' : '') + (e.altKey ? 'Alt+' : '') + k;
}

let pending = ''; // first key of a two-key sequence ("g")
let pendingAt = 0;

export function handleKey(e: KeyboardEvent): boolean {
  const name = keyName(e);
  const field = isField(e.target);
  const now = Date.now();
  const seqName = pending && now - pendingAt < 1500 ? `${pending} ${name}` : '';
  for (const en of entries.values()) {
    if (field && !en.inFields) continue;
    if (en.keys === seqName || en.keys === name) {
      pending = '';
      e.preventDefault();
      en.run();
      return true;
    }
  }
  if (!field && [...entries.values()].some((en) => en.keys.startsWith(name + ' '))) {
    pending = name;
    pendingAt = now;
    return true;
  }
  pending = '';
  return false;
}
