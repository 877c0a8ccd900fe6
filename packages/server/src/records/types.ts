import type { CallHistoryPage, CallOutcome, CallRecord, CallType } from '@opencall/protocol';
import type { MemberState } from '../calls/call.js';

export type MaybePromise<T> = T | Promise<T>;

/** Default and largest page size of a history request. */
export const HISTORY_DEFAULT_LIMIT = 20;
export const HISTORY_MAX_LIMIT = 100;

export interface HistoryQuery {
  /** nextCursor of the previous page. */
  cursor?: string;
  /** 1..100, default 20. */
  limit?: number;
}

/** A call as first written (when it is created). */
export interface CallRow {
  inviteID: string;
  roomID: number;
  sponsor: string;
  groupID: string | null;
  callType: CallType;
  createdAt: number;
}

/** One member of a call, written whole on every change (an idempotent upsert). */
export interface MemberRow {
  inviteID: string;
  userID: string;
  /** Invitation order within the call (the caller is 0); a re-invited user moves to the end. */
  seq: number;
  role: 'caller' | 'invitee';
  /** The engine's member state at the time of writing. */
  state: MemberState;
  outcome: CallOutcome | null;
  invitedAt: number;
  joinedAt: number | null;
  leftAt: number | null;
  /** The call's createdAt, repeated here so a user's history is one index range scan. */
  callCreatedAt: number;
}

/** One write, in the order the engine made the changes. */
export type RecordWrite =
  | { kind: 'call'; row: CallRow }
  | { kind: 'member'; row: MemberRow }
  | { kind: 'answered'; inviteID: string; at: number }
  | { kind: 'switch'; inviteID: string; seq: number; at: number; userID: string | null; callType: CallType }
  | { kind: 'ended'; inviteID: string; endedAt: number; answeredAt: number | null; duration: number; reason: string };

/** Position in a user's history: records strictly older than this (createdAt, then inviteID). */
export interface HistoryPosition {
  createdAt: number;
  inviteID: string;
}

/**
 * Where call records live. Two implementations (SQLite, PostgreSQL) pass the same tests.
 *
 * Writes are queued and reach the database in the order given, on a later microtask (SQLite)
 * or asynchronously (PostgreSQL): write() itself never does I/O and never throws. Reads see
 * every write queued before them.
 */
export interface CallRecordStore {
  readonly backend: 'sqlite' | 'postgres';
  write(w: RecordWrite): void;
  /** Resolves once every write queued so far is committed. */
  flush(): Promise<void>;
  /**
   * Ends calls a previous process left open (it was killed): reason 'server_restart' at `at`,
   * ringing members 'cancelled', members in the call 'left'/'accepted' with leftAt = at.
   * Returns their inviteIDs. Calls in `keep` are left open (handed over to another node).
   */
  closeOrphans(at: number, keep?: ReadonlySet<string>): Promise<string[]>;
  /** Calls `userID` made or was invited to, newest first; `limit` + 1 rows are read to know if more follow. */
  history(userID: string, limit: number, before?: HistoryPosition): MaybePromise<{ records: CallRecord[]; more: boolean }>;
  get(inviteID: string): MaybePromise<CallRecord | null>;
  /**
   * Resolves when the database answers (readiness, /readyz): PostgreSQL a `SELECT 1` given up
   * after `timeoutMs`; SQLite a round trip to its writer thread behind the queued writes.
   */
  ping(timeoutMs: number): Promise<void>;
  /** Schema versions applied, in order (schema_migrations). */
  migrations(): MaybePromise<number[]>;
  /** Commits what is queued and closes the database. */
  close(): Promise<void>;
}

export type { CallHistoryPage };
