import { defineConfig } from 'vite';

// Preact through esbuild's automatic JSX runtime: no framework plugin needed.
export default defineConfig({
  base: './',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    chunkSizeWarningLimit: 400,
    rollupOptions: {
      output: {
        // Chart.js in a chunk of its own: the sign-in page never loads it.
        manualChunks: (id) => (id.includes('node_modules/chart.js') || id.includes('node_modules/@kurkle') ? 'charts' : undefined),
      },
    },
  },
  server: {
    // `npm run dev` against a running `make serve` (CDP_PORT, default 8000)
    proxy: Object.fromEntries(
      ['/admin', '/v1', '/_local', '/health'].map((p) => [p, `http://127.0.0.1:${process.env.CDP_PORT || 8000}`]),
    ),
  },
  test: { environment: 'node', include: ['src/**/*.test.js'] },
});
