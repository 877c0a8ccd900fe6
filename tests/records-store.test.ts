/**
 * Call record stores, driven by the real call engine (manual clock, no network): the same
 * suite on SQLite in memory, SQLite in a file and a real PostgreSQL. Plus the per-call write
 * cost, measured and printed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type CallRecord, type ServerEventFrame } from '@opencall/protocol';
import { CallEngine } from '../packages/server/src/calls/call-engine.js';
import type { Clock, TimerHandle } from '../packages/server/src/clock.js';
import { MemoryGroupStore } from '../packages/server/src/groups/group-store.js';
import {
  createRecords,
  decodeCursor,
  PostgresCallRecordStore,
  SQLITE_FILE,
  SqliteCallRecordStore,
  type CallRecordStore,
  type Records,
} from '../packages/server/src/records/index.js';
import { MIGRATIONS } from '../packages/server/src/records/sql.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

const log = pino({ level: 'silent' });
const T0 = 1_760_000_000_000;

/** Time that moves only when told to; timers fire as it passes them. */
class ManualClock implements Clock {
  private timers: { at: number; fn: () => void; handle: object }[] = [];
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = {};
    this.timers.push({ at: this.t + ms, fn, handle });
    return handle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((x) => x.handle !== handle);
  }
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const next = this.timers.filter((x) => x.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = next.at;
      next.fn();
    }
    this.t = until;
  }
}

interface Rig {
  engine: CallEngine;
  clock: ManualClock;
  records: Records;
  store: CallRecordStore;
  groups: MemoryGroupStore;
  invite(sponsor: string, invitees: string[], o?: { callType?: 1 | 2; timeout?: number; groupID?: string }): string;
  record(inviteID: string): Promise<CallRecord>;
  history(userID: string, q?: { cursor?: string; limit?: number }): Promise<{ records: CallRecord[]; nextCursor: string | null }>;
}

function rig(store: CallRecordStore, clock = new ManualClock(T0)): Rig {
  const groups = new MemoryGroupStore();
  const engine = new CallEngine({
    delivery: { send: (_u: string, _f: ServerEventFrame) => true, isOnline: () => true },
    clock,
    log,
    maxInvitees: 16,
    groups,
    maxParticipants: 8,
    participantsLimitHint: 'test',
    // These tests make many calls between the same few users at one instant on purpose.
    limits: { inviteRatePerMinute: 0, ringRatePerMinute: 0 },
  });
  const records = createRecords(store, clock, log);
  records.attach(engine);
  let rid = 1;
  return {
    engine,
    clock,
    records,
    store,
    groups,
    invite(sponsor, invitees, o = {}) {
      let id = '';
      engine.invite(
        sponsor,
        { t: 'invite', rid: rid++, invitees, callType: o.callType ?? 2, timeout: o.timeout ?? 30, ...(o.groupID !== undefined && { groupID: o.groupID }) },
        (r) => (id = r.inviteID),
      );
      return id;
    },
    async record(inviteID) {
      const r = await store.get(inviteID);
      if (!r) throw new Error(`no record ${inviteID}`);
      return r;
    },
    async history(userID, q = {}) {
      return await records.history(userID, q);
    },
  };
}

const who = (r: CallRecord, userID: string) => {
  const p = r.participants.find((x) => x.userID === userID);
  if (!p) throw new Error(`${userID} not in ${r.inviteID}`);
  return p;
};

let postgres: TestPostgres | undefined;
const tempDirs: string[] = [];
const opened: CallRecordStore[] = [];

interface Backend {
  name: string;
  persistent: boolean;
  /** A fresh empty database; the function opens a store on it (as often as wanted). */
  fresh(): Promise<() => Promise<CallRecordStore>>;
}

const track = async (s: CallRecordStore | Promise<CallRecordStore>) => {
  const store = await s;
  opened.push(store);
  return store;
};

