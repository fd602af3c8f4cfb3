import { resolve } from 'node:path';
import { defineConfig } from 'vite';

/** Builds the browser client (call page and trickle-ICE page) into dist/client. */
export default defineConfig({
  root: 'client',
  base: '/',
  build: {
    outDir: resolve('dist/client'),
    emptyOutDir: true,
    sourcemap: true,
    rollupOptions: {
      input: {
        index: resolve('client/index.html'),
        'trickle-ice': resolve('client/trickle-ice.html'),
      },
    },
  },
});
