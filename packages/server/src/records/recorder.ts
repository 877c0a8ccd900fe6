import type { Logger } from 'pino';
import type { CallOutcome, CallType, EndReason } from '@opencall/protocol';
import type { Call, Member, MemberState } from '../calls/call.js';
import type { CallEngine } from '../calls/call-engine.js';
import type { Clock } from '../clock.js';
import { durationSeconds } from './sql.js';
import type { CallRecordStore, MemberRow } from './types.js';

interface LiveMember {
  seq: number;
  role: 'caller' | 'invitee';
  invitedAt: number;
  joinedAt: number | null;
  leftAt: number | null;
  /** Was in the call at some point (an invitee who did is 'accepted' for good). */
  everJoined: boolean;
}

/** What the recorder keeps about a call still going on, as data (handed over with the call in a cluster). */
export interface LiveCallSnapshot {
  createdAt: number;
  members: [string, LiveMember][];
  nextSeq: number;
  answered: boolean;
  answer?: { userID: string; at: number };
  callType: CallType;
  switches: number;
}

interface LiveCall {
  createdAt: number;
  members: Map<string, LiveMember>;
  nextSeq: number;
  answered: boolean;
  /** Who answered first and when we noted it (the engine sets connectedAt a moment later). */
  answer?: { userID: string; at: number };
  callType: CallType;
  switches: number;
}

/**
 * The outcome a member's state stands for. An invitee who was ever in the call stays
 * 'accepted' (with joinedAt/leftAt); the caller is 'left' once out; ringing is still open.
 */
export function outcomeOf(role: 'caller' | 'invitee', state: MemberState, everJoined: boolean): CallOutcome | null {
  if (state === 'ringing') return null;
  if (role === 'caller') return state === 'joined' ? null : 'left';
  if (everJoined || state === 'joined' || state === 'left') return 'accepted';
  return state;
}

/**
 * Turns the engine's lifecycle events into record writes, as they happen. Runs inside the
 * engine's synchronous step: it reads the live Call/Member objects, queues writes (no I/O
 * here) and keeps a little state per call still going on.
 */
export class CallRecorder {
  private readonly live = new Map<string, LiveCall>();

  constructor(
    private readonly store: CallRecordStore,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  attach(engine: CallEngine): void {
    engine.events.on('callCreated', (call) => this.safely(() => this.created(call)));
    engine.events.on('memberChanged', (call, member, from) => this.safely(() => this.memberChanged(call, member, from)));
    engine.events.on('callEnded', (call, reason) => this.safely(() => this.ended(call, reason)));
  }

  /** The recorder's state for a call still going on (undefined if not recorded). */
  snapshot(inviteID: string): LiveCallSnapshot | undefined {
    const lc = this.live.get(inviteID);
    if (!lc) return undefined;
    return { ...lc, members: [...lc.members].map(([id, m]) => [id, { ...m }]) };
  }

  /** Goes on recording a call another node recorded so far. */
  restore(inviteID: string, s: LiveCallSnapshot): void {
    this.live.set(inviteID, { ...s, members: new Map(s.members.map(([id, m]) => [id, { ...m }])) });
  }

  /** Calls being recorded right now. */
  get liveCalls(): number {
    return this.live.size;
  }

  /** A party switched the call between audio and video (the router reports it). */
  callTypeChanged(inviteID: string, userID: string | null, callType: CallType): void {
    this.safely(() => {
      const lc = this.live.get(inviteID);
      if (!lc || lc.callType === callType) return;
      lc.callType = callType;
      this.store.write({ kind: 'switch', inviteID, seq: lc.switches++, at: this.clock.now(), userID, callType });
    });
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // Never let records break a call.
      this.log.error({ err, event: 'records.bug' }, 'call records: failed to record an engine event');
    }
  }

  private created(call: Call): void {
    this.live.set(call.inviteID, { createdAt: call.createdAt, members: new Map(), nextSeq: 0, answered: false, callType: call.callType, switches: 0 });
    this.store.write({
      kind: 'call',
      row: { inviteID: call.inviteID, roomID: call.roomID, sponsor: call.sponsor, groupID: call.groupID ?? null, callType: call.callType, createdAt: call.createdAt },
    });
  }

  private memberChanged(call: Call, member: Member, from: MemberState | null): void {
    const lc = this.live.get(call.inviteID);
    if (!lc) return; // created before records were attached
    this.noticeTypeChange(call, lc);
    const now = this.clock.now();
    let m = lc.members.get(member.userID);
    if (from === null) {
      // Added, or re-invited (the engine re-inserts them at the end of the invitee list).
      if (m) {
        m.seq = lc.nextSeq++;
        m.invitedAt = now;
      } else {
        m = { seq: lc.nextSeq++, role: member.userID === call.sponsor ? 'caller' : 'invitee', invitedAt: now, joinedAt: null, leftAt: null, everJoined: false };
        lc.members.set(member.userID, m);
      }
    }
    if (!m) return;
    if (member.state === 'joined') {
      m.joinedAt ??= m.role === 'caller' ? call.createdAt : now;
      m.leftAt = null;
      m.everJoined = true;
      if (from !== null && !lc.answered) {
        lc.answered = true;
        lc.answer = { userID: member.userID, at: m.joinedAt };
        this.store.write({ kind: 'answered', inviteID: call.inviteID, at: m.joinedAt });
      }
    } else if (member.state === 'left' && from === 'joined') {
      m.leftAt = call.endedAt ?? now;
    }
    this.writeMember(call, lc, member, m);
  }

  private writeMember(call: Call, lc: LiveCall, member: Member, m: LiveMember): void {
    const row: MemberRow = {
      inviteID: call.inviteID,
      userID: member.userID,
      seq: m.seq,
      role: m.role,
      state: member.state,
      outcome: outcomeOf(m.role, member.state, m.everJoined),
      invitedAt: m.invitedAt,
      joinedAt: m.joinedAt,
      leftAt: m.leftAt,
      callCreatedAt: lc.createdAt,
    };
    this.store.write({ kind: 'member', row });
  }

  private ended(call: Call, reason: EndReason): void {
    const lc = this.live.get(call.inviteID);
    if (!lc) return;
    this.noticeTypeChange(call, lc);
    this.live.delete(call.inviteID);
    const endedAt = call.endedAt ?? this.clock.now();
    const answeredAt = call.connectedAt ?? null;
    // The first answer was noted a moment before the engine set connectedAt (its own clock
    // read): make that member's joinedAt the answeredAt the record ends with.
    const first = lc.answer && lc.members.get(lc.answer.userID);
    const firstMember = lc.answer && call.members.get(lc.answer.userID);
    if (answeredAt !== null && first && firstMember && first.joinedAt === lc.answer!.at && answeredAt !== lc.answer!.at) {
      first.joinedAt = answeredAt;
      this.writeMember(call, lc, firstMember, first);
    }
    this.store.write({ kind: 'ended', inviteID: call.inviteID, endedAt, answeredAt, duration: durationSeconds(answeredAt, endedAt), reason });
  }

  /** A type change nobody reported (recorded without who made it). */
  private noticeTypeChange(call: Call, lc: LiveCall): void {
    if (call.callType !== lc.callType) this.callTypeChanged(call.inviteID, null, call.callType);
  }
}
