import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ServerEventFrame } from '@opencall/protocol';
import type { Conn } from './conn.js';

/** Which of a user's devices a frame goes to: all of them by default. */
export interface DeviceTarget {
  /** Only this device (the one a call is on). */
  only?: string | undefined;
  /** Every device but this one ("answered elsewhere"). */
  except?: string | undefined;
}

/** Where the call engine sends frames to users; one implementation per deployment shape. */
export interface Delivery {
  /** Sends to the user's devices (now, or when their session resumes); false if none is present. */
  send(userID: string, frame: ServerEventFrame, target?: DeviceTarget): boolean;
  isOnline(userID: string): boolean;
}

/**
 * One login per user (the spec's behaviour: a new login kicks the older one), or every device
 * logged in at once, each ringing for an invitation (`ring-all`).
 */
export type MultiDevice = 'kick' | 'ring-all';

/**
 * Frames kept per device for replay after a reconnect: the last BACKLOG_LIMIT, none older than
 * BACKLOG_MS. A client away longer (or that missed more) cannot resume and starts afresh.
 * Idle users keep nothing, so memory follows traffic, not the number of users.
 */
export const BACKLOG_LIMIT = 256;
export const BACKLOG_MS = 60_000;

/**
 * A frame kept for replay, with when it was sent: serialized once (with its `seq`), the same
 * text goes to the socket now and on a replay. A string per entry instead of a frame object
 * also keeps a minute of backlogs cheap for the garbage collector.
 */
export interface BacklogEntry {
  at: number;
  seq: number;
  /** The frame as sent, `seq` included (JSON). */
  json: string;
}

/**
 * A logged-in device of a user: outlives a dropped connection for a grace period, so a client
 * that reconnects resumes where it was (no KICKED_OUT, no lost events, its calls untouched).
 */
interface Presence {
  userID: string;
  /** Names this login among the user's devices; calls remember the device they are on. */
  device: string;
  conn: Conn | null;
  resumeToken: Buffer;
  /** Sequence number of the last event frame sent to this device. */
  seq: number;
  /** Recent event frames with their seq and send time, oldest first. */
  backlog: BacklogEntry[];
  graceTimer: NodeJS.Timeout | undefined;
  /** While the connection is gone: when the grace period ends (ms). */
  graceUntil: number | undefined;
}

/** A device's presence as data, to hand over to another node (see cluster/). */
export interface PresenceSnapshot {
  userID: string;
  device: string;
  connId: string | number | null;
  token: string;
  seq: number;
  graceUntil?: number;
}

/** Hears every change, so a cluster can persist presences as they change. Must be cheap. */
export interface RegistryObserver {
  /** A presence of the user was created, changed or dropped. */
  presenceChanged(userID: string): void;
  /** A frame was added to a device's backlog. */
  backlogAdded(userID: string, device: string, entry: BacklogEntry): void;
  /** A device's backlog starts empty (a fresh login). */
  backlogReset(userID: string, device: string): void;
}

/** `replay`: the frames to send again, as JSON text (see {@link Conn.sendJson}). */
export type ResumeResult = { ok: true; replay: string[]; token: string; device: string } | { ok: false };

/** Called when a device did not come back within its grace period. */
export type GraceExpired = (userID: string, device: string) => void;

/** Users of this process and their devices' connections. */
export class SessionRegistry implements Delivery {
  private readonly byUser = new Map<string, Presence[]>();
  observer: RegistryObserver | undefined;

  constructor(readonly multiDevice: MultiDevice = 'kick') {}

  /**
   * Starts a fresh presence for the user on this connection. With `kick` it replaces the
   * user's other presences, returned so the caller can kick them; with `ring-all` it is one
   * more device.
   */
  bind(session: Conn, userID: string): { token: string; device: string; previous: Presence[] } {
    const previous = this.multiDevice === 'kick' ? [...(this.byUser.get(userID) ?? [])] : [];
    for (const p of previous) this.drop(p);
    const token = randomBytes(18);
    const device = randomBytes(6).toString('base64url');
    session.userID = userID;
    session.device = device;
    const p: Presence = { userID, device, conn: session, resumeToken: token, seq: 0, backlog: [], graceTimer: undefined, graceUntil: undefined };
    const list = this.byUser.get(userID);
    if (list) list.push(p);
    else this.byUser.set(userID, [p]);
    this.observer?.backlogReset(userID, device);
    this.observer?.presenceChanged(userID);
    return { token: token.toString('base64url'), device, previous };
  }

  /**
   * Reattaches a reconnecting client to the device its token names: the backlog must still
   * hold every frame after `lastSeq`. On success the connection that held the presence (if
   * still open) is closed quietly, and the frames to replay are returned.
   */
  resume(session: Conn, userID: string, token: string, lastSeq: number): ResumeResult {
    const given = Buffer.from(token, 'base64url');
    const p = this.byUser.get(userID)?.find((x) => given.length === x.resumeToken.length && timingSafeEqual(given, x.resumeToken));
    if (!p) return { ok: false };
    if (lastSeq > p.seq) return { ok: false };
    this.prune(p, Date.now());
    const first = p.backlog[0]?.seq ?? p.seq + 1;
    if (lastSeq + 1 < first) return { ok: false }; // frames were dropped from the backlog: cannot replay exactly
    if (p.graceTimer) clearTimeout(p.graceTimer);
    p.graceTimer = undefined;
    p.graceUntil = undefined;
    const old = p.conn;
    p.conn = session;
    session.userID = userID;
    session.device = p.device;
    this.observer?.presenceChanged(userID);
    if (old && old !== session) {
      old.userID = null;
      old.device = null;
      old.close(1000, 'resumed on another connection');
    }
    return { ok: true, replay: p.backlog.filter((b) => b.seq > lastSeq).map((b) => b.json), token, device: p.device };
  }

