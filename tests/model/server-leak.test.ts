/**
 * BUG 2 (docs/model-testing.md), found by the 10,000-sequence model run, which starts one server
 * per sequence: with metrics on (the default), a server that was started and closed is never
 * garbage collected. `collectDefaultMetrics({ register })` (prom-client) installs a GC
 * PerformanceObserver that is never disconnected; it holds the server's metrics registry, whose
 * gauges' collect() closures hold startServer's scope (engine, gateway, sessions, records, the
 * HTTP app). About 250 KB of heap per server, plus an observer that runs on every GC, forever.
 * It only matters to processes that start servers again and again (tests, embedding, restarts
 * in-process).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { startServer } from '@opencall/server';
import { ManualClock } from '../support/manual-clock.js';
import { SDK_APP_ID, SECRET } from './driver.js';

function getGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** Starts and closes `n` servers; returns how many of them are still in memory after GCs. */
async function survivors(n: number, metrics: boolean): Promise<number> {
  const gc = getGc();
  const refs: WeakRef<object>[] = [];
  for (let i = 0; i < n; i++) {
    // The server keeps its clock (the call engine uses it): a handle on the whole instance.
    const clock = new ManualClock();
    refs.push(new WeakRef(clock));
    const server = await startServer({ port: 0, host: '127.0.0.1', sdkAppId: SDK_APP_ID, secretKey: SECRET, logLevel: 'silent', clock, metrics });
    await server.close();
  }
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  return refs.filter((r) => r.deref() !== undefined).length;
}

describe('a closed server is garbage collected', () => {
  it('control: with metrics off, closed servers are collected', async () => {
    expect(await survivors(10, false)).toBeLessThanOrEqual(1);
  });

  it('BUG 2 (fixed): with metrics on (the default), closed servers are collected', async () => {
    expect(await survivors(10, true)).toBeLessThanOrEqual(1);
  });
});
