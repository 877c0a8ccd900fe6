import type { Logger } from 'pino';
import type pgTypes from 'pg';
import { importOptional } from '../optional-packages.js';
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

/** `?` → `$1, $2, ...` (the shared SQL has no `?` inside string literals). */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Any constant: two servers starting at once apply migrations one after the other. */
const MIGRATION_LOCK = 0x0c411_5ec;
/** Most writes committed in one transaction. */
const BATCH = 500;
/** How long a read waits for earlier writes before reading anyway. */
const READ_WAIT_MS = 3000;
/** How long close() waits for queued writes to commit. */
const CLOSE_WAIT_MS = 5000;

export interface PostgresStoreOptions {
  /** Connections for reads (one more is used for writes). Default 4. */
  poolSize?: number;
}

/**
 * Call records in PostgreSQL. write() only queues (no I/O in the engine's step); one writer
 * connection commits the queue in order, in batches, each batch one transaction. Writes are
 * never reordered: a batch that fails for a transient reason (connection lost, server
 * restarting) is retried with backoff before anything after it. Reads wait for the writes
 * queued before them, so a client sees its call as soon as the engine has changed it.
 */
export class PostgresCallRecordStore implements CallRecordStore {
  readonly backend = 'postgres' as const;
  private queue: RecordWrite[] = [];
  private enqueued = 0;
  private committed = 0;
  private waiters: { target: number; resolve: () => void }[] = [];
  private draining = false;
  private scheduled = false;
  private closing = false;
  /** The pool is ended: nothing more can be written. */
  private ended = false;
  private writer: pgTypes.PoolClient | null = null;
  private failures = 0;
  /** For measurements: commits and time spent in them (ms, async: not on the engine's step). */
  readonly cost = { commits: 0, writes: 0, ms: 0 };

  private constructor(
    private readonly pool: pgTypes.Pool,
    private readonly log: Logger,
  ) {}

