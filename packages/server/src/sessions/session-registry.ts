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
export const BACKLOG_LIMIT = 256;
export const BACKLOG_MS = 60_000;

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
  /** While the connection is gone: when the grace period ends (ms). */
  graceUntil: number | undefined;
}

/** A frame kept for replay, with when it was sent. */
export interface BacklogEntry {
  at: number;
  frame: ServerEventFrame & { seq: number };
}

/** A presence as data, to hand over to another node (see cluster/). */
export interface PresenceSnapshot {
  userID: string;
  connId: string | number | null;
  token: string;
  seq: number;
  graceUntil?: number;
}

/** Hears every change, so a cluster can persist presences as they change. Must be cheap. */
export interface RegistryObserver {
  /** The presence of the user was created, changed or dropped. */
  presenceChanged(userID: string): void;
  /** A frame was added to the user's backlog. */
  backlogAdded(userID: string, entry: BacklogEntry): void;
  /** The user's backlog was emptied (a fresh login). */
  backlogReset(userID: string): void;
}

export type ResumeResult = { ok: true; replay: ServerFrame[]; token: string } | { ok: false };

/** Users of this process and their connections, one presence per userID. */
export class SessionRegistry implements Delivery {
  private readonly byUser = new Map<string, Presence>();
  observer: RegistryObserver | undefined;

  /** Starts a fresh presence for the user; returns the one it replaces (to be kicked), if any. */
  bind(session: Conn, userID: string): { token: string; previous: Presence | undefined } {
    const previous = this.byUser.get(userID);
    if (previous) this.drop(previous);
    const token = randomBytes(18);
    session.userID = userID;
    this.byUser.set(userID, { userID, conn: session, resumeToken: token, seq: 0, backlog: [], graceTimer: undefined, graceUntil: undefined });
    this.observer?.backlogReset(userID);
    this.observer?.presenceChanged(userID);
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
    p.graceUntil = undefined;
    const old = p.conn;
    p.conn = session;
    session.userID = userID;
    this.observer?.presenceChanged(userID);
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
    p.graceUntil = Date.now() + Math.max(0, graceMs);
    this.observer?.presenceChanged(p.userID);
    this.armGrace(p, graceMs, onExpire);
    return true;
  }

  private armGrace(p: Presence, ms: number, onExpire: (userID: string) => void): void {
    const expire = () => {
      if (this.byUser.get(p.userID) !== p || p.conn !== null) return;
      this.drop(p);
      onExpire(p.userID);
    };
    if (ms <= 0) expire();
    else {
      p.graceTimer = setTimeout(expire, ms);
      p.graceTimer.unref();
    }
  }

  /** The user's presence as data (undefined if not present). */
  snapshot(userID: string): PresenceSnapshot | undefined {
    const p = this.byUser.get(userID);
    if (!p) return undefined;
    return {
      userID,
      connId: p.conn?.id ?? null,
      token: p.resumeToken.toString('base64url'),
      seq: p.seq,
      ...(p.graceUntil !== undefined && { graceUntil: p.graceUntil }),
    };
  }

  /**
   * Takes over presences another node kept: `connOf` gives the connection an id stands for;
   * users whose connection was gone get the rest of their grace period.
   */
  restore(
    presences: readonly { presence: PresenceSnapshot; backlog: BacklogEntry[] }[],
    connOf: (id: string | number, userID: string) => Conn,
    onExpire: (userID: string) => void,
  ): void {
    const now = Date.now();
    for (const { presence: s, backlog } of presences) {
      const conn = s.connId === null ? null : connOf(s.connId, s.userID);
      const p: Presence = { userID: s.userID, conn, resumeToken: Buffer.from(s.token, 'base64url'), seq: s.seq, backlog, graceTimer: undefined, graceUntil: s.graceUntil };
      this.byUser.set(s.userID, p);
      this.prune(p, now);
      if (conn === null) this.armGrace(p, (s.graceUntil ?? now) - now, onExpire);
    }
  }

  /** Stops every grace timer (the presences are handed over to another node). */
  dispose(): void {
    for (const p of this.byUser.values()) if (p.graceTimer) clearTimeout(p.graceTimer);
    this.observer = undefined;
  }

  /** Every present user's connection id (null while within the grace period). */
  *connections(): IterableIterator<[userID: string, conn: Conn | null]> {
    for (const p of this.byUser.values()) yield [p.userID, p.conn];
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
    const entry = { at: now, frame: sequenced };
    p.backlog.push(entry);
    this.prune(p, now);
    if (this.observer) {
      this.observer.backlogAdded(userID, entry);
      this.observer.presenceChanged(userID);
    }
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
    if (this.byUser.get(p.userID) === p) {
      this.byUser.delete(p.userID);
      this.observer?.presenceChanged(p.userID);
    }
  }
}
