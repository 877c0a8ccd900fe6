/**
 * SQL shared by the SQLite and PostgreSQL stores. Written in the dialects' common subset
 * (BIGINT, TEXT, ON CONFLICT ... DO UPDATE, partial indexes) with `?` placeholders; the
 * PostgreSQL store numbers them ($1, $2, ...).
 */
import type { CallRecord, CallRecordEndReason, CallType } from '@opencall/protocol';
import type { CallRow, MemberRow, RecordWrite } from './types.js';

export interface Migration {
  version: number;
  name: string;
  /** Statements for both dialects, or one per dialect where they differ. */
  sql: string | { sqlite: string; postgres: string };
}

/**
 * Numbered migrations, applied in order at start, each in its own transaction together with
 * its schema_migrations row. Never edit one that has shipped: add the next number.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'call records',
    sql: `
      CREATE TABLE calls (
        invite_id   TEXT PRIMARY KEY,
        room_id     BIGINT NOT NULL,
        sponsor     TEXT NOT NULL,
        group_id    TEXT,
        call_type   INTEGER NOT NULL,
        created_at  BIGINT NOT NULL,
        answered_at BIGINT,
        ended_at    BIGINT,
        duration    INTEGER,
        end_reason  TEXT
      );
      CREATE INDEX calls_open ON calls (created_at) WHERE ended_at IS NULL;
      CREATE TABLE call_members (
        invite_id       TEXT NOT NULL REFERENCES calls (invite_id) ON DELETE CASCADE,
        user_id         TEXT NOT NULL,
        seq             INTEGER NOT NULL,
        role            TEXT NOT NULL,
        state           TEXT NOT NULL,
        outcome         TEXT,
        invited_at      BIGINT NOT NULL,
        joined_at       BIGINT,
        left_at         BIGINT,
        call_created_at BIGINT NOT NULL,
        PRIMARY KEY (invite_id, user_id)
      );
      CREATE INDEX call_members_history ON call_members (user_id, call_created_at, invite_id);
      CREATE TABLE call_type_switches (
        invite_id TEXT NOT NULL REFERENCES calls (invite_id) ON DELETE CASCADE,
        seq       INTEGER NOT NULL,
        at        BIGINT NOT NULL,
        user_id   TEXT,
        call_type INTEGER NOT NULL,
        PRIMARY KEY (invite_id, seq)
      );
      CREATE INDEX calls_ended ON calls (ended_at);
    `,
  },
];

export const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;
export const SELECT_MIGRATIONS = 'SELECT version FROM schema_migrations ORDER BY version';
export const INSERT_MIGRATION = 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)';

export function migrationSql(m: Migration, dialect: 'sqlite' | 'postgres'): string {
  return typeof m.sql === 'string' ? m.sql : m.sql[dialect];
}

/** Refuses a database written by a newer OpenCall (its schema may not be what this code expects). */
export function checkKnown(applied: number[]): void {
  const known = new Set(MIGRATIONS.map((m) => m.version));
  const unknown = applied.filter((v) => !known.has(v));
  if (unknown.length > 0) {
    throw new Error(`call records database has schema versions this server does not know (${unknown.join(', ')}): it was written by a newer OpenCall`);
  }
}

export const WRITE_SQL = {
  call: 'INSERT INTO calls (invite_id, room_id, sponsor, group_id, call_type, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (invite_id) DO NOTHING',
  member:
    'INSERT INTO call_members (invite_id, user_id, seq, role, state, outcome, invited_at, joined_at, left_at, call_created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
    'ON CONFLICT (invite_id, user_id) DO UPDATE SET seq = excluded.seq, role = excluded.role, state = excluded.state, outcome = excluded.outcome, ' +
    'invited_at = excluded.invited_at, joined_at = excluded.joined_at, left_at = excluded.left_at',
  answered: 'UPDATE calls SET answered_at = ? WHERE invite_id = ? AND answered_at IS NULL',
  switch: 'INSERT INTO call_type_switches (invite_id, seq, at, user_id, call_type) VALUES (?, ?, ?, ?, ?) ON CONFLICT (invite_id, seq) DO NOTHING',
  ended: 'UPDATE calls SET ended_at = ?, answered_at = ?, duration = ?, end_reason = ? WHERE invite_id = ?',
} as const;

/** The statement and parameters of one write. */
export function writeStatement(w: RecordWrite): { sql: string; params: unknown[] } {
  switch (w.kind) {
    case 'call': {
      const r: CallRow = w.row;
      return { sql: WRITE_SQL.call, params: [r.inviteID, r.roomID, r.sponsor, r.groupID, r.callType, r.createdAt] };
    }
    case 'member': {
      const m: MemberRow = w.row;
      return { sql: WRITE_SQL.member, params: [m.inviteID, m.userID, m.seq, m.role, m.state, m.outcome, m.invitedAt, m.joinedAt, m.leftAt, m.callCreatedAt] };
    }
    case 'answered':
      return { sql: WRITE_SQL.answered, params: [w.at, w.inviteID] };
    case 'switch':
      return { sql: WRITE_SQL.switch, params: [w.inviteID, w.seq, w.at, w.userID, w.callType] };
    case 'ended':
      return { sql: WRITE_SQL.ended, params: [w.endedAt, w.answeredAt, w.duration, w.reason, w.inviteID] };
  }
}

