import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { afterEach, describe, expect, it } from 'vitest';
import { handleKey, useShortcut, useShortcutList } from './shortcuts';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const calls: string[] = [];
let listed: string[] = [];

function Probe() {
  useShortcut('2', 'Go to Collections', 'Global', () => calls.push('2'));
  useShortcut('g c', 'Go to Collections', 'Global', () => calls.push('g c'));
  useShortcut('Ctrl+Enter', 'Run', 'Search', () => calls.push('run'), true);
  listed = useShortcutList().map((s) => `${s.scope}:${s.keys}`);
  return <input aria-label="field" />;
}

const press = (key: string, target: EventTarget = document.body, ctrlKey = false) => {
  const e = new KeyboardEvent('keydown', { key, ctrlKey, bubbles: true, cancelable: true });
  Object.defineProperty(e, 'target', { value: target });
  return handleKey(e);
};

describe('keyboard shortcuts', () => {
  const host = document.createElement('div');
  document.body.append(host);
  const root = createRoot(host);

  afterEach(() => {
    calls.length = 0;
  });

  it('are listed while their component is shown, and run on their keys', async () => {
    await act(async () => root.render(<Probe />));
    expect(listed).toEqual(['Global:2', 'Global:g c', 'Search:Ctrl+Enter']);
    expect(press('2')).toBe(true);
    press('g');
    press('c');
    expect(calls).toEqual(['2', 'g c']);
  });

  it('leave typing in a field alone, except those marked for fields', () => {
    const input = host.querySelector('input')!;
    expect(press('2', input)).toBe(false);
    press('Enter', input, true);
    expect(calls).toEqual(['run']);
  });

  it('forget a sequence broken by another key', () => {
    press('g');
    press('x');
    press('c');
    expect(calls).toEqual([]);
  });

  it('are removed with their component', async () => {
    await act(async () => root.render(<></>));
    expect(press('2')).toBe(false);
    expect(calls).toEqual([]);
  });
});
