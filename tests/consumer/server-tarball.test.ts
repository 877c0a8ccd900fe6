/**
 * The server as an operator installs it (issue 12, 3a): the packed @opencall/protocol and
 * @opencall/server tarballs installed with `npm install --omit=dev` into a fresh directory
 * outside the repository, then `npx opencall-server` run from there — no source tree, no build
 * at start, no devDependency — and a real 1:1 video call with media through it.
 *
 * better-sqlite3 (the embedded default for records) is an optional peer: the first start,
 * without it, must stop with the npm command to run; then it is installed from the registry
 * (a native build: most of this test's time) and the server starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT } from '@opencall/client';
import { genUserSig } from '@opencall/server';
import { SDK_APP_ID, TestClient, cleanup, connectCall, expectMediaFlowing, sig } from '../support/harness.js';
import { onJsonLines } from '../support/json-lines.js';
import { consumerEnv, createConsumerProject, packWorkspaces, type ConsumerProject, type PackedPackages } from '../support/packed-packages.js';
import { freePort } from '../support/ports.js';

/** A production secret (the development one would refuse NODE_ENV=production). */
const SECRET = 'consumer-test-secret-0123456789abcdef-0123456789';
const userSig = (userID: string) => genUserSig(SDK_APP_ID, SECRET, userID, 3600);

let packed: PackedPackages;
let project: ConsumerProject;
const started: ChildProcess[] = [];

beforeAll(async () => {
  packed = await packWorkspaces();
  project = await createConsumerProject({ install: [packed.protocol, packed.server], installArgs: ['--omit=dev'] });
}, 180_000);

afterAll(async () => {
  // npx runs the server as its child: end the whole process group.
  for (const child of started) if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  await project?.cleanup();
  await packed?.cleanup();
});

/** `npx opencall-server` in the project: its JSON log lines, stderr, and the URL once it listens. */
function startServer(env: NodeJS.ProcessEnv) {
  const child = spawn('npx', ['--no', 'opencall-server'], {
    cwd: project.dir,
    env: consumerEnv({
      NODE_ENV: 'production',
      OPENCALL_HOST: '127.0.0.1',
      OPENCALL_SDKAPPID: String(SDK_APP_ID),
      OPENCALL_SECRET: SECRET,
      OPENCALL_LOG_LEVEL: 'info',
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so afterAll can end npx and the server together
  });
  started.push(child);
  const out = { logs: [] as Record<string, any>[], stderr: '', stdout: '' };
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  // 'close', not 'exit': npx may exit first, and the server, writing to the same pipes, is done only when they close.
  const exited = new Promise<number | string>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal!)));
  const listening = new Promise<string>((resolve, reject) => {
    onJsonLines(child.stdout!, (j) => {
      out.logs.push(j);
      if (j.event === 'server.listening') resolve(j.url);
    });
    void exited.then((code) => reject(new Error(`opencall-server exited (${code}) before listening:\n${out.stderr}${out.stdout}`)));
  });
  listening.catch(() => {}); // a test that expects the exit awaits `exited` instead
  return { child, out, exited, listening };
}

