import type { CallType, MediaPath, MediaState, OfflinePushInfo } from '@opencall/protocol';
import type { TimerHandle } from '../clock.js';

/**
 * Where one user stands in one call.
 * - ringing: invited, not answered yet (the line counts as busy)
 * - joined: in the call (the sponsor is joined from the start)
 * - the rest are final outcomes, kept for the call record.
 */
export type MemberState = 'ringing' | 'joined' | 'left' | 'rejected' | 'busy' | 'no_answer' | 'cancelled';

export interface Member {
  userID: string;
  state: MemberState;
  media: MediaState;
  /** Members invited together share one timeout timer, so NO_RESP lists them together. */
  batch: number;
  /** The device of the user the call is on (set when they call, accept or join). */
  device?: string;
  /**
   * Ringing, this member relayed to someone in the call (its SDK opted into early media): relays
   * to it may flow before it accepts. Without it, nobody can make a ringing device start ICE.
   */
  earlyMedia?: true;
  /** `ready`/`sdp` relays and ICE candidates this member sent in this call (capped: CallLimits). */
  relays?: number;
  ice?: number;
}

/** A call as plain data, to hand over to another node (see cluster/). Timers are derived, not stored. */
export interface CallSnapshot {
  inviteID: string;
  roomID: number;
  callType: CallType;
  sponsor: string;
  createdAt: number;
  timeoutMs: number;
  groupID?: string;
  userData?: string;
  offlinePushInfo?: OfflinePushInfo;
  mediaPath: MediaPath;
  connectedAt?: number;
  members: Member[];
  /** [batch, ringing start] pairs. */
  batches: [number, number][];
  nextBatch: number;
  /** Audio/video switches so far (absent in snapshots from older nodes). */
  typeSwitches?: number;
  /** The groupID is only a label (OPENCALL_GROUPS=labels, no group of the caller's by that ID). */
  groupLabel?: true;
}

/** A call from invitation to end. The server's copy is the truth; clients mirror it. */
export class Call {
  readonly members = new Map<string, Member>();
  /** When the first invitee accepted (ms); undefined while nobody has. */
  connectedAt: number | undefined;
  endedAt: number | undefined;
  /** Audio/video switches so far (capped: each is a record row). */
  typeSwitches = 0;
  /**
   * The groupID names no group of the caller's (OPENCALL_GROUPS=labels): it is passed on to the
   * invitees, and nobody gains anything by group membership (joining, inviting more).
   */
  groupLabel = false;
  private readonly batchTimers = new Map<number, TimerHandle>();
  private nextBatch = 0;

  constructor(
    readonly inviteID: string,
    readonly roomID: number,
    public callType: CallType,
    readonly sponsor: string,
    readonly createdAt: number,
    /** Ringing timeout in ms: at most the engine's ringing ceiling (0 = never, in snapshots of older nodes only). */
    readonly timeoutMs: number,
    readonly groupID: string | undefined,
    readonly userData: string | undefined,
    readonly offlinePushInfo: OfflinePushInfo | undefined,
    /** Chosen at creation: group calls go through the SFU when one is configured. */
    readonly mediaPath: MediaPath = 'mesh',
  ) {}

  toSnapshot(): CallSnapshot {
    return {
      inviteID: this.inviteID,
      roomID: this.roomID,
      callType: this.callType,
      sponsor: this.sponsor,
      createdAt: this.createdAt,
      timeoutMs: this.timeoutMs,
      ...(this.groupID !== undefined && { groupID: this.groupID }),
      ...(this.userData !== undefined && { userData: this.userData }),
      ...(this.offlinePushInfo !== undefined && { offlinePushInfo: this.offlinePushInfo }),
      mediaPath: this.mediaPath,
      ...(this.connectedAt !== undefined && { connectedAt: this.connectedAt }),
      members: [...this.members.values()].map((m) => ({ ...m, media: { ...m.media } })),
      batches: [...this.batchStarts],
      nextBatch: this.nextBatch,
      typeSwitches: this.typeSwitches,
      ...(this.groupLabel && { groupLabel: true as const }),
    };
  }

  static fromSnapshot(s: CallSnapshot): Call {
    const call = new Call(s.inviteID, s.roomID, s.callType, s.sponsor, s.createdAt, s.timeoutMs, s.groupID, s.userData, s.offlinePushInfo, s.mediaPath);
    call.connectedAt = s.connectedAt;
    for (const m of s.members) call.members.set(m.userID, { ...m, media: { ...m.media } });
    for (const [b, at] of s.batches) call.batchStarts.set(b, at);
    call.nextBatch = s.nextBatch;
    call.typeSwitches = s.typeSwitches ?? 0;
    call.groupLabel = s.groupLabel === true;
    return call;
  }

  /** Batches that still ring, with when their ringing started (to re-arm their timeouts). */
  ringingBatches(): Map<number, number> {
    const out = new Map<number, number>();
    for (const m of this.members.values()) if (m.state === 'ringing') out.set(m.batch, this.batchStart(m.batch));
    return out;
  }

  get ended(): boolean {
    return this.endedAt !== undefined;
  }

  private readonly batchStarts = new Map<number, number>();

  /** A group of invitees rung together; `at` (ms) is when their ringing time starts. */
  newBatch(at: number = this.createdAt): number {
    this.batchStarts.set(this.nextBatch, at);
    return this.nextBatch++;
  }

  /** When a batch started ringing (the call's creation for the first invitees). */
  batchStart(batch: number): number {
    return this.batchStarts.get(batch) ?? this.createdAt;
  }

  setBatchTimer(batch: number, handle: TimerHandle): void {
    this.batchTimers.set(batch, handle);
  }

  takeBatchTimer(batch: number): TimerHandle | undefined {
    const t = this.batchTimers.get(batch);
    this.batchTimers.delete(batch);
    return t;
  }

  /** Removes and returns every pending timer (the call is ending). */
  takeAllTimers(): TimerHandle[] {
    const all = [...this.batchTimers.values()];
    this.batchTimers.clear();
    return all;
  }

  inState(state: MemberState): Member[] {
    const out: Member[] = [];
    for (const m of this.members.values()) if (m.state === state) out.push(m);
    return out;
  }

  /** Everyone invited (not the sponsor), as the INVITED payload's userIDList. */
  invitees(): string[] {
    const out: string[] = [];
    for (const id of this.members.keys()) if (id !== this.sponsor) out.push(id);
    return out;
  }

  /** True while the user may still take part: ringing or joined. */
  isActive(userID: string): boolean {
    const s = this.members.get(userID)?.state;
    return s === 'ringing' || s === 'joined';
  }
}
