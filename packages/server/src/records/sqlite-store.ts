import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
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
  type CallDbRow,
  type MemberDbRow,
  type SwitchDbRow,
} from './sql.js';
import type { CallRecordStore, HistoryPosition, RecordWrite } from './types.js';

/** The file name inside the data directory. */
export const SQLITE_FILE = 'opencall.sqlite';

/**
 * Call records in SQLite (better-sqlite3, synchronous). Writes queue up during an engine step
 * and are committed together in one transaction right after the current pass of the event loop
 * (setImmediate), so a burst of steps costs one commit; reads commit what is queued first.
 *
 * Durability: WAL journal with synchronous=NORMAL. A commit is in the WAL file (the OS page
 * cache) before the transaction returns, so a killed or crashed *process* loses nothing
 * committed; only an OS crash or power cut can lose the last commits (FULL would fsync every
 * commit, on the event loop, since better-sqlite3 is synchronous). See docs/records.md.
 */
export class SqliteCallRecordStore implements CallRecordStore {
  readonly backend = 'sqlite' as const;
  private readonly db: Database.Database;
  private queue: RecordWrite[] = [];
  private scheduled = false;
  private closed = false;
  private readonly stmts = new Map<string, Database.Statement>();
  /** Time spent committing, for measurements (ms, and number of commits). */
  readonly cost = { commits: 0, writes: 0, ms: 0 };

  /** `file` ':memory:' keeps the records in memory (gone when the process ends). */
  constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {
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
    this.queue.push(w);
    if (!this.scheduled) {
      this.scheduled = true;
      // setImmediate, not a microtask: every frame read in one pass of the event loop lands in
      // one commit (under load that is many calls' steps), still well under a millisecond later.
      setImmediate(() => this.commitQueued());
    }
  }

  /** Commits every queued write in one transaction (one by one if the batch fails). */
  private commitQueued(): void {
    this.scheduled = false;
    if (this.queue.length === 0 || !this.db.open) return;
    const batch = this.queue;
    this.queue = [];
    const t0 = performance.now();
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
    this.cost.ms += performance.now() - t0;
    this.cost.commits++;
    this.cost.writes += batch.length;
  }

  private run(w: RecordWrite): void {
    const { sql, params } = writeStatement(w);
    this.stmt(sql).run(...params);
  }

  async flush(): Promise<void> {
    this.commitQueued();
  }

  async closeOrphans(at: number, keep?: ReadonlySet<string>): Promise<string[]> {
    this.commitQueued();
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

  history(userID: string, limit: number, before?: HistoryPosition): { records: CallRecord[]; more: boolean } {
    this.commitQueued();
    const rows = (
      before
        ? this.stmt(HISTORY_SQL.after).all(userID, before.createdAt, before.createdAt, before.inviteID, limit + 1)
        : this.stmt(HISTORY_SQL.first).all(userID, limit + 1)
    ) as CallDbRow[];
    const more = rows.length > limit;
    return { records: this.complete(rows.slice(0, limit)), more };
  }

  get(inviteID: string): CallRecord | null {
    this.commitQueued();
    const rows = this.stmt(HISTORY_SQL.one).all(inviteID) as CallDbRow[];
    return this.complete(rows)[0] ?? null;
  }

  migrations(): number[] {
    return (this.db.prepare(SELECT_MIGRATIONS).all() as { version: number }[]).map((r) => r.version);
  }

  private complete(calls: CallDbRow[]): CallRecord[] {
    if (calls.length === 0) return [];
    const ids = calls.map((c) => c.invite_id);
    const members = this.stmt(membersOf(ids.length)).all(...ids) as MemberDbRow[];
    const switches = this.stmt(switchesOf(ids.length)).all(...ids) as SwitchDbRow[];
    return toRecords(calls, members, switches);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.commitQueued();
    this.closed = true;
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
