import type Database from 'better-sqlite3';
import { loadSqlite } from '../records/sqlite-store.js';
import { MemoryGroupStore, type GroupStore } from './group-store.js';

/** File of the groups, next to the call records in OPENCALL_DATA_DIR. */
export const GROUPS_FILE = 'groups.sqlite';

/**
 * Groups kept in an SQLite file, so they survive a restart of a single node. Reads come from
 * memory (the engine asks on every group call); writes go through to the file at once — they
 * come from the admin API, rarely.
 */
export class SqliteGroupStore implements GroupStore {
  private readonly db: Database.Database;
  private readonly cache = new MemoryGroupStore();
  private readonly putStmt: Database.Statement;
  private readonly deleteStmt: Database.Statement;

  constructor(file: string) {
    const Database = loadSqlite({
      why: 'groups are kept in SQLite under OPENCALL_DATA_DIR (one node, without OPENCALL_REDIS_URL)',
      otherwise: 'or set OPENCALL_DATA_DIR= to keep them in memory',
    });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS groups (group_id TEXT PRIMARY KEY, members TEXT NOT NULL)');
    this.putStmt = this.db.prepare('INSERT INTO groups (group_id, members) VALUES (?, ?) ON CONFLICT(group_id) DO UPDATE SET members = excluded.members');
    this.deleteStmt = this.db.prepare('DELETE FROM groups WHERE group_id = ?');
    for (const row of this.db.prepare('SELECT group_id, members FROM groups').all() as { group_id: string; members: string }[]) {
      this.cache.put(row.group_id, JSON.parse(row.members) as string[]);
    }
  }

  members(groupID: string): ReadonlySet<string> | undefined {
    return this.cache.members(groupID);
  }

  put(groupID: string, members: readonly string[]): void {
    this.putStmt.run(groupID, JSON.stringify(members));
    this.cache.put(groupID, members);
  }

  update(groupID: string, add: readonly string[], remove: readonly string[]): boolean {
    if (!this.cache.update(groupID, add, remove)) return false;
    this.putStmt.run(groupID, JSON.stringify([...this.cache.members(groupID)!]));
    return true;
  }

  delete(groupID: string): boolean {
    this.deleteStmt.run(groupID);
    return this.cache.delete(groupID);
  }

  close(): void {
    this.db.close();
  }
}
