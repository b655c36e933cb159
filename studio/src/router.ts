// A small client-side router over the History API. Paths are under Vite's base (/studio/);
// the server answers index.html for every extensionless path there, so a reload of any page
// comes back to it.
import { useEffect, useState } from 'react';

export const BASE = import.meta.env.BASE_URL.replace(/\/$/, ''); // "/studio"

export function currentPath(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return p === '' ? '/' : p;
}

export function navigate(path: string, search = ''): void {
  const target = BASE + path + search;
  if (target !== location.pathname + location.search) history.pushState(null, '', target);
  window.dispatchEvent(new Event('hektor:navigate'));
}

export function useLocation(): { path: string; search: URLSearchParams } {
  const [loc, setLoc] = useState(() => ({ path: currentPath(), search: new URLSearchParams(location.search) }));
  useEffect(() => {
    const on = () => setLoc({ path: currentPath(), search: new URLSearchParams(location.search) });
    window.addEventListener('popstate', on);
    window.addEventListener('hektor:navigate', on);
    return () => {
      window.removeEventListener('popstate', on);
      window.removeEventListener('hektor:navigate', on);
    };
  }, []);
  return loc;
}
