/**
 * Secure defaults (issue 11, item 5): the real `opencall-server` binary refuses development
 * credentials on a non-loopback address and short secrets; the dev endpoint never mints the
 * admin identity and nobody logs in as it.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfigFromEnv, startServer, type RunningServer } from '@opencall/server';
import { ErrorCode } from '@opencall/client/node';
import { SDK_APP_ID, SECRET, sig, startTestServer } from './support/harness.js';
import { ensureServerBuilt, ServerProcess } from './support/server-binary.js';

describe('startup refusals (real binary)', () => {
  beforeAll(() => ensureServerBuilt({ tolerateTypeErrors: true }), 120_000);
  const servers: ServerProcess[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop('SIGKILL');
  });
  /** Starts the binary; resolves with its exit code and stderr when it refuses (the refusal happens before it binds anything). */
  const refused = async (env: NodeJS.ProcessEnv, unset: string[] = []) => {
    const started = ServerProcess.start(env, unset).then((s) => (servers.push(s), s));
    await expect(started).rejects.toThrow(/server exited \(2\) before listening/);
    return String(await started.catch((e: Error) => e.message));
  };

  // Addresses not on this machine (TEST-NET): even a server without the check could not listen
  // beyond loopback here. 0.0.0.0 and :: are checked without binding (loadConfigFromEnv, below).
  for (const host of ['192.0.2.10', '2001:db8::10']) {
    it(`the development secret on ${host}: refused, naming OPENCALL_SECRET and OPENCALL_INSECURE_DEV`, async () => {
      const err = await refused({ OPENCALL_HOST: host }, ['OPENCALL_SECRET', 'OPENCALL_DEV_USERSIG']);
      expect(err).toMatch(/OPENCALL_SECRET: not set, and the public development secret is refused on/);
      expect(err).toMatch(/OPENCALL_DEV_USERSIG: development UserSigs .* refused/);
      expect(err).toMatch(/OPENCALL_INSECURE_DEV=1/);
    });
  }

  it('development UserSigs with a real secret on a non-loopback address: refused', async () => {
    const err = await refused({ OPENCALL_HOST: '192.0.2.10', OPENCALL_DEV_USERSIG: '1' });
    expect(err).toMatch(/OPENCALL_DEV_USERSIG: development UserSigs/);
    expect(err).not.toMatch(/OPENCALL_SECRET:/);
  });

  it('a short secret: refused with its length, even on loopback', async () => {
    const err = await refused({ OPENCALL_SECRET: 'x'.repeat(31) });
    expect(err).toMatch(/OPENCALL_SECRET: too short \(31 characters\): at least 32/);
  });

  it('a short admin or metrics token: refused', async () => {
    expect(await refused({ OPENCALL_ADMIN_TOKEN: 'short' })).toMatch(/OPENCALL_ADMIN_TOKEN: at least 32 characters/);
    expect(await refused({ OPENCALL_METRICS_TOKEN: 'short' })).toMatch(/OPENCALL_METRICS_TOKEN: at least 32 characters/);
  });

  it('the development secret and dev UserSigs on loopback still start (npm start), with warnings', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const s = await ServerProcess.start({ OPENCALL_HOST: host, OPENCALL_DEV_USERSIG: '1' }, ['OPENCALL_SECRET']);
      servers.push(s);
      expect(s.stderr).toMatch(/OPENCALL_SECRET is not set/);
      const res = await fetch(`${s.url}/v1/dev/usersig`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userID: 'alice' }) });
      expect(res.status).toBe(200);
      await s.stop('SIGKILL');
    }
  });
});

describe('configuration checks (loadConfigFromEnv, startServer)', () => {
  it('OPENCALL_INSECURE_DEV=1 allows development credentials beyond loopback, with a loud warning', () => {
    const c = loadConfigFromEnv({ OPENCALL_HOST: '0.0.0.0', OPENCALL_INSECURE_DEV: '1', OPENCALL_DATA_DIR: '' });
    expect(c.options.devUserSig).toBe(true);
    expect(c.warnings.join('\n')).toMatch(/OPENCALL_INSECURE_DEV=1: development credentials are reachable on 0\.0\.0\.0/);
  });

  it('127.0.0.0/8, ::1 and localhost are loopback; 0.0.0.0 and :: are not', () => {
    for (const host of ['127.0.0.1', '127.3.4.5', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      expect(() => loadConfigFromEnv({ OPENCALL_HOST: host, OPENCALL_DATA_DIR: '' }), host).not.toThrow();
    }
    for (const host of ['0.0.0.0', '::', '[::]', '10.0.0.1', 'example.com', '128.0.0.1', '::ffff:10.0.0.1']) {
      expect(() => loadConfigFromEnv({ OPENCALL_HOST: host, OPENCALL_DATA_DIR: '' }), host).toThrow(/OPENCALL_SECRET: not set, and the public development secret is refused on/);
    }
  });

  it('embedders get the same checks from startServer', async () => {
    await expect(startServer({ port: 0, host: '127.0.0.1', sdkAppId: SDK_APP_ID, secretKey: 'short-secret', logLevel: 'silent' })).rejects.toThrow(/too short \(12 characters\)/);
    await expect(startServer({ port: 0, host: '192.0.2.10', sdkAppId: SDK_APP_ID, secretKey: SECRET, devUserSig: true, logLevel: 'silent' })).rejects.toThrow(/development UserSigs/);
    await expect(startServer({ port: 0, host: '127.0.0.1', sdkAppId: SDK_APP_ID, secretKey: SECRET, adminToken: 'short', logLevel: 'silent' })).rejects.toThrow(/adminToken: at least 32/);
  });
});

describe('the admin identity is reserved', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('POST /v1/dev/usersig never mints it (nor a custom OPENCALL_ADMIN_ID)', async () => {
    server = await startTestServer({ devUserSig: true, adminUserID: 'ops_admin' });
    const mint = (userID: string) => fetch(`${server!.url}/v1/dev/usersig`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userID }) });
    const r = await mint('ops_admin');
    expect(r.status).toBe(403);
    expect(await r.json()).toEqual({ code: ErrorCode.USERID_INVALID, message: expect.stringMatching(/reserved/) });
    expect((await mint('alice')).status).toBe(200);
  });

  it('nobody logs in as it, whatever the UserSig', async () => {
    server = await startTestServer();
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const answer = new Promise<any>((resolve) => ws.once('message', (d) => resolve(JSON.parse(String(d)))));
    ws.send(JSON.stringify({ t: 'login', rid: 1, sdkAppId: SDK_APP_ID, userID: 'administrator', userSig: sig('administrator') }));
    expect(await answer).toMatchObject({ t: 'res', rid: 1, ok: false, code: ErrorCode.USERID_INVALID });
    ws.close();
    const h = await fetch(`${server.url}/v1/history`, { headers: { authorization: `Bearer ${sig('administrator')}`, 'x-opencall-user': 'administrator' } });
    expect([h.status, ((await h.json()) as { code: number }).code]).toEqual([401, ErrorCode.USERID_INVALID]);
  });
});
