import { join } from 'node:path';
import type { Logger } from 'pino';
import { ErrorCode, type CallHistoryPage, type CallType } from '@opencall/protocol';
import type { CallEngine } from '../calls/call-engine.js';
import { redactUrl } from '../log.js';
import { systemClock, type Clock } from '../clock.js';
import { ProtocolError } from '../errors.js';
import type { Conn } from '../sessions/conn.js';
import { PostgresCallRecordStore } from './postgres-store.js';
import { CallRecorder, type LiveCallSnapshot } from './recorder.js';
import { SQLITE_FILE, SqliteCallRecordStore } from './sqlite-store.js';
import { HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, type CallRecordStore, type HistoryPosition, type HistoryQuery, type MaybePromise } from './types.js';

export type { CallRecordStore, RecordWrite, HistoryPosition, HistoryQuery } from './types.js';
export { HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT } from './types.js';
export { SqliteCallRecordStore, SQLITE_FILE } from './sqlite-store.js';
export { PostgresCallRecordStore } from './postgres-store.js';
export { registerRecordRoutes } from './routes.js';

/**
 * Call records (issue 5): every call, written through as it happens, in SQLite (default) or
 * PostgreSQL. See docs/records.md.
 */
export interface RecordsOptions {
  /** Folder for the embedded SQLite file (`opencall.sqlite`); undefined keeps records in memory. */
  dataDir?: string;
  /** PostgreSQL URL; when set it is used instead of SQLite. */
  databaseUrl?: string;
  /** The engine's clock (record times are on it). Default: the system clock. */
  clock?: Clock;
}

export interface Records {
  readonly store: CallRecordStore;
  /** Records the engine's calls from now on. */
  attach(engine: CallEngine): void;
  /** A page of `userID`'s calls (made or invited to), newest first. Synchronous only on SQLite in memory. */
  history(userID: string, query: HistoryQuery): MaybePromise<CallHistoryPage>;
  /**
   * Answers a `history` request on a session: at once when the read is synchronous (SQLite in
   * memory), else when it comes back (SQLite's writer thread, PostgreSQL). Returns a promise
   * settled once the answer is sent in that case (the router holds a later `ping` behind it).
   */
  answerHistory(session: Conn, rid: number, userID: string, query: HistoryQuery): Promise<void> | undefined;
  /** A party switched a call between audio and video. */
  callTypeChanged(inviteID: string, userID: string, callType: CallType): void;
  /** What is being recorded about a call still going on, to hand over with it (cluster). */
  snapshot(inviteID: string): LiveCallSnapshot | undefined;
  /** Goes on recording a call handed over from another node. */
  restore(inviteID: string, s: LiveCallSnapshot): void;
  /**
   * Closes calls left open by a node that is gone (reason 'server_restart'), except `keep`:
   * the calls handed over that go on.
   */
  closeOrphans(keep?: ReadonlySet<string>): Promise<string[]>;
  /** Commits what is queued and closes the database. */
  close(): Promise<void>;
}

/** Opens the store (applying migrations) and closes calls a killed predecessor left open. */
export async function openRecords(options: RecordsOptions & { closeOrphans?: boolean }, log: Logger): Promise<Records> {
  const clock = options.clock ?? systemClock;
  const store: CallRecordStore = options.databaseUrl
    ? await PostgresCallRecordStore.open(options.databaseUrl, log)
    : new SqliteCallRecordStore(options.dataDir ? join(options.dataDir, SQLITE_FILE) : ':memory:', log);
  // In a cluster, calls open in the records may be going on elsewhere: the node that takes
  // over the calls closes the orphans instead (see cluster/).
  if (options.closeOrphans !== false) {
    try {
      await closeOrphans(store, clock.now(), log);
    } catch (err) {
      await store.close().catch(() => {});
      throw err;
    }
  }
  log.info(
    { event: 'records.open', backend: store.backend, where: options.databaseUrl ? redactUrl(options.databaseUrl) : options.dataDir ? join(options.dataDir, SQLITE_FILE) : 'memory' },
    'call records open',
  );
  return createRecords(store, clock, log);
}

async function closeOrphans(store: CallRecordStore, at: number, log: Logger, keep?: ReadonlySet<string>): Promise<string[]> {
  const orphans = await store.closeOrphans(at, keep);
  if (orphans.length > 0) {
    log.warn({ event: 'records.orphans_closed', calls: orphans.length, inviteIDs: orphans.slice(0, 20) }, `call records: ${orphans.length} call(s) left open by a stopped server closed as server_restart`);
  }
  return orphans;
}

/** Records on a store you opened yourself (tests, tools). */
export function createRecords(store: CallRecordStore, clock: Clock, log: Logger): Records {
  const recorder = new CallRecorder(store, clock, log);
  const history = (userID: string, query: HistoryQuery): MaybePromise<CallHistoryPage> => {
    const limit = Math.min(HISTORY_MAX_LIMIT, query.limit ?? HISTORY_DEFAULT_LIMIT);
    if (!Number.isInteger(limit) || limit < 1) throw new ProtocolError(ErrorCode.INVALID_MESSAGE, `limit must be an integer from 1 to ${HISTORY_MAX_LIMIT}`);
    const before = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const page = (r: { records: CallHistoryPage['records']; more: boolean }): CallHistoryPage => {
      const last = r.records[r.records.length - 1];
      return { records: r.records, nextCursor: r.more && last ? encodeCursor({ createdAt: last.createdAt, inviteID: last.inviteID }) : null };
    };
    const r = store.history(userID, limit, before);
    return r instanceof Promise ? r.then(page) : page(r);
  };
  return {
    store,
    attach: (engine) => recorder.attach(engine),
    history,
    answerHistory(session, rid, userID, query) {
      const r = history(userID, query); // a bad cursor or limit throws here: the router answers it
      if (!(r instanceof Promise)) {
        session.reply(rid, r);
        return undefined;
      }
      return r.then(
        (page) => session.reply(rid, page),
        (err) => {
          if (err instanceof ProtocolError) return session.fail(rid, err);
          log.error({ err, event: 'records.read_failed', userID }, 'call records: history read failed');
          session.fail(rid, new ProtocolError(ErrorCode.INTERNAL, 'call records are unavailable right now'));
        },
      );
    },
    callTypeChanged: (inviteID, userID, callType) => recorder.callTypeChanged(inviteID, userID, callType),
    snapshot: (inviteID) => recorder.snapshot(inviteID),
    restore: (inviteID, s) => recorder.restore(inviteID, s),
    closeOrphans: (keep) => closeOrphans(store, clock.now(), log, keep),
    close: () => store.close(),
  };
}

/** Cursors are opaque to clients: base64url of [createdAt, inviteID] of the last record returned. */
export function encodeCursor(p: HistoryPosition): string {
  return Buffer.from(JSON.stringify([p.createdAt, p.inviteID])).toString('base64url');
}

export function decodeCursor(cursor: string): HistoryPosition {
  try {
    if (cursor.length > 256) throw new Error('too long');
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && v[0] >= 0 && typeof v[1] === 'string' && v[1].length > 0 && v[1].length <= 64) {
      return { createdAt: v[0], inviteID: v[1] };
    }
  } catch {
    /* fall through */
  }
  throw new ProtocolError(ErrorCode.INVALID_MESSAGE, 'invalid cursor: pass nextCursor from the previous page as it is');
}

