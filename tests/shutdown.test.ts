/**
 * Graceful shutdown of the real `opencall-server` binary: SIGTERM while one call is connected
 * and another rings. Everyone hears the end of their call (CALL_END, CALLING_CANCEL), sockets
 * close with 1001, records are closed, and the process exits 0.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RunningServer } from '@opencall/server';
import { EVENT, TUICallEvent } from '@opencall/client/node';
import { eventually, startTestServer, TestClient } from './support/harness.js';
import { ensureServerBuilt, ServerProcess } from './support/server-binary.js';
import { freePort } from './support/ports.js';


/** The server binary with its records in `dataDir`, on a port chosen up front. */
async function startBinary(dataDir: string): Promise<ServerProcess> {
  const port = await freePort();
  const server = await ServerProcess.start({ OPENCALL_PORT: String(port), OPENCALL_DATA_DIR: dataDir }, ['OPENCALL_DATABASE_URL']);
  expect(server.url).toBe(`http://127.0.0.1:${port}`);
  return server;
}

describe('graceful shutdown on SIGTERM (real binary)', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  let clients: TestClient[] = [];

  beforeAll(() => {
    ensureServerBuilt();
  }, 120_000);
  afterEach(async () => {
    await Promise.all(clients.map((c) => c.sdk.logout().catch(() => {})));
    clients = [];
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ends the connected call and the ringing invitation for everyone, closes with 1001 and exits 0', async () => {
    dir = mkdtempSync(join(tmpdir(), 'opencall-shutdown-'));
    const server = await startBinary(dir);
    child = server.child;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
      server.child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
    );
    const at = { url: server.url } as RunningServer;
    const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((id) => new TestClient(id, at)) as [TestClient, TestClient, TestClient, TestClient];
    clients = [alice, bob, carol, dave];
    for (const c of clients) await c.login();

    // alice and bob in a connected call; carol's call rings at dave.
    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER);
    await bob.waitFor(EVENT.USER_ENTER);
    await carol.sdk.call({ userID: 'dave', type: 1, timeout: 0 });
    await dave.waitFor(EVENT.INVITED);

    // A bare socket sees the close code.
    const raw = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    await new Promise((resolve, reject) => raw.once('open', resolve).once('error', reject));
    const rawClosed = new Promise<{ code: number; reason: string }>((resolve) => raw.once('close', (code, reason) => resolve({ code, reason: String(reason) })));

    const sentAt = Date.now();
    server.child.kill('SIGTERM');

    const aliceEnd = await alice.waitFor(EVENT.CALL_END);
    const bobEnd = await bob.waitFor(EVENT.CALL_END);
    expect(aliceEnd).toMatchObject({ callRole: 1, reason: 'hangup' });
    expect(bobEnd).toMatchObject({ callRole: 2, reason: 'hangup' });
    const cancel = await dave.waitFor(EVENT.CALLING_CANCEL);
    expect(cancel).toMatchObject({ userID: 'carol' });
    expect(await carol.waitFor(TUICallEvent.onCallCancelled)).toMatchObject({ callerId: 'carol', reason: 'cancelled' });
    expect(await rawClosed).toEqual({ code: 1001, reason: 'server shutting down' });

    const exit = await exited;
    expect(exit, server.stderr).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sentAt).toBeLessThan(10_000);
    const events = server.logs.map((l) => l.event).filter(Boolean);
    expect(events).toContain('server.stopping');
    expect(events.indexOf('server.closed')).toBeGreaterThan(events.indexOf('server.stopping'));
    expect(server.logs.filter((l) => l.event === 'call.ended').map((l) => l.reason)).toEqual(['hangup', 'hangup']);
    // Nothing listens any more.
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    // The caller of the connected call heard nothing else: no error, no second end.
    expect(alice.count(EVENT.CALL_END)).toBe(1);
    expect(dave.count(EVENT.CALL_END)).toBe(0);
    console.info(`shutdown: SIGTERM → exit ${exit.at - sentAt} ms`);
  });

  it('refuses new connections while draining and cuts off a socket that never answers the close handshake', async () => {
    const server = await startTestServer();
    // A WebSocket client that upgrades and then ignores everything, the close frame included.
    const stubborn = connect(server.port, '127.0.0.1');
    const upgraded = new Promise<string>((resolve) => stubborn.once('data', (d) => resolve(String(d))));
    stubborn.write(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    expect(await upgraded).toMatch(/^HTTP\/1\.1 101/);
    const stubbornClosed = new Promise<void>((resolve) => stubborn.once('close', () => resolve()));
    await eventually(() => server.stats().connections === 1, 'upgrade counted');

    const closing = server.close();
    const attempt = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? String(err)));
    });
    expect([503, 'ECONNREFUSED']).toContain(attempt);
    await closing;
    await stubbornClosed;
    expect(server.stats().connections).toBe(0);
  });
});