const BACKENDS: Backend[] = [
  { name: 'SQLite in memory', persistent: false, fresh: async () => async () => track(new SqliteCallRecordStore(':memory:', log)) },
  {
    name: 'SQLite file',
    persistent: true,
    fresh: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'opencall-records-'));
      tempDirs.push(dir);
      return async () => track(new SqliteCallRecordStore(join(dir, SQLITE_FILE), log));
    },
  },
  {
    name: 'PostgreSQL',
    persistent: true,
    fresh: async () => {
      postgres ??= await startPostgres();
      const url = await postgres.createDatabase();
      return () => track(PostgresCallRecordStore.open(url, log));
    },
  },
];

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => {});
});
afterAll(async () => {
  await postgres?.stop();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

describe.each(BACKENDS)('call record store: $name', (backend) => {
  let open: () => Promise<CallRecordStore>;
  beforeAll(async () => {
    // warm up (PostgreSQL: start the server once for the file)
    await backend.fresh();
  }, 60_000);
  const fresh = async () => {
    open = await backend.fresh();
    return open();
  };

  it('migrations: numbered, applied once, idempotent on reopen', async () => {
    const store = await fresh();
    expect(await store.migrations()).toEqual(MIGRATIONS.map((m) => m.version));
    if (!backend.persistent) return;
    await store.close();
    const again = await open();
    expect(await again.migrations()).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it.runIf(backend.persistent)('a database with a schema version this server does not know is refused', async () => {
    const store = await fresh();
    store.write({ kind: 'call', row: { inviteID: 'x', roomID: 1, sponsor: 'a', groupID: null, callType: 1, createdAt: T0 } });
    await store.flush();
    // pretend a newer OpenCall migrated it
    if (store instanceof SqliteCallRecordStore) {
      (store as unknown as { db: { exec(s: string): void } }).db.exec("INSERT INTO schema_migrations VALUES (999, 'future', 0)");
    } else {
      await (store as unknown as { pool: pg.Pool }).pool.query("INSERT INTO schema_migrations VALUES (999, 'future', 0)");
    }
    await expect(open()).rejects.toThrow(/schema versions this server does not know \(999\)/);
  });

  it('1:1 accepted then hung up: written through at every step, times, duration and outcomes', async () => {
    const r = rig(await fresh());
    const id = r.invite('alice', ['bob'], { callType: 1 });
    let rec = await r.record(id);
    expect(rec).toMatchObject({
      inviteID: id,
      sponsor: 'alice',
      invitees: ['bob'],
      groupID: null,
      callType: 1,
      createdAt: T0,
      answeredAt: null,
      endedAt: null,
      duration: null,
      endReason: null,
    });
    expect(rec.participants).toEqual([
      { userID: 'alice', role: 'caller', outcome: null, invitedAt: T0, joinedAt: T0, leftAt: null },
      { userID: 'bob', role: 'invitee', outcome: null, invitedAt: T0, joinedAt: null, leftAt: null },
    ]);

    r.clock.advance(2000);
    r.engine.accept('bob', { t: 'accept', rid: 9, inviteID: id });
    rec = await r.record(id);
    expect(rec.answeredAt).toBe(T0 + 2000);
    expect(who(rec, 'bob')).toMatchObject({ outcome: 'accepted', joinedAt: T0 + 2000, leftAt: null });
    expect(rec.endedAt).toBeNull();

    r.clock.advance(65_400);
    expect(r.engine.hangup('bob', id)).toEqual({ ended: true, duration: 65 });
    rec = await r.record(id);
    expect(rec).toMatchObject({ answeredAt: T0 + 2000, endedAt: T0 + 67_400, duration: 65, endReason: 'hangup' });
    expect(rec.participants).toEqual([
      { userID: 'alice', role: 'caller', outcome: 'left', invitedAt: T0, joinedAt: T0, leftAt: T0 + 67_400 },
      { userID: 'bob', role: 'invitee', outcome: 'accepted', invitedAt: T0, joinedAt: T0 + 2000, leftAt: T0 + 67_400 },
    ]);
  });

  it('a clock that moves between reads: answeredAt is the first answerer\'s joinedAt, duration is the engine\'s', async () => {
    const clock = new ManualClock(T0);
    const ticking = Object.assign(Object.create(clock) as ManualClock, { now: () => ++clock.t }); // every read is 1 ms later
    const r = rig(await fresh(), ticking);
    const id = r.invite('alice', ['bob', 'carol'], { timeout: 0 });
    clock.advance(700);
    r.engine.accept('bob', { t: 'accept', rid: 1, inviteID: id });
    let rec = await r.record(id);
    expect(rec.answeredAt).toBe(who(rec, 'bob').joinedAt); // consistent while the call goes on
    clock.advance(2498);
    r.engine.accept('carol', { t: 'accept', rid: 2, inviteID: id });
    expect(r.engine.hangup('alice', id).ended).toBe(false);
    const { duration } = r.engine.hangup('bob', id);
    rec = await r.record(id);
    expect(rec.duration).toBe(duration); // what CALL_END says
    expect(rec.endReason).toBe('hangup');
    expect(rec.answeredAt).toBe(who(rec, 'bob').joinedAt);
    expect(rec.duration).toBe(Math.round((rec.endedAt! - rec.answeredAt!) / 1000));
    expect(who(rec, 'carol').joinedAt!).toBeGreaterThan(rec.answeredAt!);
    expect(who(rec, 'alice').leftAt!).toBeLessThan(who(rec, 'bob').leftAt!);
    expect(who(rec, 'bob').leftAt!).toBeLessThan(rec.endedAt!); // he left, then (a clock read later) the call ended
    expect(who(rec, 'carol').leftAt).toBe(rec.endedAt); // put out by the end
  });

  it('rejected, busy, no answer, cancelled', async () => {
    const r = rig(await fresh());
    const rejected = r.invite('alice', ['bob']);
    r.engine.reject('bob', { t: 'reject', rid: 1, inviteID: rejected });
    // carol is in a call with dave: alice's call to carol is busy
    const cd = r.invite('carol', ['dave']);
    r.engine.accept('dave', { t: 'accept', rid: 2, inviteID: cd });
    const busy = r.invite('alice', ['carol']);
    const noAnswer = r.invite('alice', ['bob'], { timeout: 1 });
    r.clock.advance(1000);
    const cancelled = r.invite('alice', ['bob']);
    r.clock.advance(500);
    r.engine.hangup('alice', cancelled);

    const check = async (id: string, reason: string, outcome: string) => {
      const rec = await r.record(id);
      expect(rec.endReason).toBe(reason);
      expect(rec.answeredAt).toBeNull();
      expect(rec.duration).toBe(0);
      expect(rec.endedAt).not.toBeNull();
      expect(rec.participants[0]).toMatchObject({ userID: 'alice', outcome: 'left' });
      expect(rec.participants[1]!.outcome).toBe(outcome);
      expect(rec.participants[1]!.joinedAt).toBeNull();
      return rec;
    };
    await check(rejected, 'rejected', 'rejected');
    await check(busy, 'busy', 'busy');
    expect((await check(noAnswer, 'no_answer', 'no_answer')).endedAt).toBe(T0 + 1000);
    expect((await check(cancelled, 'cancelled', 'cancelled')).endedAt).toBe(T0 + 1500);
    // carol and dave's call goes on
    expect((await r.record(cd)).endedAt).toBeNull();
  });

  it('group call: mixed outcomes, a re-invite moves to the end, a group member joins uninvited', async () => {
    const r = rig(await fresh());
    r.groups.put('g1', ['alice', 'bob', 'carol', 'dave', 'erin']);
    const id = r.invite('alice', ['bob', 'carol', 'dave'], { groupID: 'g1', timeout: 10 });
    r.clock.advance(1000);
    r.engine.accept('bob', { t: 'accept', rid: 1, inviteID: id });
    r.engine.reject('carol', { t: 'reject', rid: 2, inviteID: id });
    r.clock.advance(9000); // dave times out
    r.engine.addInvitees('bob', { t: 'addInvitees', rid: 3, inviteID: id, invitees: ['carol'] });
    r.clock.advance(1000);
    r.engine.join('erin', { t: 'join', rid: 4, inviteID: id });
    r.clock.advance(1000);
    r.engine.hangup('bob', id);
    r.clock.advance(1000);
    r.engine.hangup('erin', id); // alice is alone: the call ends; carol, ringing again, is cancelled

    const rec = await r.record(id);
    expect(rec.groupID).toBe('g1');
    expect(rec.invitees).toEqual(['bob', 'dave', 'carol', 'erin']);
    expect(rec.endReason).toBe('hangup');
    expect(rec.answeredAt).toBe(T0 + 1000);
    expect(rec.endedAt).toBe(T0 + 13_000);
    expect(rec.duration).toBe(12);
    const outcomes = Object.fromEntries(rec.participants.map((p) => [p.userID, p.outcome]));
    expect(outcomes).toEqual({ alice: 'left', bob: 'accepted', dave: 'no_answer', carol: 'cancelled', erin: 'accepted' });
    expect(who(rec, 'bob')).toMatchObject({ joinedAt: T0 + 1000, leftAt: T0 + 12_000 });
    expect(who(rec, 'erin')).toMatchObject({ joinedAt: T0 + 11_000, leftAt: T0 + 13_000 });
    expect(who(rec, 'carol').invitedAt).toBe(T0 + 10_000);
    // everyone involved sees it, nobody else
    for (const u of ['alice', 'bob', 'carol', 'dave', 'erin']) expect((await r.history(u)).records.map((x) => x.inviteID)).toEqual([id]);
    expect((await r.history('mallory')).records).toEqual([]);
  });

  it('audio/video switches: who and when, and a switch nobody reported', async () => {
    const r = rig(await fresh());
    const id = r.invite('alice', ['bob'], { callType: 2 });
    r.engine.accept('bob', { t: 'accept', rid: 1, inviteID: id });
    r.clock.advance(1000);
    r.engine.switchCallType('bob', { t: 'callType', rid: 2, inviteID: id, callType: 1 });
    r.records.callTypeChanged(id, 'bob', 1);
    r.records.callTypeChanged(id, 'bob', 1); // no change: not recorded twice
    r.clock.advance(1000);
    r.engine.switchCallType('alice', { t: 'callType', rid: 3, inviteID: id, callType: 2 }); // not reported
    r.clock.advance(1000);
    r.engine.hangup('alice', id);
    const rec = await r.record(id);
    expect(rec.callType).toBe(2);
    expect(rec.typeSwitches).toEqual([
      { at: T0 + 1000, callType: 1, userID: 'bob' },
      { at: T0 + 3000, callType: 2, userID: null },
    ]);
  });

  it('history: own calls only, newest first, cursor pagination with ties, limits', async () => {
    const r = rig(await fresh());
    const made: string[] = [];
    for (let i = 0; i < 25; i++) {
      if (i % 10 === 0) r.clock.advance(1000); // many calls share a createdAt: the inviteID breaks ties
      const id = r.invite('alice', [i % 2 === 0 ? 'bob' : 'carol']);
      r.engine.reject(i % 2 === 0 ? 'bob' : 'carol', { t: 'reject', rid: 1, inviteID: id });
      made.push(id);
    }
    const all: CallRecord[] = [];
    let cursor: string | undefined;
    const sizes: number[] = [];
    for (;;) {
      const page = await r.history('alice', { limit: 10, ...(cursor && { cursor }) });
      sizes.push(page.records.length);
      all.push(...page.records);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(sizes).toEqual([10, 10, 5]);
    expect(new Set(all.map((x) => x.inviteID))).toEqual(new Set(made));
    const key = (x: CallRecord) => [x.createdAt, x.inviteID] as const;
    for (let i = 1; i < all.length; i++) {
      const [a, b] = [key(all[i - 1]!), key(all[i]!)];
      expect(a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])).toBe(true);
    }
    expect((await r.history('alice')).records).toHaveLength(20); // default limit
    expect((await r.history('alice', { limit: 500 })).records).toHaveLength(25); // clamped to 100
    expect((await r.history('bob', { limit: 100 })).records).toHaveLength(13);
    expect((await r.history('bob', { limit: 100 })).records.every((x) => x.participants.some((p) => p.userID === 'bob'))).toBe(true);
    expect((await r.history('carol', { limit: 13 })).nextCursor).toBeNull();
    expect(() => r.records.history('alice', { cursor: 'not-a-cursor' })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_MESSAGE }));
    expect(() => r.records.history('alice', { limit: 0 })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_MESSAGE }));
    expect(decodeCursor(cursor!)).toMatchObject({ createdAt: expect.any(Number), inviteID: expect.any(String) });
  });

  it.runIf(backend.persistent)('a restart closes calls left open: ringing → cancelled, in the call → left/accepted, reason server_restart', async () => {
    const r = rig(await fresh());
    const talking = r.invite('alice', ['bob', 'carol'], { timeout: 0 });
    r.clock.advance(1000);
    r.engine.accept('bob', { t: 'accept', rid: 1, inviteID: talking });
    const ringing = r.invite('dave', ['erin'], { timeout: 0 });
    const done = r.invite('frank', ['gina']);
    r.engine.reject('gina', { t: 'reject', rid: 2, inviteID: done });
    r.clock.advance(41_600);
    await r.store.flush();
    const before = await r.record(done);
    // the process dies here: nothing more is written; the next one opens the same database
    const next = await open();
    const at = T0 + 100_000;
    expect((await next.closeOrphans(at)).sort()).toEqual([talking, ringing].sort());
    const t = (await next.get(talking))!;
    expect(t).toMatchObject({ endedAt: at, endReason: 'server_restart', answeredAt: T0 + 1000, duration: 99 });
    expect(Object.fromEntries(t.participants.map((p) => [p.userID, [p.outcome, p.leftAt]]))).toEqual({
      alice: ['left', at],
      bob: ['accepted', at],
      carol: ['cancelled', null],
    });
    const g = (await next.get(ringing))!;
    expect(g).toMatchObject({ endedAt: at, endReason: 'server_restart', answeredAt: null, duration: 0 });
    expect(g.participants.map((p) => p.outcome)).toEqual(['left', 'cancelled']);
    expect(await next.get(done)).toEqual(before); // finished calls untouched
    expect(await next.closeOrphans(at + 1)).toEqual([]); // idempotent
  });

  it('write() does no I/O in the caller; writes land in order (1000 updates of one member)', async () => {
    const store = await fresh();
    const r = rig(store);
    const id = r.invite('alice', ['bob'], { timeout: 0 });
    const row = { inviteID: id, userID: 'bob', seq: 1, role: 'invitee' as const, invitedAt: T0, joinedAt: null, leftAt: null, callCreatedAt: T0 };
    for (let i = 0; i < 1000; i++) {
      store.write({ kind: 'member', row: { ...row, state: i % 2 ? 'ringing' : 'joined', outcome: null, invitedAt: T0 + i } });
    }
    store.write({ kind: 'member', row: { ...row, state: 'rejected', outcome: 'rejected', invitedAt: T0 + 5000 } });
    const cost = (store as unknown as { cost: { writes: number } }).cost;
    expect(cost.writes).toBe(0); // nothing committed synchronously
    await store.flush();
    expect(who((await store.get(id))!, 'bob')).toMatchObject({ outcome: 'rejected', invitedAt: T0 + 5000 });
    // SQLite combines writes of one member row queued in the same batch: the call, alice, bob.
    if (store instanceof SqliteCallRecordStore) expect(cost.writes).toBe(3);
  });

  it.runIf(backend.name === 'PostgreSQL')('PostgreSQL: a lost connection is retried; nothing lost or reordered', async () => {
    const store = await fresh();
    const r = rig(store);
    const first = r.invite('alice', ['bob']);
    await store.flush();
    // Kill every server connection of the store (the writer's included).
    const admin = new pg.Client({ connectionString: postgres!.url });
    await admin.connect();
    const db = (await admin.query('SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY oid DESC LIMIT 1', ['opencall_test_%'])).rows[0].datname;
    const killed = await admin.query('SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1', [db]);
    await admin.end();
    expect(Number(killed.rows[0].n)).toBeGreaterThan(0);
    r.engine.reject('bob', { t: 'reject', rid: 1, inviteID: first });
    const second = r.invite('alice', ['carol']);
    r.engine.hangup('alice', second);
    await store.flush();
    expect(await r.record(first)).toMatchObject({ endReason: 'rejected' });
    expect(await r.record(second)).toMatchObject({ endReason: 'cancelled' });
  });
});

