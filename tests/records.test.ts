/**
 * Call records end to end: a real server and real SDK clients make calls (accepted, rejected,
 * no answer, busy, cancelled, a group call with mixed outcomes), then every user reads their
 * history with getCallHistory() and over REST, and the admin reads anyone's. The same suite
 * runs on the embedded SQLite (in memory) and on a real PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer, ServerOptions } from '@opencall/server';
import TRTCCalling, { EVENT, ErrorCode, type CallHistoryPage, type CallRecord } from '@opencall/client/node';
import { ADMIN_TOKEN, cleanup, SDK_APP_ID, sig, sleep, startTestServer, TestClient } from './support/harness.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

let postgres: TestPostgres | undefined;
afterAll(async () => {
  await postgres?.stop();
});

const BACKENDS: { name: string; options(): Promise<Partial<ServerOptions>> }[] = [
  { name: 'SQLite (in memory)', options: async () => ({}) },
  {
    name: 'PostgreSQL',
    options: async () => {
      postgres ??= await startPostgres();
      return { databaseUrl: await postgres.createDatabase() };
    },
  },
];

/** Set when the suite runs against a cluster (tests/support/cluster.ts). */
const CLUSTER = Number(process.env.OPENCALL_TEST_CLUSTER ?? 0) > 0;

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
type User = (typeof USERS)[number];

