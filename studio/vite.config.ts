import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The Studio is served by `hektor serve` under /studio/; every asset URL carries that base.
export default defineConfig({
  base: '/studio/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1500 },
  server: {
    // `npm run dev` proxies the API to a local `hektor serve` (HEKTOR_URL, default port 6333).
    proxy: Object.fromEntries(
      ['/collections', '/hektor', '/healthz', '/metrics'].map((p) => [
        p,
        { target: process.env.HEKTOR_URL ?? 'http://127.0.0.1:6333', changeOrigin: true },
      ]),
    ),
  },
  test: { include: ['src/**/*.test.{ts,tsx}'], environment: 'jsdom' },
});
