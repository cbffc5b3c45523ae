import { defineConfig } from 'vite';

// Built to static files the edge gateway serves under /console (same origin as the API).
// No inline script or style ends up in index.html: the gateway's CSP (script-src 'self') holds.
export default defineConfig({
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Chromium, Firefox and Safari support modulepreload natively; the polyfill is dead weight.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
