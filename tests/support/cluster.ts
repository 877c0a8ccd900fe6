/**
 * Test helper: OpenCall as a cluster of in-process nodes on one real redis-server, behind a TCP
 * round-robin balancer, looking like one server to the tests (`url` is the balancer's). Set
 * OPENCALL_TEST_CLUSTER=<nodes> and startTestServer() returns one of these, which is how the
 * same test files run against the in-memory default and against Redis (see vitest.config.ts).
 */
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { startServer, type RunningServer, type ServerOptions } from '@opencall/server';
import { startRedis, type RedisInstance } from './redis.js';
import { startTcpBalancer, type TcpBalancer } from './tcp-balancer.js';

export interface TestCluster extends RunningServer {
  nodes: RunningServer[];
  balancer: TcpBalancer;
  redisUrl: string;
  prefix: string;
}

let shared: Promise<RedisInstance> | undefined;

/**
 * One redis-server per test file, stopped after the file's tests. (A process 'exit' handler is
 * not enough: vitest may end its worker processes without one running, which left redis-servers
 * behind.) Registered here, at import, so it belongs to every test file that uses the harness.
 */
afterAll(async () => {
  const r = shared;
  shared = undefined;
  await (await r?.catch(() => undefined))?.stop();
});

export function sharedRedis(): Promise<RedisInstance> {
  shared ??= startRedis();
  return shared;
}

/** Test lease: a dead core is replaced within about this long (ms). */
export const TEST_LEASE_MS = 1500;

export async function startTestCluster(options: ServerOptions, count: number, redisUrl?: string): Promise<TestCluster> {
  const url = redisUrl ?? (await sharedRedis()).url;
  const prefix = `{oc-test-${randomBytes(4).toString('hex')}}:`;
  const nodes: RunningServer[] = [];
  for (let i = 0; i < count; i++) {
    nodes.push(await startServer({ ...options, port: 0, redisUrl: url, redisPrefix: prefix, nodeId: `node${i + 1}`, clusterLeaseMs: TEST_LEASE_MS }));
  }
  const balancer = await startTcpBalancer(nodes.map((n) => n.port));
  const leader = () => nodes.find((n) => n.cluster?.leading());
  let closing: Promise<void> | undefined;
  return {
    url: balancer.url,
    port: balancer.port,
    nodes,
    balancer,
    redisUrl: url,
    prefix,
    stats: () => {
      const core = leader()?.stats();
      return { connections: nodes.reduce((n, s) => n + s.stats().connections, 0), users: core?.users ?? 0, calls: core?.calls ?? 0 };
    },
    close: () =>
      (closing ??= (async () => {
        await balancer.close();
        await Promise.all(nodes.map((n) => n.close()));
      })()),
  };
}
