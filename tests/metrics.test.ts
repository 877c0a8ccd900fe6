import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RunningServer } from '@opencall/server';
import { EVENT } from '@opencall/client/node';
import { cleanup, eventually, startTestServer, TestClient } from './support/harness.js';

/** One sample's value from Prometheus text exposition, or undefined if absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    const want = Object.entries(labels);
    if (want.length !== Object.keys(got).length || want.some(([k, v]) => got[k] !== v)) continue;
    return Number(m[3]);
  }
  return undefined;
}

async function scrape(server: RunningServer): Promise<string> {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** A bare WebSocket that sends raw frames and waits for the answers. */
async function rawSocket(server: RunningServer): Promise<{ send(text: string): Promise<any>; close(): void }> {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return {
    send: (text) =>
      new Promise((resolve) => {
        ws.once('message', (data) => resolve(JSON.parse(String(data))));
        ws.send(text);
      }),
    close: () => ws.close(),
  };
}

describe('GET /metrics', () => {
  let server: RunningServer | undefined;
  let clients: TestClient[] = [];
  afterEach(async () => {
    await cleanup(server, clients);
    server = undefined;
    clients = [];
  });

  it('counts users, calls by state, invitation outcomes, end reasons, setup and ringing times and refused frames', async () => {
    server = await startTestServer();
    const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((id) => new TestClient(id, server!)) as [TestClient, TestClient, TestClient, TestClient];
    clients = [alice, bob, carol, dave];
    for (const c of clients) await c.login();

    let text = await scrape(server);
    expect(sample(text, 'opencall_users')).toBe(4);
    expect(sample(text, 'opencall_connections')).toBe(4);
    expect(sample(text, 'opencall_calls', { state: 'ringing' })).toBe(0);
    expect(sample(text, 'opencall_calls', { state: 'connected' })).toBe(0);
    for (const outcome of ['accepted', 'rejected', 'busy', 'no_answer', 'cancelled']) expect(sample(text, 'opencall_invitations_total', { outcome })).toBe(0);
    // Node.js process metrics are on. prom-client counts CPU from when the metrics were set up,
    // which can be 0 at the very first scrape; it must have grown by the end of the test.
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);

    // 1. alice → bob, accepted: a connected call.
    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    text = await scrape(server);
    expect(sample(text, 'opencall_calls', { state: 'ringing' })).toBe(1);
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER);
    await bob.waitFor(EVENT.USER_ENTER);
    text = await scrape(server);
    expect(sample(text, 'opencall_calls', { state: 'ringing' })).toBe(0);
    expect(sample(text, 'opencall_calls', { state: 'connected' })).toBe(1);

    // 2. carol → alice while alice is in a call: busy (the call ends at once, reason busy).
    await carol.sdk.call({ userID: 'alice', type: 1 });
    await carol.waitFor(EVENT.LINE_BUSY);

    // 3. carol → dave, rejected.
    await carol.sdk.call({ userID: 'dave', type: 1 });
    await dave.waitFor(EVENT.INVITED);
    text = await scrape(server);
    expect(sample(text, 'opencall_calls', { state: 'ringing' })).toBe(1);
    expect(sample(text, 'opencall_calls', { state: 'connected' })).toBe(1);
    await dave.sdk.reject();
    await carol.waitFor(EVENT.REJECT);

    // 4. carol → dave again, carol hangs up while it rings: cancelled.
    dave.clear();
    await carol.sdk.call({ userID: 'dave', type: 1 });
    await dave.waitFor(EVENT.INVITED);
    await carol.sdk.hangup();
    await dave.waitFor(EVENT.CALLING_CANCEL);

    // 5. alice hangs up the connected call.
    await alice.sdk.hangup();
    await bob.waitFor(EVENT.CALL_END);

    // 6. bob → carol with a 1 s timeout (v0 form): no answer.
    await bob.sdk.call({ userID: 'carol', type: 1, timeout: 1 });
    await carol.waitFor(EVENT.INVITED);
    await bob.waitFor(EVENT.NO_RESP);
    await carol.waitFor(EVENT.CALLING_TIMEOUT);

    // 7. Refused frames, counted by code: not JSON, and a request before login. Before login each
    // also closes its socket (4003), counted by reason.
    const raw = await rawSocket(server);
    text = await scrape(server);
    expect(sample(text, 'opencall_connections')).toBe(5);
    expect(await raw.send('{nope')).toMatchObject({ t: 'error', code: 40001 });
    const raw2 = await rawSocket(server);
    expect(await raw2.send(JSON.stringify({ t: 'hangup', rid: 1, inviteID: 'x' }))).toMatchObject({ t: 'res', rid: 1, ok: false, code: 40105 });
    await eventually(async () => sample(await scrape(server!), 'opencall_connections') === 4, 'both closed by the server');
    text = await scrape(server);
    expect(sample(text, 'opencall_sockets_closed_total', { reason: 'login_required' })).toBe(2);
    expect(sample(text, 'opencall_sockets_closed_total', { reason: 'slow_consumer' })).toBe(0);

    expect(sample(text, 'opencall_invitations_total', { outcome: 'accepted' })).toBe(1);
    expect(sample(text, 'opencall_invitations_total', { outcome: 'busy' })).toBe(1);
    expect(sample(text, 'opencall_invitations_total', { outcome: 'rejected' })).toBe(1);
    expect(sample(text, 'opencall_invitations_total', { outcome: 'cancelled' })).toBe(1);
    expect(sample(text, 'opencall_invitations_total', { outcome: 'no_answer' })).toBe(1);
    expect(sample(text, 'opencall_calls_created_total')).toBe(5);
    expect(sample(text, 'opencall_calls_ended_total', { reason: 'hangup' })).toBe(1);
    expect(sample(text, 'opencall_calls_ended_total', { reason: 'busy' })).toBe(1);
    expect(sample(text, 'opencall_calls_ended_total', { reason: 'rejected' })).toBe(1);
    expect(sample(text, 'opencall_calls_ended_total', { reason: 'cancelled' })).toBe(1);
    expect(sample(text, 'opencall_calls_ended_total', { reason: 'no_answer' })).toBe(1);
    expect(sample(text, 'opencall_calls_ended_total', { reason: 'disconnected' })).toBe(0);
    expect(sample(text, 'opencall_calls', { state: 'ringing' })).toBe(0);
    expect(sample(text, 'opencall_calls', { state: 'connected' })).toBe(0);

    // Setup latency: one observation per INVITED delivered with its invitation (4: the busy
    // invitee got none), all well under 100 ms of server time.
    expect(sample(text, 'opencall_call_setup_seconds_count')).toBe(4);
    expect(sample(text, 'opencall_call_setup_seconds_bucket', { le: '0.1' })).toBe(4);
    const setupSum = sample(text, 'opencall_call_setup_seconds_sum')!;
    expect(setupSum).toBeGreaterThan(0);
    expect(setupSum).toBeLessThan(0.4);
    expect(sample(text, 'opencall_call_setup_seconds_bucket', { le: '0.0001' })).toBeDefined();
    console.info(`call setup (server share): mean ${((setupSum / 4) * 1e6).toFixed(0)} µs over 4 invitations`);
    // Ringing time: bob's one acceptance.
    expect(sample(text, 'opencall_ringing_seconds_count')).toBe(1);
    expect(sample(text, 'opencall_ringing_seconds_sum')).toBeGreaterThan(0);

    expect(sample(text, 'opencall_errors_total', { code: '40001', name: 'MALFORMED_FRAME' })).toBe(1);
    expect(sample(text, 'opencall_errors_total', { code: '40105', name: 'NOT_LOGGED_IN' })).toBe(1);
    // Labels are bounded: no userID or inviteID ever shows up.
    for (const id of ['alice', 'bob', 'carol', 'dave']) expect(text).not.toContain(id);
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);

    await eventually(async () => sample(await scrape(server!), 'opencall_connections') === 4, 'raw socket closed');
    await dave.sdk.logout();
    text = await scrape(server);
    expect(sample(text, 'opencall_users')).toBe(3);
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    await eventually(async () => sample(await scrape(server!), 'opencall_connections') === 3, 'logged-out socket closed');
  });

  it('is off with metrics: false', async () => {
    server = await startTestServer({ metrics: false });
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
  });
  it('with metricsToken (OPENCALL_METRICS_TOKEN): only for Authorization: Bearer <token>', async () => {
    const token = 'metrics-token-0123456789abcdef-0123456789';
    server = await startTestServer({ metricsToken: token });
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: token }] as Record<string, string>[]) {
      const res = await fetch(`${server.url}/metrics`, { headers });
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect((await res.json()).code).toBe(40303);
    }
    expect((await fetch(`${server.url}/metrics?token=${token}`)).status).toBe(401);
    const ok = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(sample(await ok.text(), 'opencall_users')).toBe(0);
  });

  it('with metricsPort (OPENCALL_METRICS_PORT): on its own listener (with /healthz), not on the public one', async () => {
    server = await startTestServer({ metricsPort: 0, metricsHost: '127.0.0.2' });
    expect(server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
    expect(server.metricsUrl).not.toBe(server.url);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    const res = await fetch(`${server.metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(sample(await res.text(), 'opencall_connections')).toBe(0);
    expect((await fetch(`${server.metricsUrl}/healthz`)).status).toBe(200);
    // Nothing else is served there.
    expect((await fetch(`${server.metricsUrl}/v1/config`)).status).toBe(404);
  });
});
