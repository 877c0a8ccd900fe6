/**
 * Redis with a password and TLS (issue 11, item 5): real redis-server with `requirepass`, then
 * TLS only (a self-signed certificate made here with openssl) and the real `opencall-server`
 * binary trusting it through OPENCALL_REDIS_TLS_CA. A call rings across the cluster's nodes;
 * a wrong password or an untrusted certificate stops the server from starting.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '@opencall/server';
import { EVENT } from '@opencall/client/node';
import { SDK_APP_ID, SECRET, TestClient } from './support/harness.js';
import { startTestCluster } from './support/cluster.js';
import { startRedis, type RedisInstance } from './support/redis.js';
import { ensureServerBuilt, ServerProcess } from './support/server-binary.js';

const PASSWORD = 'redis-pass-0123456789abcdef';
let dir: string;
let cert: { certFile: string; keyFile: string; caFile: string };
const redises: RedisInstance[] = [];

beforeAll(() => {
  ensureServerBuilt({ tolerateTypeErrors: true });
  dir = mkdtempSync(join(tmpdir(), 'opencall-redis-tls-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  // Self-signed, for 127.0.0.1: the certificate is its own CA.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
  cert = { certFile, keyFile, caFile: certFile };
}, 120_000);
afterAll(async () => {
  for (const r of redises) await r.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** alice calls bob through `server` and bob hears it ring. */
async function rings(server: RunningServer): Promise<void> {
  const alice = new TestClient('alice', server);
  const bob = new TestClient('bob', server);
  try {
    await alice.login();
    await bob.login();
    await alice.sdk.call({ userID: 'bob', type: 1 });
    await bob.waitFor(EVENT.INVITED);
  } finally {
    await Promise.all([alice.sdk.logout().catch(() => {}), bob.sdk.logout().catch(() => {})]);
  }
}

describe('Redis with a password (requirepass)', () => {
  let redis: RedisInstance;
  let cluster: RunningServer | undefined;
  beforeAll(async () => {
    redis = await startRedis({ password: PASSWORD });
    redises.push(redis);
  });
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  it('the password in the URL: two nodes work as one (a call rings across them)', async () => {
    expect(redis.url).toMatch(/^redis:\/\/:redis-pass-[^@]+@127\.0\.0\.1:\d+$/);
    cluster = await startTestCluster({ port: 0, host: '127.0.0.1', sdkAppId: SDK_APP_ID, secretKey: SECRET, logLevel: 'silent' }, 2, redis.url);
    await rings(cluster);
  });

  it('no password or a wrong one: the server refuses to start', async () => {
    const base = { port: 0, host: '127.0.0.1', sdkAppId: SDK_APP_ID, secretKey: SECRET, logLevel: 'silent' } as const;
    await expect(startServer({ ...base, redisUrl: `redis://127.0.0.1:${redis.port}` })).rejects.toThrow(/cannot reach Redis at .*NOAUTH/);
    await expect(startServer({ ...base, redisUrl: `redis://:wrong@127.0.0.1:${redis.port}` })).rejects.toThrow(/cannot reach Redis at .*(WRONGPASS|invalid password)/);
  });
});

describe('Redis over TLS (rediss://) with a password, real binary', () => {
  let redis: RedisInstance;
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis({ password: PASSWORD, tls: cert });
    redises.push(redis);
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop('SIGKILL');
  });
  const start = (env: NodeJS.ProcessEnv) => ServerProcess.start({ OPENCALL_REDIS_URL: redis.url, OPENCALL_DATA_DIR: '', ...env }, ['OPENCALL_DATABASE_URL']).then((s) => (servers.push(s), s));

  it('trusting the certificate through OPENCALL_REDIS_TLS_CA: starts, and a call rings', async () => {
    expect(redis.url).toMatch(/^rediss:\/\//);
    const s = await start({ OPENCALL_REDIS_TLS_CA: cert.caFile });
    await rings({ url: s.url } as RunningServer);
    // The password never shows in the log.
    expect(JSON.stringify(s.logs)).not.toContain(PASSWORD);
  });

  it('without trusting it: refuses to start (the certificate is not trusted)', async () => {
    await expect(start({})).rejects.toThrow(/cannot reach Redis .*self[- ]signed certificate/);
  });

  it('OPENCALL_REDIS_TLS_CA that is not a certificate: refused with a clear message', async () => {
    await expect(start({ OPENCALL_REDIS_TLS_CA: join(dir, 'nope.pem') })).rejects.toThrow(/OPENCALL_REDIS_TLS_CA: cannot read/);
    await expect(start({ OPENCALL_REDIS_TLS_CA: cert.keyFile })).rejects.toThrow(/OPENCALL_REDIS_TLS_CA: .* holds no PEM certificate/);
    expect(readFileSync(cert.caFile, 'utf8')).toContain('BEGIN CERTIFICATE');
  });
});