describe('SQLite file: reads never wait on the signaling thread for the writer thread', () => {
  /** Calls `from`..`to`-1 of alice (created T0 + i) written raw, so the writer thread has a big batch to commit. */
  const writeCalls = (store: CallRecordStore, from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const inviteID = `call-${String(i).padStart(5, '0')}`;
      store.write({ kind: 'call', row: { inviteID, roomID: i + 1, sponsor: 'alice', groupID: null, callType: 1, createdAt: T0 + i } });
      store.write({ kind: 'member', row: { inviteID, userID: 'alice', seq: 0, role: 'caller', state: 'joined', outcome: null, invitedAt: T0 + i, joinedAt: T0 + i, leftAt: null, callCreatedAt: T0 + i } });
    }
  };
  const fileStore = () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencall-records-'));
    tempDirs.push(dir);
    return track(new SqliteCallRecordStore(join(dir, SQLITE_FILE), log));
  };

  it('history, get and closeOrphans are answered later, behind every earlier write; the event loop runs meanwhile', async () => {
    const store = await fileStore();
    await store.flush();
    writeCalls(store, 0, 3000);
    let turned = false;
    setImmediate(() => (turned = true));
    const page = store.history('alice', 5);
    const one = store.get('call-02999');
    // A Promise: the read waits behind the writer's batch on the writer thread, not here.
    expect(page).toBeInstanceOf(Promise);
    expect(one).toBeInstanceOf(Promise);
    const [p, g] = await Promise.all([page, one]);
    expect(turned).toBe(true);
    expect(p.records.map((r) => r.inviteID)).toEqual(['call-02999', 'call-02998', 'call-02997', 'call-02996', 'call-02995']);
    expect(p.more).toBe(true);
    expect(g).toMatchObject({ inviteID: 'call-02999', sponsor: 'alice' });
    writeCalls(store, 3000, 3001); // one more open call
    expect((await store.closeOrphans(T0 + 10_000, new Set(['call-00000']))).length).toBe(3000); // all open but the kept one
    expect((await store.get('call-00000'))!.endedAt).toBeNull();
    expect((await store.get('call-03000'))!.endReason).toBe('server_restart');
  });

  it('the writer thread dies with a read in flight: the read is done on the signaling thread and still sees every write', async () => {
    const store = await fileStore();
    await store.flush();
    writeCalls(store, 0, 2000);
    const page = store.history('alice', 3);
    const writer = (store as unknown as { writer: { worker: { terminate(): Promise<number> } } }).writer;
    void writer.worker.terminate();
    expect((await page).records.map((r) => r.inviteID)).toEqual(['call-01999', 'call-01998', 'call-01997']);
    // Later reads and writes go on, on the signaling thread.
    writeCalls(store, 2000, 2001);
    expect((await store.get('call-02000'))!.inviteID).toBe('call-02000');
  });
});