describe.each(BACKENDS)('call records end to end: $name', (backend) => {
  let server: RunningServer;
  const c = {} as Record<User, TestClient>;
  /** inviteIDs by scenario, and who took part in each. */
  const calls: { name: string; inviteID: string; parties: User[] }[] = [];
  /** Signed with a 1 s lifetime now; expired by the time the REST tests use it. */
  let expiredSig = '';

  beforeAll(async () => {
    expiredSig = sig('bob', 1);
    // One server for every test here: the same few people call each other many times a minute on purpose.
    server = await startTestServer({ ...(await backend.options()), inviteRate: 0, ringRate: 0 });
    for (const u of USERS) {
      c[u] = new TestClient(u, server);
      await c[u].login();
    }
  }, 60_000);
  afterAll(async () => {
    await cleanup(server, Object.values(c));
  });

  const latest = async (u: User): Promise<CallRecord> => {
    const page = await c[u].sdk.getCallHistory({ limit: 1 });
    expect(page.records).toHaveLength(1);
    return page.records[0]!;
  };
  const outcomes = (r: CallRecord) => Object.fromEntries(r.participants.map((p) => [p.userID, p.outcome]));
  const allOf = async (u: User, limit = 100): Promise<CallRecord[]> => (await c[u].sdk.getCallHistory({ limit })).records;

  async function connect(a: User, b: User, type: 1 | 2 = 1): Promise<string> {
    const { inviteID } = await c[a].sdk.call({ userID: b, type });
    await c[b].waitFor(EVENT.INVITED, (p) => p.inviteID === inviteID);
    await c[b].sdk.accept();
    await c[a].waitFor(EVENT.USER_ENTER, (p) => p.userID === b);
    await c[b].waitFor(EVENT.USER_ENTER, (p) => p.userID === a);
    return inviteID;
  }
  const clear = () => USERS.forEach((u) => c[u].clear());

  it('accepted, then hung up: duration as CALL_END said, joined/left times', async () => {
    clear();
    const id = await connect('alice', 'bob', 1);
    await sleep(1100);
    await c.alice.sdk.hangup();
    const end = await c.bob.waitFor(EVENT.CALL_END, (p) => p.inviteID === id);
    await c.alice.waitFor(EVENT.CALL_END);
    const rec = await latest('alice');
    expect(rec).toMatchObject({ inviteID: id, sponsor: 'alice', invitees: ['bob'], groupID: null, callType: 1, typeSwitches: [], endReason: 'hangup' });
    expect(rec.duration).toBe(end.totalTime);
    expect(rec.duration).toBeGreaterThanOrEqual(1);
    expect(rec.duration).toBe(Math.round((rec.endedAt! - rec.answeredAt!) / 1000));
    expect(rec.answeredAt!).toBeGreaterThanOrEqual(rec.createdAt);
    expect(outcomes(rec)).toEqual({ alice: 'left', bob: 'accepted' });
    const bob = rec.participants[1]!;
    expect(bob.joinedAt).toBe(rec.answeredAt);
    expect(bob.leftAt).toBe(rec.endedAt);
    expect(rec.participants[0]).toMatchObject({ role: 'caller', joinedAt: rec.createdAt });
    // alice hung up, then the call ended: the engine reads its clock for each, so a ms may pass
    expect(rec.endedAt! - rec.participants[0]!.leftAt!).toBeGreaterThanOrEqual(0);
    expect(rec.endedAt! - rec.participants[0]!.leftAt!).toBeLessThan(100);
    expect(await latest('bob')).toEqual(rec); // the same record for both parties
    calls.push({ name: 'accepted', inviteID: id, parties: ['alice', 'bob'] });
  });

  it('rejected', async () => {
    clear();
    const { inviteID } = await c.alice.sdk.call({ userID: 'bob', type: 2 });
    await c.bob.waitFor(EVENT.INVITED);
    await c.bob.sdk.reject();
    await c.alice.waitFor(EVENT.REJECT);
    const rec = await latest('bob');
    expect(rec).toMatchObject({ inviteID, callType: 2, endReason: 'rejected', answeredAt: null, duration: 0 });
    expect(outcomes(rec)).toEqual({ alice: 'left', bob: 'rejected' });
    expect(rec.participants[1]).toMatchObject({ joinedAt: null, leftAt: null });
    calls.push({ name: 'rejected', inviteID, parties: ['alice', 'bob'] });
  });

  it('no answer (timeout 1 s)', async () => {
    clear();
    const { inviteID } = await c.alice.sdk.call({ userID: 'bob', type: 1, timeout: 1 });
    await c.alice.waitFor(EVENT.NO_RESP, undefined, 5000);
    await c.bob.waitFor(EVENT.CALLING_TIMEOUT);
    const rec = await latest('alice');
    expect(rec).toMatchObject({ inviteID, endReason: 'no_answer', answeredAt: null, duration: 0 });
    expect(rec.endedAt! - rec.createdAt).toBeGreaterThanOrEqual(1000);
    expect(outcomes(rec)).toEqual({ alice: 'left', bob: 'no_answer' });
    calls.push({ name: 'no answer', inviteID, parties: ['alice', 'bob'] });
  });

  it('busy: calling someone who is in a call', async () => {
    clear();
    const talking = await connect('alice', 'bob');
    const { inviteID } = await c.carol.sdk.call({ userID: 'bob', type: 1 });
    await c.carol.waitFor(EVENT.LINE_BUSY);
    const rec = await latest('carol');
    expect(rec).toMatchObject({ inviteID, sponsor: 'carol', endReason: 'busy', answeredAt: null, duration: 0 });
    expect(outcomes(rec)).toEqual({ carol: 'left', bob: 'busy' });
    // the call bob is in is recorded as going on
    const live = (await allOf('alice')).find((r) => r.inviteID === talking)!;
    expect(live).toMatchObject({ endedAt: null, duration: null, endReason: null });
    expect(outcomes(live)).toEqual({ alice: null, bob: 'accepted' });
    expect(live.participants[1]!.leftAt).toBeNull();
    await c.bob.sdk.hangup();
    await c.alice.waitFor(EVENT.CALL_END);
    calls.push({ name: 'busy-carrier', inviteID: talking, parties: ['alice', 'bob'] });
    calls.push({ name: 'busy', inviteID, parties: ['carol', 'bob'] });
  });

  it('cancelled: the caller hangs up while it rings', async () => {
    clear();
    const { inviteID } = await c.alice.sdk.call({ userID: 'bob', type: 2 });
    await c.bob.waitFor(EVENT.INVITED);
    await c.alice.sdk.hangup();
    await c.bob.waitFor(EVENT.CALLING_CANCEL);
    const rec = await latest('bob');
    expect(rec).toMatchObject({ inviteID, endReason: 'cancelled', answeredAt: null, duration: 0 });
    expect(outcomes(rec)).toEqual({ alice: 'left', bob: 'cancelled' });
    calls.push({ name: 'cancelled', inviteID, parties: ['alice', 'bob'] });
  });

  it('group call, mixed outcomes: accepted, rejected, no answer', async () => {
    clear();
    const { inviteID } = await c.alice.sdk.groupCall({ userIDList: ['bob', 'carol', 'dave'], type: 1, timeout: 3 });
    await Promise.all(['bob', 'carol', 'dave'].map((u) => c[u as User].waitFor(EVENT.INVITED)));
    await c.bob.sdk.accept();
    await c.carol.sdk.reject();
    await c.alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'bob');
    await c.alice.waitFor(EVENT.NO_RESP, (p) => p.userIDList?.includes('dave'), 8000);
    // in the call so far
    let rec = await latest('dave');
    expect(rec.endedAt).toBeNull();
    expect(outcomes(rec)).toEqual({ alice: null, bob: 'accepted', carol: 'rejected', dave: 'no_answer' });
    await sleep(600);
    await c.bob.sdk.hangup();
    const end = await c.alice.waitFor(EVENT.CALL_END);
    rec = await latest('dave');
    expect(rec).toMatchObject({ inviteID, sponsor: 'alice', invitees: ['bob', 'carol', 'dave'], endReason: 'hangup' });
    expect(rec.duration).toBe(end.totalTime);
    expect(outcomes(rec)).toEqual({ alice: 'left', bob: 'accepted', carol: 'rejected', dave: 'no_answer' });
    for (const u of ['alice', 'bob', 'carol'] as const) expect(await latest(u)).toEqual(rec);
    calls.push({ name: 'group', inviteID, parties: ['alice', 'bob', 'carol', 'dave'] });
  });

  it('each user sees exactly the calls they made or were invited to, newest first', async () => {
    expect(calls).toHaveLength(7);
    for (const u of USERS) {
      const mine = await allOf(u);
      const expected = calls.filter((x) => x.parties.includes(u)).map((x) => x.inviteID);
      expect(new Set(mine.map((r) => r.inviteID)), u).toEqual(new Set(expected));
      expect(mine.map((r) => r.inviteID)).toEqual([...expected].reverse()); // made in this order
      for (const r of mine) expect(r.participants.some((p) => p.userID === u)).toBe(true);
    }
    expect(await allOf('erin')).toEqual([]);
  });

  it('pagination with a cursor; limits; errors', async () => {
    const full = await allOf('bob');
    expect(full).toHaveLength(7);
    const pages: CallHistoryPage[] = [];
    let cursor: string | undefined;
    do {
      const page = await c.bob.sdk.getCallHistory({ limit: 3, ...(cursor && { cursor }) });
      pages.push(page);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(pages.map((p) => p.records.length)).toEqual([3, 3, 1]);
    expect(pages.flatMap((p) => p.records)).toEqual(full);
    expect((await c.bob.sdk.getCallHistory()).records).toEqual(full); // default 20
    expect((await c.bob.sdk.getCallHistory({ limit: 1000 })).records).toEqual(full); // read as 100
    await expect(c.bob.sdk.getCallHistory({ limit: 0 })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(c.bob.sdk.getCallHistory({ limit: 2.5 })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(c.bob.sdk.getCallHistory({ cursor: 'bm9wZQ' })).rejects.toMatchObject({ code: ErrorCode.INVALID_MESSAGE });
    const stranger = new TRTCCalling({ SDKAppID: SDK_APP_ID, serverUrl: server.url });
    await expect(stranger.getCallHistory()).rejects.toMatchObject({ code: ErrorCode.NOT_LOGGED_IN });
  });

  // In a cluster each node has its own SQLite file: the REST history of a node that never ran the
  // call core is empty, which is why several nodes want PostgreSQL (docs/deployment.md).
  describe.skipIf(CLUSTER && backend.name.startsWith('SQLite'))('REST', () => {
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(server.url + path, { headers });
      return { status: res.status, body: (await res.json()) as any };
    };
    const asUser = (u: string, s = sig(u)) => ({ authorization: `Bearer ${s}`, 'x-opencall-user': u });

    it('GET /v1/history: your own records with your UserSig (header or ?userID=)', async () => {
      const viaSdk = await c.carol.sdk.getCallHistory();
      const r = await get('/v1/history', asUser('carol'));
      expect(r.status).toBe(200);
      expect(r.body).toEqual(viaSdk);
      expect(r.body.records.map((x: CallRecord) => x.inviteID)).toEqual(calls.filter((x) => x.parties.includes('carol')).map((x) => x.inviteID).reverse());
      const q = await get('/v1/history?userID=carol', { authorization: `Bearer ${sig('carol')}` });
      expect(q.body).toEqual(viaSdk);
      // pages over REST
      const p1 = await get('/v1/history?limit=4', asUser('alice'));
      expect(p1.body.records).toHaveLength(4);
      const p2 = await get(`/v1/history?limit=4&cursor=${encodeURIComponent(p1.body.nextCursor)}`, asUser('alice'));
      expect(p2.body.nextCursor).toBeNull();
      expect([...p1.body.records, ...p2.body.records]).toEqual(await allOf('alice'));
    });

    it('refused without credentials, with a wrong, forged or expired UserSig; nobody reads another user', async () => {
      const cases: [Record<string, string>, number][] = [
        [{}, ErrorCode.NOT_LOGGED_IN],
        [{ 'x-opencall-user': 'bob' }, ErrorCode.NOT_LOGGED_IN],
        [{ authorization: `Bearer ${sig('bob')}` }, ErrorCode.NOT_LOGGED_IN], // whose? no user named
        [asUser('bob', sig('carol')), ErrorCode.USERID_INVALID], // carol's sig cannot read bob's
        [asUser('bob', sig('bob').slice(0, -6) + 'AAAAAA'), ErrorCode.USERSIG_INVALID],
        [asUser('bob', 'not-a-usersig'), ErrorCode.USERSIG_INVALID],
        [asUser('bob', expiredSig), ErrorCode.USERSIG_EXPIRED],
        [{ authorization: `Basic ${sig('bob')}`, 'x-opencall-user': 'bob' }, ErrorCode.NOT_LOGGED_IN],
      ];
      for (const [headers, code] of cases) {
        const r = await get('/v1/history', headers);
        expect({ status: r.status, code: r.body.code, records: r.body.records }, JSON.stringify(headers).slice(0, 80)).toEqual({ status: 401, code, records: undefined });
      }
      // naming two different users, or a bad limit: 400
      expect((await get('/v1/history?userID=alice', asUser('bob'))).status).toBe(400);
      expect((await get('/v1/history?limit=abc', asUser('bob'))).body.code).toBe(ErrorCode.INVALID_MESSAGE);
      expect((await get('/v1/history?cursor=zzz', asUser('bob'))).status).toBe(400);
      // erin's own sig shows erin's (empty) history, never someone else's
      expect((await get('/v1/history', asUser('erin'))).body).toEqual({ records: [], nextCursor: null });
    });

    it('admin: GET /v1/admin/history/:userID with the admin token only', async () => {
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const r = await get('/v1/admin/history/dave', admin);
      expect(r.status).toBe(200);
      expect(r.body).toEqual(await c.dave.sdk.getCallHistory());
      expect((await get('/v1/admin/history/bob?limit=2', admin)).body.records).toEqual((await allOf('bob')).slice(0, 2));
      // The admin identity's UserSig is no admin credential, nor is anything in the query string.
      const q = await get(`/v1/admin/history/carol?identifier=administrator&usersig=${encodeURIComponent(sig('administrator'))}`);
      expect([q.status, q.body.code]).toEqual([401, ErrorCode.ADMIN_UNAUTHORIZED]);
      for (const headers of [{}, { authorization: `Bearer ${sig('bob')}` }, { authorization: `Bearer ${sig('administrator')}` }, { authorization: 'Bearer nope' }] as Record<string, string>[]) {
        const denied = await get('/v1/admin/history/bob', headers);
        expect([denied.status, denied.body.code]).toEqual([401, ErrorCode.ADMIN_UNAUTHORIZED]);
      }
      expect((await get(`/v1/admin/history/bob?identifier=bob&usersig=${encodeURIComponent(sig('bob'))}`)).status).toBe(401);
      expect((await get('/v1/admin/history/no%20such%20user', admin)).status).toBe(400);
    });
  });
});
