import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ServerEventFrame, ServerFrame } from '@opencall/protocol';
import type { Conn } from './conn.js';

/** Where the call engine sends frames to users; one implementation per deployment shape. */
export interface Delivery {
  /** Sends to the user (now, or when their session resumes); false if the user is offline. */
  send(userID: string, frame: ServerEventFrame): boolean;
  isOnline(userID: string): boolean;
}

/**
 * Frames kept per user for replay after a reconnect: the last BACKLOG_LIMIT, none older than
 * BACKLOG_MS. A client away longer (or that missed more) cannot resume and starts afresh.
 * Idle users keep nothing, so memory follows traffic, not the number of users.
 */
const BACKLOG_LIMIT = 256;
const BACKLOG_MS = 60_000;

/**
 * A logged-in user: outlives a dropped connection for a grace period, so a client that
 * reconnects resumes where it was (no KICKED_OUT, no lost events, its calls untouched).
 */
interface Presence {
  userID: string;
  conn: Conn | null;
  resumeToken: Buffer;
  /** Sequence number of the last event frame sent to this user. */
  seq: number;
  /** Recent event frames with their seq and send time, oldest first. */
  backlog: { at: number; frame: ServerEventFrame & { seq: number } }[];
  graceTimer: NodeJS.Timeout | undefined;
}

export type ResumeResult = { ok: true; replay: ServerFrame[]; token: string } | { ok: false };

/** Users of this process and their connections, one presence per userID. */
export class SessionRegistry implements Delivery {
  private readonly byUser = new Map<string, Presence>();

  /** Starts a fresh presence for the user; returns the one it replaces (to be kicked), if any. */
  bind(session: Conn, userID: string): { token: string; previous: Presence | undefined } {
    const previous = this.byUser.get(userID);
    if (previous) this.drop(previous);
    const token = randomBytes(18);
    session.userID = userID;
    this.byUser.set(userID, { userID, conn: session, resumeToken: token, seq: 0, backlog: [], graceTimer: undefined });
    return { token: token.toString('base64url'), previous };
  }

  /**
   * Reattaches a reconnecting client: the token must match and the backlog must still hold
   * every frame after `lastSeq`. On success the connection that held the presence (if still
   * open) is closed quietly, and the frames to replay are returned.
   */
  resume(session: Conn, userID: string, token: string, lastSeq: number): ResumeResult {
    const p = this.byUser.get(userID);
    if (!p) return { ok: false };
    const given = Buffer.from(token, 'base64url');
    if (given.length !== p.resumeToken.length || !timingSafeEqual(given, p.resumeToken)) return { ok: false };
    if (lastSeq > p.seq) return { ok: false };
    this.prune(p, Date.now());
    const first = p.backlog[0]?.frame.seq ?? p.seq + 1;
    if (lastSeq + 1 < first) return { ok: false }; // frames were dropped from the backlog: cannot replay exactly
    if (p.graceTimer) clearTimeout(p.graceTimer);
    p.graceTimer = undefined;
    const old = p.conn;
    p.conn = session;
    session.userID = userID;
    if (old && old !== session) {
      old.userID = null;
      old.close(1000, 'resumed on another connection');
    }
    return { ok: true, replay: p.backlog.filter((b) => b.frame.seq > lastSeq).map((b) => b.frame), token };
  }

  /**
   * The connection closed without logout. The presence stays for `graceMs`; then
   * `onExpire` runs (the user is gone). Returns false if this connection held no presence.
   */
  detach(session: Conn, graceMs: number, onExpire: (userID: string) => void): boolean {
    const userID = session.userID;
    const p = userID === null ? undefined : this.byUser.get(userID);
    if (!p || p.conn !== session) return false;
    p.conn = null;
    const expire = () => {
      if (this.byUser.get(p.userID) !== p || p.conn !== null) return;
      this.drop(p);
      onExpire(p.userID);
    };
    if (graceMs <= 0) expire();
    else {
      p.graceTimer = setTimeout(expire, graceMs);
      p.graceTimer.unref();
    }
    return true;
  }

  /** Ends the presence held by this connection (logout); true if it held one. */
  unbind(session: Conn): boolean {
    const userID = session.userID;
    const p = userID === null ? undefined : this.byUser.get(userID);
    if (!p || p.conn !== session) return false;
    this.drop(p);
    return true;
  }

  /** The live connection of a user, if connected right now. */
  get(userID: string): Conn | undefined {
    return this.byUser.get(userID)?.conn ?? undefined;
  }

  send(userID: string, frame: ServerEventFrame): boolean {
    const p = this.byUser.get(userID);
    if (!p) return false;
    const sequenced = { ...frame, seq: ++p.seq };
    const now = Date.now();
    p.backlog.push({ at: now, frame: sequenced });
    this.prune(p, now);
    p.conn?.send(sequenced);
    return true;
  }

  private prune(p: Presence, now: number): void {
    let drop = Math.max(0, p.backlog.length - BACKLOG_LIMIT);
    while (drop < p.backlog.length && now - p.backlog[drop]!.at > BACKLOG_MS) drop++;
    if (drop > 0) p.backlog.splice(0, drop);
  }

  isOnline(userID: string): boolean {
    return this.byUser.has(userID);
  }

  /** Users present (connected or within their reconnect grace). */
  get size(): number {
    return this.byUser.size;
  }

  private drop(p: Presence): void {
    if (p.graceTimer) clearTimeout(p.graceTimer);
    p.graceTimer = undefined;
    if (this.byUser.get(p.userID) === p) this.byUser.delete(p.userID);
  }
}
