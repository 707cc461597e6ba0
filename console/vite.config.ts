import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Built by `npm run build` (`vite build console`): the root is this directory, the output is
// dist/console, which the admin listener serves under /console/.
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: { outDir: '../dist/console', emptyOutDir: true, sourcemap: true },
});
