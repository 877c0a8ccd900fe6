/**
 * Records (and groups) survive a killed server: the real `opencall-server` binary (built dist) with
 * OPENCALL_DATA_DIR in a temp dir, calls made by SDK clients, SIGKILL mid-call, a restart on
 * the same data dir, and REST reads showing every record written before the kill, with the
 * calls it interrupted closed as 'server_restart'. A clean stop (SIGTERM) ends calls as hangups.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '@opencall/server';
import { EVENT, type CallRecord } from '@opencall/client/node';
import { ADMIN_TOKEN, sig, TestClient } from './support/harness.js';
import { ensureServerBuilt, ServerProcess } from './support/server-binary.js';


/** The binary with its records in `dataDir` (SQLite). */
function startWithData(dataDir: string): Promise<ServerProcess> {
  const env: NodeJS.ProcessEnv = { OPENCALL_DATA_DIR: dataDir };
  return ServerProcess.start(env, ['OPENCALL_DATABASE_URL']);
}

function admin(base: string, method: string, groupID: string, body?: unknown): Promise<Response> {
  return fetch(`${base}/v1/admin/groups/${groupID}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
}

async function history(base: string, userID: string): Promise<CallRecord[]> {
  const res = await fetch(`${base}/v1/history?limit=100`, { headers: { authorization: `Bearer ${sig(userID)}`, 'x-opencall-user': userID } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { records: CallRecord[] }).records;
}

describe('records across a killed server (real binary, SQLite in OPENCALL_DATA_DIR)', () => {
  let dir: string;
  const servers: ServerProcess[] = [];
  const clients: TestClient[] = [];

  beforeAll(() => {
    ensureServerBuilt({ tolerateTypeErrors: true });
    dir = mkdtempSync(join(tmpdir(), 'opencall-data-'));
  }, 120_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.sdk.logout().catch(() => {})));
    for (const s of servers) await s.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async () => {
    const s = await startWithData(dir);
    servers.push(s);
    return s;
  };
  const login = async (s: ServerProcess, userID: string) => {
    const c = new TestClient(userID, { url: s.url } as RunningServer, { reconnect: false });
    clients.push(c);
    await c.login();
    return c;
  };

  it('SIGKILL mid-call: everything written is there after the restart; open calls end as server_restart', async () => {
    const a = await start();
    const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((u) => login(a, u)));

    // A finished call, a call in progress, and one still ringing.
    const done = (await alice!.sdk.call({ userID: 'bob', type: 2 })).inviteID;
    await bob!.waitFor(EVENT.INVITED);
    await bob!.sdk.reject();
    await alice!.waitFor(EVENT.REJECT);
    bob!.clear();
    const talking = (await alice!.sdk.call({ userID: 'bob', type: 1 })).inviteID;
    await bob!.waitFor(EVENT.INVITED);
    await bob!.sdk.accept();
    await alice!.waitFor(EVENT.USER_ENTER);
    const ringing = (await carol!.sdk.call({ userID: 'dave', type: 2, timeout: 0 })).inviteID;
    await dave!.waitFor(EVENT.INVITED);

    const before = { alice: await history(a.url, 'alice'), carol: await history(a.url, 'carol') };
    expect(before.alice.map((r) => r.inviteID)).toEqual([talking, done]);
    expect(before.alice[0]).toMatchObject({ endedAt: null, endReason: null });
    expect(before.alice[0]!.answeredAt).not.toBeNull();
    expect(before.carol[0]).toMatchObject({ inviteID: ringing, endedAt: null });

    // A group made through the admin API.
    expect((await admin(a.url, 'PUT', 'team', { members: ['alice', 'bob', 'carol'] })).status).toBe(200);

    const killedAt = Date.now();
    expect(await a.stop('SIGKILL')).toBe('SIGKILL');

    const b = await start();
    const closed = b.logs.find((l) => l.event === 'records.orphans_closed');
    expect(closed?.calls).toBe(2);
    // A second server on the same data dir refuses to start (it would close b's live calls).
    await expect(startWithData(dir)).rejects.toThrow(/in use by another OpenCall server/);

    const after = { alice: await history(b.url, 'alice'), bob: await history(b.url, 'bob'), carol: await history(b.url, 'carol'), dave: await history(b.url, 'dave') };
    // The finished call is exactly as it was.
    expect(after.alice.find((r) => r.inviteID === done)).toEqual(before.alice.find((r) => r.inviteID === done));
    // The call in progress: closed at the restart, everything else as written.
    const t = after.alice.find((r) => r.inviteID === talking)!;
    const t0 = before.alice.find((r) => r.inviteID === talking)!;
    expect(t.endReason).toBe('server_restart');
    expect(t.endedAt!).toBeGreaterThanOrEqual(killedAt);
    expect(t.duration).toBe(Math.round((t.endedAt! - t.answeredAt!) / 1000));
    expect({ ...t, endedAt: null, endReason: null, duration: null, participants: null }).toEqual({ ...t0, participants: null });
    expect(t.participants).toEqual([
      { ...t0.participants[0], outcome: 'left', leftAt: t.endedAt },
      { ...t0.participants[1], outcome: 'accepted', leftAt: t.endedAt },
    ]);
    expect(after.bob.find((r) => r.inviteID === talking)).toEqual(t);
    // The ringing call: the invitee's outcome is cancelled.
    const g = after.carol.find((r) => r.inviteID === ringing)!;
    expect(g).toMatchObject({ endReason: 'server_restart', answeredAt: null, duration: 0 });
    expect(g.participants.map((p) => [p.userID, p.outcome])).toEqual([
      ['carol', 'left'],
      ['dave', 'cancelled'],
    ]);
    expect(after.dave).toEqual([g]);
    expect(readdirSync(dir)).toContain('opencall.sqlite');
    // The group is still there, and a group call in it works.
    const team = await admin(b.url, 'GET', 'team');
    expect(await team.json()).toEqual({ groupID: 'team', members: ['alice', 'bob', 'carol'] });

    // A clean stop (SIGTERM) ends calls in progress as hangups; the next start finds nothing open.
    const [alice2, bob2] = await Promise.all(['alice', 'bob'].map((u) => login(b, u)));
    const last = (await alice2!.sdk.call({ userID: 'bob', type: 1 })).inviteID;
    await bob2!.waitFor(EVENT.INVITED);
    await bob2!.sdk.accept();
    await alice2!.waitFor(EVENT.USER_ENTER);
    expect(await b.stop('SIGTERM')).toBe(0);
    const c = await start();
    expect(c.logs.find((l) => l.event === 'records.orphans_closed')).toBeUndefined();
    const final = await history(c.url, 'bob');
    expect(final.map((r) => r.inviteID)).toEqual([last, talking, done]);
    expect(final[0]).toMatchObject({ inviteID: last, endReason: 'hangup' });
    expect(final[0]!.participants.map((p) => p.outcome)).toEqual(['left', 'accepted']);
    expect(await c.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