it('PostgreSQL unreachable at start: opening fails, so the server refuses to start', async () => {
  const { freePort } = await import('./support/postgres.js');
  const port = await freePort();
  await expect(PostgresCallRecordStore.open(`postgres://postgres@127.0.0.1:${port}/none`, log)).rejects.toThrow(/ECONNREFUSED|connect/);
});

describe('per-call write cost', () => {
  /** Runs `calls` 1:1 calls (invite, accept, hang up) through an engine; returns ms of synchronous engine time. */
  async function drive(calls: number, attach: CallRecordStore | null): Promise<{ syncMs: number; totalMs: number }> {
    const clock = new ManualClock(T0);
    const engine = new CallEngine({
      delivery: { send: () => true, isOnline: () => true },
      clock,
      log,
      maxInvitees: 16,
      groups: new MemoryGroupStore(),
      maxParticipants: 8,
      participantsLimitHint: 'test',
      limits: { inviteRatePerMinute: 0, ringRatePerMinute: 0 },
    });
    if (attach) createRecords(attach, clock, log).attach(engine);
    let syncMs = 0;
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) {
      // One engine step per message, each followed by a turn of the event loop (as in the server).
      const steps: (() => void)[] = [];
      let id = '';
      steps.push(() => engine.invite(`a${i}`, { t: 'invite', rid: 1, invitees: [`b${i}`], callType: 2, timeout: 30 }, (r) => (id = r.inviteID)));
      steps.push(() => engine.accept(`b${i}`, { t: 'accept', rid: 2, inviteID: id }));
      steps.push(() => engine.hangup(`a${i}`, id));
      for (const step of steps) {
        const s = performance.now();
        step();
        await Promise.resolve(); // the SQLite commit runs on this microtask: count it
        syncMs += performance.now() - s;
        clock.advance(10);
      }
    }
    await attach?.flush();
    return { syncMs, totalMs: performance.now() - t0 };
  }

  it('measures the engine time per call with and without records (printed)', async () => {
    const N = 1000;
    await drive(500, null); // warm up
    const runs = [await drive(N, null), await drive(N, null)];
    /** The engine alone: the fastest of several runs (JIT and GC make single runs noisy). */
    let base = runs[0]!.syncMs < runs[1]!.syncMs ? runs[0]! : runs[1]!;
    const results: Record<string, string> = {};
    const perCall = (ms: number) => (ms / N) * 1000; // µs
    const dir = mkdtempSync(join(tmpdir(), 'opencall-cost-'));
    tempDirs.push(dir);
    const backends: [string, () => Promise<CallRecordStore>][] = [
      ['sqlite-memory', async () => track(new SqliteCallRecordStore(':memory:', log))],
      ['sqlite-file-wal-normal', async () => track(new SqliteCallRecordStore(join(dir, 'n', SQLITE_FILE), log))],
      [
        'postgres',
        async () => {
          postgres ??= await startPostgres();
          return track(PostgresCallRecordStore.open(await postgres.createDatabase(), log));
        },
      ],
    ];
    const measured: [string, { syncMs: number; totalMs: number }][] = [];
    for (const [name, make] of backends) {
      const store = await make();
      await drive(100, store);
      measured.push([name, await drive(N, store)]);
    }
    const again = await drive(N, null);
    if (again.syncMs < base.syncMs) base = again;
    const overhead: Record<string, number> = {};
    for (const [name, m] of measured) {
      overhead[name] = perCall(m.syncMs - base.syncMs);
      results[name] = `engine+records ${perCall(m.syncMs).toFixed(1)} µs/call (records ${overhead[name]!.toFixed(1)} µs), until committed ${perCall(m.totalMs).toFixed(1)} µs/call`;
    }
    // FULL for comparison (fsync per commit), on the same disk
    const full = await track(new SqliteCallRecordStore(join(dir, 'f', SQLITE_FILE), log));
    (full as unknown as { db: { pragma(s: string): unknown } }).db.pragma('synchronous = FULL');
    const mFull = await drive(N, full);
    results['sqlite-file-wal-full'] = `engine+records ${perCall(mFull.syncMs).toFixed(1)} µs/call (records ${perCall(mFull.syncMs - base.syncMs).toFixed(1)} µs)`;
    results['no records'] = `engine ${perCall(base.syncMs).toFixed(1)} µs/call`;
    console.log(`per-call write cost over ${N} 1:1 calls (invite, accept, hang up: 3 steps, ~7 writes):\n${Object.entries(results).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`);
    // Loose bounds, generous for slow CI disks: the point is the order of magnitude.
    expect(overhead['sqlite-memory']).toBeLessThan(2000);
    expect(overhead['sqlite-file-wal-normal']).toBeLessThan(5000);
    expect(overhead['postgres']).toBeLessThan(500); // only queued in the engine's step
  }, 120_000);
});
