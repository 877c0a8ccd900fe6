/**
 * History reads are asynchronous (issue 11, item 4): on SQLite in a data dir they run on the
 * writer thread, on PostgreSQL over the network. A `ping` sent after `history` requests is still
 * answered after them (clients and tests use ping as a barrier).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RunningServer, ServerOptions } from '@opencall/server';
import { SDK_APP_ID, sig, startTestServer } from './support/harness.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

let postgres: TestPostgres | undefined;
const dirs: string[] = [];
afterAll(async () => {
  await postgres?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const BACKENDS: { name: string; options(): Promise<Partial<ServerOptions>> }[] = [
  {
    name: 'SQLite file (writer thread)',
    options: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'opencall-async-'));
      dirs.push(dir);
      return { dataDir: dir };
    },
  },
  { name: 'PostgreSQL', options: async () => ({ databaseUrl: await (postgres ??= await startPostgres()).createDatabase() }) },
];

describe.each(BACKENDS)('history answers and ping: $name', (backend) => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('a ping sent after history requests is answered after them', async () => {
    server = await startTestServer(await backend.options());
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const answered: number[] = [];
    const all = new Promise<void>((resolve) =>
      ws.on('message', (d) => {
        const m = JSON.parse(String(d));
        if (m.t !== 'res') return;
        expect(m.ok, JSON.stringify(m)).toBe(true);
        answered.push(m.rid);
        if (m.rid === 9) resolve();
      }),
    );
    ws.send(JSON.stringify({ t: 'login', rid: 1, sdkAppId: SDK_APP_ID, userID: 'alice', userSig: sig('alice') }));
    for (let rid = 2; rid <= 8; rid++) ws.send(JSON.stringify({ t: 'history', rid, limit: 5 }));
    ws.send(JSON.stringify({ t: 'ping', rid: 9 }));
    await all;
    expect(answered.slice(1).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(answered[answered.length - 1]).toBe(9);
    ws.close();
  });
});
