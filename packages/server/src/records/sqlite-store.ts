import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { requireOptional, type NeededFor } from '../optional-packages.js';
import type { CallRecord } from '@opencall/protocol';
import {
  checkKnown,
  CREATE_MIGRATIONS_TABLE,
  durationSeconds,
  HISTORY_SQL,
  INSERT_MIGRATION,
  membersOf,
  MIGRATIONS,
  migrationSql,
  ORPHAN_SQL,
  SELECT_MIGRATIONS,
  switchesOf,
  toRecords,
  writeStatement,
  WRITE_SQL,
  type CallDbRow,
  type MemberDbRow,
  type SwitchDbRow,
} from './sql.js';
import type { CallRecordStore, HistoryPosition, MaybePromise, RecordWrite } from './types.js';

/** Rows of calls, and of the members and switches of those a read returns. */
interface CallRows {
  calls: CallDbRow[];
  members: MemberDbRow[];
  switches: SwitchDbRow[];
}

/** Work done on the writer thread in order with the write batches. */
type WriterJob =
  | { kind: 'flush' }
  | { kind: 'rows'; sql: string; params: unknown[]; take: number }
  | { kind: 'orphans'; at: number; keep: string[] };

/** The writer thread is gone: do the job on the signaling thread. */
class WriterGone extends Error {}

/** The file name inside the data directory. */
export const SQLITE_FILE = 'opencall.sqlite';

/** Why the embedded records need better-sqlite3, for the error when it is not installed. */
const RECORDS_NEED_SQLITE: NeededFor = {
  why: 'call records are kept in SQLite (the default when OPENCALL_DATABASE_URL is not set)',
  otherwise: 'or set OPENCALL_DATABASE_URL to keep them in PostgreSQL',
};

/** better-sqlite3, loaded on first use: it is an optional peer dependency (a native build). */
export function loadSqlite(neededFor: NeededFor = RECORDS_NEED_SQLITE): typeof Database {
  return requireOptional<typeof Database>('better-sqlite3', neededFor);
}

/**
 * Call records in SQLite (better-sqlite3, synchronous). Writes queue up during an engine step
 * and are committed together in one transaction right after the current pass of the event loop
 * (setImmediate), so a burst of steps costs one commit.
 *
 * With a database file, the commits run on a writer thread (worker_threads) that owns its own
 * connection: the signaling thread only posts each pass's writes to it, in order, as flat
 * arrays (statement number, parameters). Reads (history, get) and closeOrphans run on the writer
 * thread too, as jobs posted behind the batches: the thread takes messages in order, so a read
 * sees every write made before it, and the signaling thread never waits for the writer (the
 * answer comes back as a message; history over the socket is answered then). If the writer
 * thread cannot start or dies, the batches it had not confirmed are committed on the signaling
 * thread, which then goes on writing and reading itself (jobs still open are done there).
 * `:memory:` (one connection only) commits and reads on the signaling thread.
 *
 * Durability: WAL journal with synchronous=NORMAL. A commit is in the WAL file (the OS page
 * cache) before the transaction returns, so a killed or crashed *process* loses nothing
 * committed (only the writes of the last moments, not yet committed, as before); only an OS
 * crash or power cut can lose the last commits (FULL would fsync every commit). See docs/records.md.
 */
export class SqliteCallRecordStore implements CallRecordStore {
  readonly backend = 'sqlite' as const;
  private readonly db: Database.Database;
  private queue: RecordWrite[] = [];
  /**
   * Where in `queue` the member row of `inviteID \0 userID` is. A member write is the whole row,
   * so a later one for the same member replaces the queued one (ringing → joined → left within
   * one batch is one upsert): less to post, less for SQLite to do.
   */
  private queuedMembers = new Map<string, number>();
  private scheduled = false;
  private closed = false;
  private readonly stmts = new Map<string, Database.Statement>();
  /** Time the signaling thread spent committing (or posting to the writer): ms, batches, writes. */
  readonly cost = { commits: 0, writes: 0, ms: 0 };
  private writer: SqliteWriter | undefined;

