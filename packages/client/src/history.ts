/**
 * Call history (OpenCall extra): the server records every call; a logged-in user can page
 * through their own. Record shape and semantics: docs/records.md.
 */
import type { CallHistoryPage } from '@opencall/protocol/lite';
import { misuse } from './errors.js';
import type { SignalClient } from './signal/signal-client.js';

export type { CallHistoryPage, CallRecord, CallRecordParticipant, CallOutcome, CallRecordEndReason } from '@opencall/protocol/lite';

/** `getCallHistory()` parameters. */
export interface CallHistoryParams {
  /** `nextCursor` of the previous page; omit for the newest records. */
  cursor?: string;
  /** Records per page, 1-100 (more is read as 100). Default 20. */
  limit?: number;
}

export const HISTORY_DEFAULT_LIMIT = 20;
export const HISTORY_MAX_LIMIT = 100;

/** Validates the parameters and asks the server for one page. */
export function requestCallHistory(signal: SignalClient, params: CallHistoryParams | undefined): Promise<CallHistoryPage> {
  const p = params ?? {};
  if (typeof p !== 'object') throw misuse.badArgument('getCallHistory({cursor, limit}) takes an object');
  const { cursor, limit } = p;
  if (cursor !== undefined && cursor !== null && (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > 256)) {
    throw misuse.badArgument('cursor must be the nextCursor string of a previous page');
  }
  if (limit !== undefined && limit !== null && (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1)) {
    throw misuse.badArgument(`limit must be a whole number from 1 to ${HISTORY_MAX_LIMIT}`);
  }
  return signal.request<CallHistoryPage>({
    t: 'history',
    ...(typeof cursor === 'string' && { cursor }),
    limit: Math.min(HISTORY_MAX_LIMIT, limit ?? HISTORY_DEFAULT_LIMIT),
  });
}
