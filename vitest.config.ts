import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** Test files that run twice: on the in-memory default and on a Redis cluster. */
const CLUSTER_SUITE = [
  'tests/one-to-one-flows.test.ts',
  'tests/one-to-one-media.test.ts',
  'tests/early-media.test.ts',
  'tests/group-mesh.test.ts',
  'tests/group-labels.test.ts',
  'tests/media-controls.test.ts',
  'tests/protocol-abuse.test.ts',
  'tests/reconnect.test.ts',
  'tests/multi-device.test.ts',
  'tests/records.test.ts',
  'tests/model/calls.model.test.ts',
  'tests/fuzz/wire.fuzz.test.ts',
];

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
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'memory', include: ['packages/*/test/**/*.test.ts', 'tests/**/*.test.ts'] } },
      // The same call tests against a cluster: three nodes on a real Redis behind a round-robin
      // balancer, so the parties of a call sit on different nodes (tests/support/cluster.ts).
      { extends: true, test: { name: 'redis-cluster', include: CLUSTER_SUITE, env: { OPENCALL_TEST_CLUSTER: '3' } } },
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