  /**
   * `file` ':memory:' keeps the records in memory (gone when the process ends). `writerThread`
   * (default: true for a file) commits on a writer thread instead of the signaling thread.
   */
  constructor(
    readonly file: string,
    private readonly log: Logger,
    { writerThread = file !== ':memory:' }: { writerThread?: boolean } = {},
  ) {
    const Database = loadSqlite();
    if (file !== ':memory:') {
      mkdirSync(dirname(file), { recursive: true });
      claimDataFile(file);
    }
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    try {
      this.migrate();
    } catch (err) {
      this.db.close();
      if (file !== ':memory:') rmSync(`${file}.pid`, { force: true });
      throw err;
    }
    if (writerThread && file !== ':memory:') this.writer = new SqliteWriter(file, log, (batches) => this.writerGone(batches));
  }

  /** The writer thread failed: commit what it had not confirmed here, and go on writing here. */
  private writerGone(unconfirmed: RecordWrite[][]): void {
    this.writer = undefined;
    if (!this.db.open) return;
    for (const batch of unconfirmed) this.commitBatch(batch);
  }

  private migrate(): void {
    this.db.exec(CREATE_MIGRATIONS_TABLE);
    const applied = (this.db.prepare(SELECT_MIGRATIONS).all() as { version: number }[]).map((r) => r.version);
    checkKnown(applied);
    for (const m of MIGRATIONS) {
      if (applied.includes(m.version)) continue;
      this.db.transaction(() => {
        this.db.exec(migrationSql(m, 'sqlite'));
        this.db.prepare(INSERT_MIGRATION).run(m.version, m.name, Date.now());
      })();
      this.log.info({ event: 'records.migrated', backend: 'sqlite', version: m.version, name: m.name }, `call records schema v${m.version} applied`);
    }
  }

  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  write(w: RecordWrite): void {
    if (this.closed) return;
    if (w.kind === 'member') {
      const key = `${w.row.inviteID}\0${w.row.userID}`;
      const at = this.queuedMembers.get(key);
      if (at !== undefined) {
        this.queue[at] = w;
        return;
      }
      this.queuedMembers.set(key, this.queue.length);
    }
    this.queue.push(w);
    if (!this.scheduled) {
      this.scheduled = true;
      // setImmediate, not a microtask: every frame read in one pass of the event loop lands in
      // one commit (under load that is many calls' steps), still well under a millisecond later.
      // To the writer thread, every WRITER_POST_MS: each post costs the signaling thread a
      // message and a wake-up of the writer, and under load a pass holds only a few steps.
      if (this.writer) setTimeout(this.commitQueuedLater, WRITER_POST_MS);
      else setImmediate(this.commitQueuedLater);
    }
  }

  private readonly commitQueuedLater = (): void => this.commitQueued();

  /** Commits every queued write in one transaction (one by one if the batch fails), or posts them to the writer thread. */
  private commitQueued(): void {
    this.scheduled = false;
    if (this.queue.length === 0 || !this.db.open) return;
    const batch = this.queue;
    this.queue = [];
    this.queuedMembers = new Map();
    const t0 = performance.now();
    if (this.writer?.post(batch)) {
      this.cost.ms += performance.now() - t0;
      this.cost.commits++;
      this.cost.writes += batch.length;
      return;
    }
    this.commitBatch(batch);
    this.cost.ms += performance.now() - t0;
    this.cost.commits++;
    this.cost.writes += batch.length;
  }

  /**
   * Runs `job` on the writer thread behind every write made so far, or `here` on this thread
   * when there is no writer (or it failed: then what it had not committed has been committed here).
   */
  private behindWrites<T>(job: WriterJob, here: () => T): Promise<T> | T {
    this.commitQueued();
    const writer = this.writer;
    if (!writer) return here();
    return writer.run<T>(job).catch((err: unknown) => {
      if (err instanceof WriterGone) return here();
      throw err;
    });
  }

  private commitBatch(batch: RecordWrite[]): void {
    try {
      this.db.transaction(() => {
        for (const w of batch) this.run(w);
      })();
    } catch (err) {
      this.log.error({ err, event: 'records.write_failed', writes: batch.length }, 'call records: batch failed; writing one by one');
      for (const w of batch) {
        try {
          this.run(w);
        } catch (e) {
          this.log.error({ err: e, event: 'records.write_dropped', write: w }, 'call records: write dropped');
        }
      }
    }
  }