const CALL_COLUMNS = 'c.invite_id, c.room_id, c.sponsor, c.group_id, c.call_type, c.created_at, c.answered_at, c.ended_at, c.duration, c.end_reason';

/** A user's calls, newest first; the second form starts strictly after a cursor position. */
export const HISTORY_SQL = {
  first:
    `SELECT ${CALL_COLUMNS} FROM call_members m JOIN calls c ON c.invite_id = m.invite_id ` +
    'WHERE m.user_id = ? ORDER BY m.call_created_at DESC, m.invite_id DESC LIMIT ?',
  after:
    `SELECT ${CALL_COLUMNS} FROM call_members m JOIN calls c ON c.invite_id = m.invite_id ` +
    'WHERE m.user_id = ? AND (m.call_created_at < ? OR (m.call_created_at = ? AND m.invite_id < ?)) ' +
    'ORDER BY m.call_created_at DESC, m.invite_id DESC LIMIT ?',
  one: `SELECT ${CALL_COLUMNS} FROM calls c WHERE c.invite_id = ?`,
} as const;

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');
export const membersOf = (n: number) =>
  `SELECT invite_id, user_id, seq, role, outcome, invited_at, joined_at, left_at FROM call_members WHERE invite_id IN (${placeholders(n)}) ORDER BY invite_id, seq`;
export const switchesOf = (n: number) =>
  `SELECT invite_id, seq, at, user_id, call_type FROM call_type_switches WHERE invite_id IN (${placeholders(n)}) ORDER BY invite_id, seq`;

/** Open calls, for closing them after a restart. */
export const ORPHAN_SQL = {
  open: 'SELECT invite_id, answered_at FROM calls WHERE ended_at IS NULL',
  ringing: "UPDATE call_members SET state = 'cancelled', outcome = 'cancelled' WHERE invite_id = ? AND state = 'ringing'",
  joined:
    "UPDATE call_members SET state = 'left', left_at = ?, outcome = CASE WHEN role = 'caller' THEN 'left' ELSE 'accepted' END " +
    "WHERE invite_id = ? AND state = 'joined'",
  end: "UPDATE calls SET ended_at = ?, duration = ?, end_reason = 'server_restart' WHERE invite_id = ? AND ended_at IS NULL",
} as const;

/** Seconds as the engine counts them (Math.round of the connected time). */
export function durationSeconds(answeredAt: number | null, endedAt: number): number {
  return answeredAt === null ? 0 : Math.max(0, Math.round((endedAt - answeredAt) / 1000));
}

// ---- rows → records ----

export interface CallDbRow {
  invite_id: string;
  room_id: number;
  sponsor: string;
  group_id: string | null;
  call_type: number;
  created_at: number;
  answered_at: number | null;
  ended_at: number | null;
  duration: number | null;
  end_reason: string | null;
}
export interface MemberDbRow {
  invite_id: string;
  user_id: string;
  seq: number;
  role: string;
  outcome: string | null;
  invited_at: number;
  joined_at: number | null;
  left_at: number | null;
}
export interface SwitchDbRow {
  invite_id: string;
  seq: number;
  at: number;
  user_id: string | null;
  call_type: number;
}

/** Builds records from rows (the drivers return the same shapes once BIGINTs are numbers). */
export function toRecords(calls: CallDbRow[], members: MemberDbRow[], switches: SwitchDbRow[]): CallRecord[] {
  const byCall = new Map<string, CallRecord>();
  const out = calls.map((c) => {
    const r: CallRecord = {
      inviteID: c.invite_id,
      roomID: Number(c.room_id),
      sponsor: c.sponsor,
      invitees: [],
      groupID: c.group_id,
      callType: Number(c.call_type) as CallType,
      typeSwitches: [],
      createdAt: Number(c.created_at),
      answeredAt: c.answered_at === null ? null : Number(c.answered_at),
      endedAt: c.ended_at === null ? null : Number(c.ended_at),
      duration: c.duration === null ? null : Number(c.duration),
      endReason: c.end_reason as CallRecordEndReason | null,
      participants: [],
    };
    byCall.set(r.inviteID, r);
    return r;
  });
  const ordered = [...members].sort((a, b) => (a.role === b.role ? Number(a.seq) - Number(b.seq) : a.role === 'caller' ? -1 : 1));
  for (const m of ordered) {
    const r = byCall.get(m.invite_id);
    if (!r) continue;
    r.participants.push({
      userID: m.user_id,
      role: m.role === 'caller' ? 'caller' : 'invitee',
      outcome: m.outcome as CallRecord['participants'][number]['outcome'],
      invitedAt: Number(m.invited_at),
      joinedAt: m.joined_at === null ? null : Number(m.joined_at),
      leftAt: m.left_at === null ? null : Number(m.left_at),
    });
    if (m.role !== 'caller') r.invitees.push(m.user_id);
  }
  for (const s of [...switches].sort((a, b) => Number(a.seq) - Number(b.seq))) {
    byCall.get(s.invite_id)?.typeSwitches.push({ at: Number(s.at), callType: Number(s.call_type) as CallType, userID: s.user_id });
  }
  return out;
}
