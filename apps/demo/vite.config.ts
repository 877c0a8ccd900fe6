import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

const repo = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

/** The OpenCall server `npm run dev` talks to (through the proxy below): `npm start` at the repo root. */
const SERVER = process.env.OPENCALL_DEMO_SERVER ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [vue()],
  resolve: {
    // The SDK straight from the workspace sources: the demo always runs the code in this repo.
    alias: [
      { find: /^@opencall\/client$/, replacement: repo('packages/client/src/index.ts') },
      { find: /^@opencall\/protocol\/lite$/, replacement: repo('packages/protocol/src/lite.ts') },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    // The page's origin is the serverUrl: forward the API and the signaling socket to the server.
    proxy: {
      '/v1': { target: SERVER, changeOrigin: true },
      '/ws': { target: SERVER.replace(/^http/, 'ws'), ws: true, changeOrigin: true },
    },
  },
});