  private run(w: RecordWrite): void {
    const { sql, params } = writeStatement(w);
    this.stmt(sql).run(...params);
  }

  async flush(): Promise<void> {
    await this.behindWrites({ kind: 'flush' }, () => null);
  }

  async closeOrphans(at: number, keep?: ReadonlySet<string>): Promise<string[]> {
    return this.behindWrites({ kind: 'orphans', at, keep: keep ? [...keep] : [] }, () => this.closeOrphansHere(at, keep));
  }

  private closeOrphansHere(at: number, keep?: ReadonlySet<string>): string[] {
    const open = (this.db.prepare(ORPHAN_SQL.open).all() as { invite_id: string; answered_at: number | null }[]).filter((c) => !keep?.has(c.invite_id));
    this.db.transaction(() => {
      for (const c of open) {
        this.stmt(ORPHAN_SQL.ringing).run(c.invite_id);
        this.stmt(ORPHAN_SQL.joined).run(at, c.invite_id);
        this.stmt(ORPHAN_SQL.end).run(at, durationSeconds(c.answered_at, at), c.invite_id);
      }
    })();
    return open.map((c) => c.invite_id);
  }

  /** On the writer thread when there is one (a Promise), else here. */
  history(userID: string, limit: number, before?: HistoryPosition): MaybePromise<{ records: CallRecord[]; more: boolean }> {
    const sql = before ? HISTORY_SQL.after : HISTORY_SQL.first;
    const params = before ? [userID, before.createdAt, before.createdAt, before.inviteID, limit + 1] : [userID, limit + 1];
    const page = (r: CallRows) => ({ records: toRecords(r.calls.slice(0, limit), r.members, r.switches), more: r.calls.length > limit });
    const r = this.behindWrites<CallRows>({ kind: 'rows', sql, params, take: limit }, () => this.rowsHere(sql, params, limit));
    return r instanceof Promise ? r.then(page) : page(r);
  }

  get(inviteID: string): MaybePromise<CallRecord | null> {
    const one = (r: CallRows) => toRecords(r.calls, r.members, r.switches)[0] ?? null;
    const r = this.behindWrites<CallRows>({ kind: 'rows', sql: HISTORY_SQL.one, params: [inviteID], take: 1 }, () => this.rowsHere(HISTORY_SQL.one, [inviteID], 1));
    return r instanceof Promise ? r.then(one) : one(r);
  }

  /** Calls by `sql`, with the members and switches of the first `take` of them (what the writer thread's 'rows' job does). */
  private rowsHere(sql: string, params: unknown[], take: number): CallRows {
    const calls = this.stmt(sql).all(...params) as CallDbRow[];
    const ids = calls.slice(0, take).map((c) => c.invite_id);
    if (ids.length === 0) return { calls, members: [], switches: [] };
    return { calls, members: this.stmt(membersOf(ids.length)).all(...ids) as MemberDbRow[], switches: this.stmt(switchesOf(ids.length)).all(...ids) as SwitchDbRow[] };
  }

  /** The writer thread answers (behind the writes queued so far); without one, the database is this thread's. */
  async ping(): Promise<void> {
    if (this.closed) throw new Error('call records are closed');
    await this.flush();
  }

