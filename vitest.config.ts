import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources; `npm test` also builds dist so the published entry points compile.
    alias: [
      { find: /^@opencall\/protocol\/lite$/, replacement: src('./packages/protocol/src/lite.ts') },
      { find: /^@opencall\/protocol$/, replacement: src('./packages/protocol/src/index.ts') },
      { find: /^@opencall\/server$/, replacement: src('./packages/server/src/index.ts') },
      { find: /^@opencall\/client\/node$/, replacement: src('./packages/client/src/node.ts') },
      { find: /^@opencall\/client$/, replacement: src('./packages/client/src/node.ts') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'tests/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