describe('@opencall/server installed from its tarball with --omit=dev', () => {
  it('has the runtime dependencies only: no devDependency, no optional peer', () => {
    const modules = join(project.dir, 'node_modules');
    expect(existsSync(join(modules, '@opencall/server/dist/bin.js')), 'the built server is in the tarball').toBe(true);
    expect(existsSync(join(modules, '.bin/opencall-server'))).toBe(true);
    expect(existsSync(join(modules, '@opencall/server/src')), 'no TypeScript sources shipped').toBe(false);
    for (const dev of ['vitest', 'typescript', 'esbuild', 'playwright-core', '@roamhq/wrtc', 'vite', 'vue-tsc', 'peerjs']) {
      expect(existsSync(join(modules, dev)), `${dev} is not installed`).toBe(false);
    }
    for (const peer of ['better-sqlite3', 'ioredis', 'pg']) expect(existsSync(join(modules, peer)), `optional peer ${peer} is not installed`).toBe(false);
    for (const dep of ['fastify', 'ws', 'zod', 'pino']) expect(existsSync(join(modules, dep)), `${dep} is installed`).toBe(true);
  });

  it('without better-sqlite3 (or pg with OPENCALL_DATABASE_URL), stops at start with the npm command to run', async () => {
    const s = startServer({ OPENCALL_PORT: String(await freePort()) });
    expect(await s.exited).toBe(1);
    expect(s.out.stderr).toContain("the package 'better-sqlite3' is not installed: npm install better-sqlite3");
    expect(s.out.stderr).toContain('OPENCALL_DATABASE_URL');
    expect(s.out.stderr, 'a clear message, not a stack trace').not.toMatch(/\n\s+at /);
    // PostgreSQL instead: then pg is the one missing (checked before connecting: nothing listens there).
    const pg = startServer({ OPENCALL_PORT: String(await freePort()), OPENCALL_DATABASE_URL: 'postgres://opencall@127.0.0.1:1/opencall' });
    expect(await pg.exited).toBe(1);
    expect(pg.out.stderr).toContain("OPENCALL_DATABASE_URL is set (call records in PostgreSQL) but the package 'pg' is not installed: npm install pg");
  }, 60_000);

  it('with better-sqlite3 installed, `npx opencall-server` runs a 1:1 video call with media, and stops on SIGTERM', async () => {
    const installing = Date.now();
    // No prebuilt binary is reachable here: node-gyp compiles SQLite (JOBS=max: its two sources in parallel).
    await project.npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=dev', 'better-sqlite3'], { JOBS: 'max' });
    console.log(`npm install better-sqlite3 (native build) took ${Date.now() - installing} ms`);
    // A cluster node needs ioredis, which is not installed either (checked before connecting).
    const redis = startServer({ OPENCALL_PORT: String(await freePort()), OPENCALL_DATA_DIR: '', OPENCALL_REDIS_URL: 'redis://127.0.0.1:1' });
    expect(await redis.exited).toBe(1);
    expect(redis.out.stderr).toContain("OPENCALL_REDIS_URL is set (several nodes on Redis) but the package 'ioredis' is not installed: npm install ioredis");

    const port = await freePort();
    const dataDir = join(project.dir, 'data');
    const s = startServer({ OPENCALL_PORT: String(port), OPENCALL_DATA_DIR: dataDir });
    const url = await s.listening;
    expect(url).toBe(`http://127.0.0.1:${port}`);
    expect(s.out.logs.find((j) => j.event === 'records.open')).toMatchObject({ backend: 'sqlite', where: join(dataDir, 'opencall.sqlite') });
    // An installed package has no demo app: `/` is a plain 404, and nothing was said about it.
    expect((await fetch(`${url}/`)).status).toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(s.out.stderr, 'a production start with a real secret prints no warning').toBe('');

    const alice = new TestClient('alice', { url });
    const bob = new TestClient('bob', { url });
    try {
      await alice.login(userSig('alice'));
      await bob.login(userSig('bob'));
      // A UserSig signed with another secret (the harness's) is refused: the server checks its own.
      const bad = new TestClient('mallory', { url });
      await expect(bad.login(sig('mallory')).finally(() => bad.sdk.logout().catch(() => {}))).rejects.toThrow();
      await connectCall(alice, bob);
      await expectMediaFlowing(alice, 'bob');
      await expectMediaFlowing(bob, 'alice');
      await alice.sdk.hangup();
      await bob.waitFor(EVENT.CALL_END);
      // Written through to the SQLite file by the installed better-sqlite3.
      const { records } = await bob.sdk.getCallHistory({ limit: 5 });
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ sponsor: 'alice', invitees: ['bob'], callType: 2 });
      expect(records[0]!.answeredAt).not.toBeNull();
    } finally {
      await cleanup(undefined, [alice, bob]);
    }
    expect(existsSync(join(dataDir, 'opencall.sqlite')), 'call records in the SQLite file').toBe(true);
    // As systemd stops a service: SIGTERM to the group (npx and the server under it).
    process.kill(-s.child.pid!, 'SIGTERM');
    await s.exited;
    expect(s.out.logs.map((j) => j.event)).toContain('server.closed');
    expect(s.out.stderr).toContain('opencall-server: SIGTERM, shutting down');
  }, 240_000);
});