  migrations(): number[] {
    return (this.db.prepare(SELECT_MIGRATIONS).all() as { version: number }[]).map((r) => r.version);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.commitQueued();
    this.closed = true;
    // The writer commits what it was sent, then closes its connection.
    const left = (await this.writer?.close()) ?? [];
    this.writer = undefined;
    for (const batch of left) this.commitBatch(batch);
    if (this.file !== ':memory:') {
      // Fold the WAL back into the database file, so a copy of opencall.sqlite alone is complete.
      try {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch (err) {
        this.log.warn({ err }, 'call records: checkpoint at close failed');
      }
    }
    this.db.close();
    if (this.file !== ':memory:') rmSync(`${this.file}.pid`, { force: true });
  }
}

/**
 * One server per data file: a second one would take the first one's live calls for calls a
 * killed server left open. `<file>.pid` names the owner; a dead owner's claim is taken over.
 */
function claimDataFile(file: string): void {
  const pidFile = `${file}.pid`;
  let owner = NaN;
  try {
    owner = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    /* no owner */
  }
  if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
    throw new Error(`${file} is in use by another OpenCall server (pid ${owner}); give each server its own OPENCALL_DATA_DIR`);
  }
  writeFileSync(pidFile, `${process.pid}\n`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The write statements, numbered for the writer thread (a write travels as its number and parameters). */
const WRITE_STATEMENTS: string[] = Object.values(WRITE_SQL);
const WRITE_INDEX = new Map(WRITE_STATEMENTS.map((sql, i) => [sql, i]));
const WRITE_PARAMS = WRITE_STATEMENTS.map((sql) => sql.split('?').length - 1);
/** Writes for the writer thread are posted this often (ms): a process killed loses at most about this much. */
const WRITER_POST_MS = 10;
/** SQL of the writer thread's jobs: 'rows' takes the members and switches of a list of calls, 'orphans' closes calls. */
const IN_LIST = 'IN (?)';
const JOB_SQL = {
  members: membersOf(1).split(IN_LIST),
  switches: switchesOf(1).split(IN_LIST),
  orphans: ORPHAN_SQL,
};
if (JOB_SQL.members.length !== 2 || JOB_SQL.switches.length !== 2) throw new Error(`sqlite-store: membersOf/switchesOf must have one "${IN_LIST}"`);

/**
 * The writer thread's code (plain CommonJS, evaluated: it runs the same from the TypeScript
 * sources and from dist). state[0]: number of the last batch committed; state[1]: 0 starting,
 * 1 ready, 2 failed to open. Jobs ('job' messages) run in order with the batches and are
 * answered with 'done' or 'jobFailed'.
 */
const WRITER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const state = new Int32Array(workerData.shared);
const log = (level, fields, msg) => parentPort.postMessage({ t: 'log', level, fields, msg });
let db;
let stmts;
try {
  const Database = require(workerData.driver);
  db = new Database(workerData.file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  stmts = workerData.sql.map((sql) => db.prepare(sql));
  Atomics.store(state, 1, 1);
} catch (err) {
  Atomics.store(state, 1, 2);
  Atomics.notify(state, 0);
  parentPort.postMessage({ t: 'failed', message: String((err && err.stack) || err) });
}
const counts = workerData.counts;
const args = counts.map((n) => new Array(n));
function runAll(flat, each) {
  for (let i = 0; i < flat.length; ) {
    const k = flat[i++];
    const a = args[k];
    for (let j = 0; j < a.length; j++) a[j] = flat[i++];
    each(k, a);
  }
}
const run = (k, a) => stmts[k].run(a);
const commit = db && db.transaction((flat) => runAll(flat, run));
const J = workerData.jobSql;
const prepared = new Map();
const prep = (sql) => {
  let s = prepared.get(sql);
  if (!s) prepared.set(sql, (s = db.prepare(sql)));
  return s;
};
const inList = (parts, n) => prep(parts[0] + 'IN (' + new Array(n).fill('?').join(', ') + ')' + parts[1]);
// durationSeconds() of sql.ts, for calls closed as server_restart.
const duration = (answeredAt, endedAt) => (answeredAt === null ? 0 : Math.max(0, Math.round((endedAt - answeredAt) / 1000)));
const closeOrphans = db && db.transaction((at, keep) => {
  const skip = new Set(keep);
  const open = prep(J.orphans.open).all().filter((c) => !skip.has(c.invite_id));
  for (const c of open) {
    prep(J.orphans.ringing).run(c.invite_id);
    prep(J.orphans.joined).run(at, c.invite_id);
    prep(J.orphans.end).run(at, duration(c.answered_at, at), c.invite_id);
  }
  return open.map((c) => c.invite_id);
});
function job(j) {
  if (j.kind === 'flush') return null;
  if (j.kind === 'orphans') return closeOrphans(j.at, j.keep);
  const calls = prep(j.sql).all(j.params);
  const ids = calls.slice(0, j.take).map((c) => c.invite_id);
  if (ids.length === 0) return { calls, members: [], switches: [] };
  return { calls, members: inList(J.members, ids.length).all(ids), switches: inList(J.switches, ids.length).all(ids) };
}
if (db) {
  parentPort.on('message', (m) => {
    if (m.t === 'batch') {
      try {
        commit(m.flat);
      } catch (err) {
        log('error', { err: { message: String(err && err.message), code: err && err.code }, event: 'records.write_failed', writes: m.writes }, 'call records: batch failed; writing one by one');
        runAll(m.flat, (k, a) => {
          try {
            run(k, a);
          } catch (e) {
            log('error', { err: { message: String(e && e.message), code: e && e.code }, event: 'records.write_dropped', write: a.slice() }, 'call records: write dropped');
          }
        });
      }
      Atomics.store(state, 0, m.seq);
      Atomics.notify(state, 0);
    } else if (m.t === 'job') {
      let result;
      try {
        result = job(m.job);
      } catch (err) {
        parentPort.postMessage({ t: 'jobFailed', id: m.id, message: String(err && err.message) });
        return;
      }
      parentPort.postMessage({ t: 'done', id: m.id, result });
    } else if (m.t === 'close') {
      try {
        db.close();
      } catch (err) {
        log('warn', { err: { message: String(err && err.message) } }, 'call records: closing the writer connection failed');
      }
      parentPort.close();
    }
  });
}
`;

const [CALL, MEMBER, ANSWERED, SWITCH, ENDED] = (['call', 'member', 'answered', 'switch', 'ended'] as const).map((k) => WRITE_INDEX.get(WRITE_SQL[k])!);

/** Appends a write as its statement number and parameters (those of writeStatement, without allocating). */
function flatten(w: RecordWrite, out: unknown[]): void {
  switch (w.kind) {
    case 'call': {
      const r = w.row;
      out.push(CALL, r.inviteID, r.roomID, r.sponsor, r.groupID, r.callType, r.createdAt);
      return;
    }
    case 'member': {
      const m = w.row;
      out.push(MEMBER, m.inviteID, m.userID, m.seq, m.role, m.state, m.outcome, m.invitedAt, m.joinedAt, m.leftAt, m.callCreatedAt);
      return;
    }
    case 'answered':
      out.push(ANSWERED, w.at, w.inviteID);
      return;
    case 'switch':
      out.push(SWITCH, w.inviteID, w.seq, w.at, w.userID, w.callType);
      return;
    case 'ended':
      out.push(ENDED, w.endedAt, w.answeredAt, w.duration, w.reason, w.inviteID);
      return;
  }
}

// flatten() must say what writeStatement() says: checked once, at load, on one write of each kind.
for (const w of [
  { kind: 'call', row: { inviteID: 'i', roomID: 1, sponsor: 's', groupID: 'g', callType: 2, createdAt: 3 } },
  { kind: 'member', row: { inviteID: 'i', userID: 'u', seq: 1, role: 'invitee', state: 'joined', outcome: 'accepted', invitedAt: 2, joinedAt: 3, leftAt: 4, callCreatedAt: 5 } },
  { kind: 'answered', inviteID: 'i', at: 1 },
  { kind: 'switch', inviteID: 'i', seq: 1, at: 2, userID: 'u', callType: 1 },
  { kind: 'ended', inviteID: 'i', endedAt: 1, answeredAt: 2, duration: 3, reason: 'r' },
] satisfies RecordWrite[]) {
  const { sql, params } = writeStatement(w);
  const flat: unknown[] = [];
  flatten(w, flat);
  if (JSON.stringify(flat) !== JSON.stringify([WRITE_INDEX.get(sql), ...params])) throw new Error(`sqlite-store: flatten() disagrees with writeStatement() for '${w.kind}'`);
}

/**
 * The writer thread of a {@link SqliteCallRecordStore}: takes batches of writes in order and
 * commits each in one transaction on its own connection to the same file.
 */
class SqliteWriter {
  private readonly state = new Int32Array(new SharedArrayBuffer(8));
  private readonly worker: Worker;
  /** Number of the last batch posted. */
  private seq = 0;
  /** Batches posted and not yet confirmed committed (to commit here if the writer dies). */
  private unconfirmed: { seq: number; batch: RecordWrite[] }[] = [];
  private failed = false;
  private closing = false;
  /** Jobs posted and not yet answered. */
  private readonly jobs = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private jobSeq = 0;

  constructor(
    file: string,
    private readonly log: Logger,
    private readonly onGone: (unconfirmed: RecordWrite[][]) => void,
  ) {
    this.worker = new Worker(WRITER_SOURCE, {
      eval: true,
      workerData: { shared: this.state.buffer, file, driver: createRequire(import.meta.url).resolve('better-sqlite3'), sql: WRITE_STATEMENTS, counts: WRITE_PARAMS, jobSql: JOB_SQL },
    });
    this.worker.unref();
    this.worker.on('message', (m: { t: string; level?: 'error' | 'warn'; fields?: object; msg?: string; message?: string; id?: number; result?: unknown }) => {
      if (m.t === 'done' || m.t === 'jobFailed') {
        const j = this.jobs.get(m.id!);
        this.jobs.delete(m.id!);
        if (m.t === 'done') j?.resolve(m.result);
        else j?.reject(new Error(`call records: ${m.message}`));
      } else if (m.t === 'log') this.log[m.level ?? 'error'](m.fields ?? {}, m.msg ?? '');
      else if (m.t === 'failed') this.gone(new Error(m.message));
    });
    this.worker.on('error', (err) => this.gone(err));
    this.worker.on('exit', (code) => {
      if (!this.closing) this.gone(new Error(`the writer thread exited (${code})`));
      this.dropJobs();
    });
  }

  /** Runs a job behind every batch posted so far; rejects with WriterGone if the writer is (or goes) away before answering. */
  run<T>(job: WriterJob): Promise<T> {
    if (this.failed || this.closing) return Promise.reject(new WriterGone());
    const id = ++this.jobSeq;
    return new Promise<T>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      this.worker.postMessage({ t: 'job', id, job });
    });
  }

  /** Jobs the writer will not answer: the store does them on the signaling thread. */
  private dropJobs(): void {
    const open = [...this.jobs.values()];
    this.jobs.clear();
    for (const j of open) j.reject(new WriterGone());
  }

  /** Sends a batch to commit; false if the writer is gone (commit it yourself). */
  post(batch: RecordWrite[]): boolean {
    if (this.failed) return false;
    this.prune();
    const flat: unknown[] = [];
    for (const w of batch) flatten(w, flat);
    const seq = ++this.seq;
    this.unconfirmed.push({ seq, batch });
    this.worker.postMessage({ t: 'batch', seq, flat, writes: batch.length });
    return true;
  }

  private prune(): void {
    const done = Atomics.load(this.state, 0);
    let n = 0;
    while (n < this.unconfirmed.length && this.unconfirmed[n]!.seq <= done) n++;
    if (n > 0) this.unconfirmed.splice(0, n);
  }

  private gone(err: Error): void {
    if (this.failed || this.closing) return;
    this.failed = true;
    this.prune();
    const left = this.unconfirmed.map((u) => u.batch);
    this.unconfirmed = [];
    this.log.error({ err, event: 'records.writer_failed', batches: left.length }, 'call records: the writer thread failed; writing on the main thread');
    void this.worker.terminate();
    // First commit here what the writer had not, then do its open jobs here (they see those commits).
    this.onGone(left);
    this.dropJobs();
  }

  /** Lets the writer commit what it was sent and close its connection; returns batches it did not confirm (commit them yourself). */
  async close(): Promise<RecordWrite[][]> {
    if (this.failed) return [];
    this.closing = true;
    this.worker.ref(); // the process waits for the last commits
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ t: 'close' });
    const timer = setTimeout(() => void this.worker.terminate(), 10_000);
    await exited;
    clearTimeout(timer);
    this.prune();
    return this.unconfirmed.map((u) => u.batch);
  }
}