  static async open(url: string, log: Logger, o: PostgresStoreOptions = {}): Promise<PostgresCallRecordStore> {
    // pg is an optional peer dependency: only a server with a PostgreSQL URL loads it.
    const pg = await importOptional<typeof pgTypes>('pg', { why: 'OPENCALL_DATABASE_URL is set (call records in PostgreSQL)' });
    const int8 = (v: string) => Number(v);
    const pool = new pg.Pool({
      connectionString: url,
      max: (o.poolSize ?? 4) + 1,
      // BIGINT (ms timestamps) as numbers: they stay far below 2^53.
      types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? int8 : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
    });
    pool.on('error', (err) => log.warn({ err, event: 'records.pg_error' }, 'call records: idle PostgreSQL connection failed'));
    const store = new PostgresCallRecordStore(pool, log);
    try {
      await store.migrate();
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return store;
  }

  private async migrate(): Promise<void> {
    await this.borrow(async (c) => {
      await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      try {
        await c.query(CREATE_MIGRATIONS_TABLE);
        const applied = (await c.query<{ version: number }>(SELECT_MIGRATIONS)).rows.map((r) => r.version);
        checkKnown(applied);
        for (const m of MIGRATIONS) {
          if (applied.includes(m.version)) continue;
          await c.query('BEGIN');
          try {
            await c.query(migrationSql(m, 'postgres'));
            await c.query(numbered(INSERT_MIGRATION), [m.version, m.name, Date.now()]);
            await c.query('COMMIT');
          } catch (err) {
            await c.query('ROLLBACK').catch(() => {});
            throw err;
          }
          this.log.info({ event: 'records.migrated', backend: 'postgres', version: m.version, name: m.name }, `call records schema v${m.version} applied`);
        }
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
      }
    });
  }

  write(w: RecordWrite): void {
    if (this.closing) {
      this.log.error({ event: 'records.write_dropped', write: w }, 'call records: write after close dropped');
      return;
    }
    this.queue.push(w);
    this.enqueued++;
    // Start on a microtask: everything this engine step writes goes in the first batch.
    if (!this.scheduled && !this.draining) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        void this.drain();
      });
    }
  }

  /** Commits the queue in order until it is empty. Only one drain runs at a time. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.ended) {
        const batch = this.queue.slice(0, BATCH);
        const t0 = performance.now();
        try {
          await this.commit(batch);
        } catch (err) {
          if (isTransient(err)) {
            this.failures++;
            const wait = Math.min(30_000, 100 * 2 ** Math.min(this.failures, 9));
            this.log.warn({ err, event: 'records.pg_retry', queued: this.queue.length, retryInMs: wait }, 'call records: PostgreSQL unavailable; will retry');
            if (this.closing && this.failures > 3) return;
            await sleep(wait);
            continue;
          }
          // Not the connection: a write the database refuses. Write one by one, drop what fails.
          this.log.error({ err, event: 'records.write_failed', writes: batch.length }, 'call records: batch refused; writing one by one');
          await this.commitOneByOne(batch);
        }
        this.failures = 0;
        this.queue.splice(0, batch.length);
        this.committed += batch.length;
        this.cost.ms += performance.now() - t0;
        this.cost.commits++;
        this.cost.writes += batch.length;
        this.wake();
      }
    } finally {
      this.draining = false;
    }
  }

  /** The writer's connection (kept checked out between batches). */
  private async connection(): Promise<pgTypes.PoolClient> {
    if (!this.writer) {
      const c = await this.pool.connect();
      // A checked-out client that loses its connection emits 'error': unhandled, it would crash the server.
      c.on('error', (err) => {
        this.log.warn({ err, event: 'records.pg_error' }, 'call records: PostgreSQL writer connection failed');
        if (this.writer === c) this.dropWriter(err);
      });
      this.writer = c;
    }
    return this.writer;
  }

  private dropWriter(err: unknown): void {
    const c = this.writer;
    this.writer = null;
    c?.release(err instanceof Error ? err : new Error(String(err)));
  }

  /** A pooled connection for one short job, with its errors handled. */
  private async borrow<T>(job: (c: pgTypes.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    const ignore = () => {}; // the job's query fails with the same error
    c.on('error', ignore);
    let broken: Error | undefined;
    try {
      return await job(c);
    } catch (err) {
      if (isTransient(err)) broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      c.off('error', ignore);
      c.release(broken);
    }
  }

  private async commit(batch: RecordWrite[]): Promise<void> {
    const c = await this.connection();
    try {
      await c.query('BEGIN');
      for (const w of batch) {
        const { sql, params } = writeStatement(w);
        await c.query(numbered(sql), params);
      }
      await c.query('COMMIT');
    } catch (err) {
      try {
        await c.query('ROLLBACK');
      } catch {
        this.dropWriter(err);
      }
      if (isTransient(err)) this.dropWriter(err);
      throw err;
    }
  }

  private async commitOneByOne(batch: RecordWrite[]): Promise<void> {
    for (const w of batch) {
      for (;;) {
        try {
          const c = await this.connection();
          const { sql, params } = writeStatement(w);
          await c.query(numbered(sql), params);
          break;
        } catch (err) {
          if (!isTransient(err)) {
            this.log.error({ err, event: 'records.write_dropped', write: w }, 'call records: write dropped');
            break;
          }
          this.dropWriter(err);
          if (this.closing) return;
          await sleep(1000);
        }
      }
    }
  }

  private wake(): void {
    const ready = this.waiters.filter((w) => w.target <= this.committed);
    this.waiters = this.waiters.filter((w) => w.target > this.committed);
    for (const w of ready) w.resolve();
  }

  flush(): Promise<void> {
    const target = this.enqueued;
    if (this.committed >= target) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  /** Waits for earlier writes (bounded: if the database is down, the read fails on its own). */
  private async settled(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((r) => (timer = setTimeout(r, READ_WAIT_MS)))]);
    clearTimeout(timer);
  }

  async closeOrphans(at: number, keep?: ReadonlySet<string>): Promise<string[]> {
    await this.settled();
    return this.borrow(async (c) => {
      await c.query('BEGIN');
      try {
        const open = (await c.query<{ invite_id: string; answered_at: number | null }>(`${ORPHAN_SQL.open} FOR UPDATE`)).rows.filter((r) => !keep?.has(r.invite_id));
        for (const r of open) {
          await c.query(numbered(ORPHAN_SQL.ringing), [r.invite_id]);
          await c.query(numbered(ORPHAN_SQL.joined), [at, r.invite_id]);
          await c.query(numbered(ORPHAN_SQL.end), [at, durationSeconds(r.answered_at, at), r.invite_id]);
        }
        await c.query('COMMIT');
        return open.map((r) => r.invite_id);
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  async history(userID: string, limit: number, before?: HistoryPosition): Promise<{ records: CallRecord[]; more: boolean }> {
    await this.settled();
    const rows = (
      before
        ? await this.pool.query<CallDbRow>(numbered(HISTORY_SQL.after), [userID, before.createdAt, before.createdAt, before.inviteID, limit + 1])
        : await this.pool.query<CallDbRow>(numbered(HISTORY_SQL.first), [userID, limit + 1])
    ).rows;
    const more = rows.length > limit;
    return { records: await this.complete(rows.slice(0, limit)), more };
  }

  async get(inviteID: string): Promise<CallRecord | null> {
    await this.settled();
    const rows = (await this.pool.query<CallDbRow>(numbered(HISTORY_SQL.one), [inviteID])).rows;
    return (await this.complete(rows))[0] ?? null;
  }

  async ping(timeoutMs: number): Promise<void> {
    // query_timeout: a hung server costs one pooled connection, dropped when the time is up.
    // (pg reads query_timeout per query; @types/pg only declares it on the client's config.)
    await this.pool.query({ text: 'SELECT 1', query_timeout: timeoutMs } as pgTypes.QueryConfig);
  }

  async migrations(): Promise<number[]> {
    return (await this.pool.query<{ version: number }>(SELECT_MIGRATIONS)).rows.map((r) => r.version);
  }

  private async complete(calls: CallDbRow[]): Promise<CallRecord[]> {
    if (calls.length === 0) return [];
    const ids = calls.map((c) => c.invite_id);
    const [members, switches] = await Promise.all([
      this.pool.query<MemberDbRow>(numbered(membersOf(ids.length)), ids),
      this.pool.query<SwitchDbRow>(numbered(switchesOf(ids.length)), ids),
    ]);
    return toRecords(calls, members.rows, switches.rows);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      this.flush().then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), CLOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (!done) {
      this.log.error({ event: 'records.lost', writes: this.enqueued - this.committed }, 'call records: PostgreSQL unreachable at shutdown; queued writes lost');
    }
    this.ended = true;
    this.writer?.release();
    this.writer = null;
    await this.pool.end();
  }
}

/** A wait that does not keep the process alive. */
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Errors worth retrying the same batch for: the connection or the server, not the data. */
function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return true; // socket errors without a SQLSTATE, "Connection terminated", ...
  if (/^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT
  // 08 connection, 53 resources, 57 operator intervention (shutdown), 40 rollback (serialization, deadlock), 58 system
  return ['08', '53', '57', '40', '58'].some((c) => code.startsWith(c));
}