  /**
   * The connection closed without logout. The presence stays for `graceMs`; then
   * `onExpire` runs (the device is gone). Returns false if this connection held no presence.
   */
  detach(session: Conn, graceMs: number, onExpire: GraceExpired): boolean {
    const p = this.presenceOf(session);
    if (!p) return false;
    p.conn = null;
    p.graceUntil = Date.now() + Math.max(0, graceMs);
    this.observer?.presenceChanged(p.userID);
    this.armGrace(p, graceMs, onExpire);
    return true;
  }

  /** Ends the presence held by this connection (logout); returns its device, if it held one. */
  unbind(session: Conn): string | undefined {
    const p = this.presenceOf(session);
    if (!p) return undefined;
    this.drop(p);
    return p.device;
  }

  send(userID: string, frame: ServerEventFrame, target?: DeviceTarget): boolean {
    const list = this.byUser.get(userID);
    if (!list) return false;
    let sent = false;
    // Serialized once for all devices: each copy only gets its own `seq` appended.
    let head: string | undefined;
    for (const p of list) {
      if (target?.only !== undefined && p.device !== target.only) continue;
      if (target?.except !== undefined && p.device === target.except) continue;
      sent = true;
      head ??= JSON.stringify(frame).slice(0, -1);
      const seq = ++p.seq;
      const now = Date.now();
      const entry: BacklogEntry = { at: now, seq, json: `${head},"seq":${seq}}` };
      p.backlog.push(entry);
      this.prune(p, now);
      if (this.observer) {
        this.observer.backlogAdded(userID, p.device, entry);
        this.observer.presenceChanged(userID);
      }
      p.conn?.sendJson(entry.json);
    }
    return sent;
  }

  isOnline(userID: string): boolean {
    return this.byUser.has(userID);
  }

  /** Users present (connected or within their reconnect grace), whatever their number of devices. */
  get size(): number {
    return this.byUser.size;
  }

  /** The user's devices' presences as data (undefined if not present). */
  snapshot(userID: string): PresenceSnapshot[] | undefined {
    const list = this.byUser.get(userID);
    if (!list) return undefined;
    return list.map((p) => ({
      userID,
      device: p.device,
      connId: p.conn?.id ?? null,
      token: p.resumeToken.toString('base64url'),
      seq: p.seq,
      ...(p.graceUntil !== undefined && { graceUntil: p.graceUntil }),
    }));
  }

  /**
   * Takes over presences another node kept: `connOf` gives the connection an id stands for;
   * devices whose connection was gone get the rest of their grace period.
   */
  restore(
    presences: readonly { presence: PresenceSnapshot; backlog: BacklogEntry[] }[],
    connOf: (id: string | number, userID: string, device: string) => Conn,
    onExpire: GraceExpired,
  ): void {
    const now = Date.now();
    for (const { presence: s, backlog } of presences) {
      const conn = s.connId === null ? null : connOf(s.connId, s.userID, s.device);
      const p: Presence = { userID: s.userID, device: s.device, conn, resumeToken: Buffer.from(s.token, 'base64url'), seq: s.seq, backlog, graceTimer: undefined, graceUntil: s.graceUntil };
      const list = this.byUser.get(s.userID);
      if (list) list.push(p);
      else this.byUser.set(s.userID, [p]);
      this.prune(p, now);
      if (conn === null) this.armGrace(p, (s.graceUntil ?? now) - now, onExpire);
    }
  }

  /** Stops every grace timer (the presences are handed over to another node). */
  dispose(): void {
    for (const list of this.byUser.values()) for (const p of list) if (p.graceTimer) clearTimeout(p.graceTimer);
    this.observer = undefined;
  }

  private presenceOf(session: Conn): Presence | undefined {
    const userID = session.userID;
    if (userID === null) return undefined;
    return this.byUser.get(userID)?.find((p) => p.conn === session);
  }

  private armGrace(p: Presence, ms: number, onExpire: GraceExpired): void {
    const expire = () => {
      if (!this.byUser.get(p.userID)?.includes(p) || p.conn !== null) return;
      this.drop(p);
      onExpire(p.userID, p.device);
    };
    if (ms <= 0) expire();
    else {
      p.graceTimer = setTimeout(expire, ms);
      p.graceTimer.unref();
    }
  }

  private prune(p: Presence, now: number): void {
    let drop = Math.max(0, p.backlog.length - BACKLOG_LIMIT);
    while (drop < p.backlog.length && now - p.backlog[drop]!.at > BACKLOG_MS) drop++;
    if (drop > 0) p.backlog.splice(0, drop);
  }

  private drop(p: Presence): void {
    if (p.graceTimer) clearTimeout(p.graceTimer);
    p.graceTimer = undefined;
    const list = this.byUser.get(p.userID);
    const i = list?.indexOf(p) ?? -1;
    if (i < 0) return;
    list!.splice(i, 1);
    if (list!.length === 0) this.byUser.delete(p.userID);
    this.observer?.presenceChanged(p.userID);
  }
}
