import type { Logger } from 'pino';
import type { CallEngine } from '../calls/call-engine.js';

/**
 * Call records (issue 5). Placeholder until the SQLite/PostgreSQL stores land: records nothing.
 * The real implementation subscribes to `engine.events` in attach().
 */
export interface RecordsOptions {
  /** Folder for the embedded SQLite file; undefined keeps records in memory. */
  dataDir?: string;
  /** PostgreSQL URL; when set it is used instead of SQLite. */
  databaseUrl?: string;
}

export interface Records {
  attach(engine: CallEngine): void;
  close(): Promise<void>;
}

export async function openRecords(_options: RecordsOptions, _log: Logger): Promise<Records> {
  return { attach() {}, async close() {} };
}
