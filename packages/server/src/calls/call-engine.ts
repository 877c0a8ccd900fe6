import { randomInt, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  ErrorCode,
  type AcceptResult,
  type ClientMessageOf,
  type EndReason,
  type InviteResult,
  type MediaState,
  type ServerEventFrame,
} from '@opencall/protocol';
import type { Clock } from '../clock.js';
import { ProtocolError, refuse } from '../errors.js';
import type { Delivery } from '../sessions/session-registry.js';
import { Call, type Member } from './call.js';

const NO_MEDIA: MediaState = { audio: false, video: false };

export interface CallEngineOptions {
  delivery: Delivery;
  clock: Clock;
  log: Logger;
  maxInvitees: number;
}

/** Why a user stops being reachable; decides how their calls are wound up. */
export type GoneReason = 'logout' | 'disconnected' | 'kicked';

/**
 * The call state machine: invitations, answers, timeouts, busy lines and hang-ups.
 *
 * Every user is active in at most one call at a time (ringing or joined); that index is what
 * makes "busy" exact. All methods run synchronously to completion, so no two messages ever see
 * a call half-updated.
 */
export class CallEngine {
  private readonly calls = new Map<string, Call>();
  /** userID → the call that user is ringing in or joined to. */
  private readonly activeCall = new Map<string, Call>();
  private readonly delivery: Delivery;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxInvitees: number;

  constructor(o: CallEngineOptions) {
    this.delivery = o.delivery;
    this.clock = o.clock;
    this.log = o.log;
    this.maxInvitees = o.maxInvitees;
  }

  /** Number of calls not yet ended. */
  get size(): number {
    return this.calls.size;
  }

  /** The call the user is ringing in or joined to, if any (for tests and operations). */
  activeCallOf(userID: string): Call | undefined {
    return this.activeCall.get(userID);
  }

  /**
   * Starts a call. `onCreated` runs once the call exists and before anyone hears of it,
   * so the sponsor learns the inviteID before any LINE_BUSY for it.
   */
  invite(sponsor: string, msg: ClientMessageOf<'invite'>, onCreated: (r: InviteResult) => void): void {
    if (this.activeCall.has(sponsor)) {
      throw new ProtocolError(ErrorCode.SELF_BUSY, 'you are already ringing or in a call; hang up first');
    }
    const invitees = [...new Set(msg.invitees)];
    if (invitees.includes(sponsor)) throw new ProtocolError(ErrorCode.INVALID_MESSAGE, 'you cannot invite yourself');
    if (invitees.length > this.maxInvitees) {
      throw new ProtocolError(ErrorCode.INVALID_MESSAGE, `at most ${this.maxInvitees} invitees per call`);
    }
    const now = this.clock.now();
    const call = new Call(
      randomUUID(),
      randomInt(1, 2 ** 31 - 1),
      msg.callType,
      sponsor,
      now,
      msg.timeout * 1000,
      msg.groupID,
      msg.userData,
      msg.offlinePushInfo,
    );
    this.calls.set(call.inviteID, call);
    call.members.set(sponsor, { userID: sponsor, state: 'joined', media: msg.media ?? NO_MEDIA, batch: -1 });
    this.activeCall.set(sponsor, call);
    const batch = call.newBatch();
    for (const userID of invitees) {
      const busy = this.activeCall.has(userID);
      call.members.set(userID, { userID, state: busy ? 'busy' : 'ringing', media: NO_MEDIA, batch });
      if (!busy) this.activeCall.set(userID, call);
    }
    this.log.info(
      { event: 'call.created', inviteID: call.inviteID, roomID: call.roomID, sponsor, invitees, callType: call.callType, timeoutMs: call.timeoutMs, groupID: call.groupID },
      'call created',
    );
    onCreated({ inviteID: call.inviteID, roomID: call.roomID });

    for (const m of call.members.values()) {
      if (m.state === 'ringing') this.ring(call, m);
      else if (m.state === 'busy') {
        this.log.info({ event: 'call.busy', inviteID: call.inviteID, userID: m.userID }, 'invitee busy');
        this.notifyJoined(call, { t: 'busy', inviteID: call.inviteID, userID: m.userID });
      }
    }
    if (call.timeoutMs > 0 && call.inState('ringing').length > 0) {
      call.setBatchTimer(batch, this.clock.setTimeout(() => this.expireBatch(call, batch), call.timeoutMs));
    }
    this.settle(call, 'busy');
  }

  accept(userID: string, msg: ClientMessageOf<'accept'>): AcceptResult {
    const { call, member } = this.memberOf(userID, msg.inviteID);
    if (member.state !== 'ringing') throw refuse.state(`cannot accept: you are ${member.state} in call ${call.inviteID}`);
    member.state = 'joined';
    member.media = msg.media ?? NO_MEDIA;
    call.connectedAt ??= this.clock.now();
    this.clearBatchIfDone(call, member.batch);
    this.log.info({ event: 'call.accepted', inviteID: call.inviteID, userID }, 'invitee accepted');
    this.notifyJoined(call, { t: 'accepted', inviteID: call.inviteID, userID, media: member.media }, userID);
    const participants = call.inState('joined').filter((m) => m.userID !== userID).map((m) => ({ userID: m.userID, media: m.media }));
    return { inviteID: call.inviteID, roomID: call.roomID, participants };
  }

  reject(userID: string, msg: ClientMessageOf<'reject'>): void {
    const { call, member } = this.memberOf(userID, msg.inviteID);
    if (member.state !== 'ringing') throw refuse.state(`cannot reject: you are ${member.state} in call ${call.inviteID}`);
    this.decline(call, member, msg.busy ? 'busy' : 'rejected');
    this.settle(call, msg.busy ? 'busy' : 'rejected');
  }

  /**
   * Hang up in the spec's sense: a ringing invitee declines, a sponsor nobody answered yet
   * cancels, anyone in a connected call leaves it. Returns the call duration if it ended.
   */
  hangup(userID: string, inviteID: string): { ended: boolean; duration: number } {
    const { call, member } = this.memberOf(userID, inviteID);
    this.leave(call, member, 'hangup');
    return { ended: call.ended, duration: this.durationOf(call) };
  }

  /** Forwards SDP/ICE between two active parties of a call. */
  relay(userID: string, msg: ClientMessageOf<'relay'>): void {
    const { call, member } = this.memberOf(userID, msg.inviteID);
    const target = call.members.get(msg.to);
    if (!target || msg.to === userID) throw refuse.notParticipant(call.inviteID);
    const activeStates = ['ringing', 'joined'];
    if (!activeStates.includes(member.state) || !activeStates.includes(target.state)) {
      throw refuse.state(`cannot relay: ${member.state === 'joined' || member.state === 'ringing' ? msg.to : 'you'} left call ${call.inviteID}`);
    }
    // Two ringing invitees have no business talking to each other.
    if (member.state !== 'joined' && target.state !== 'joined') throw refuse.state('cannot relay between two ringing invitees');
    if (!this.delivery.send(msg.to, { t: 'relay', inviteID: call.inviteID, from: userID, payload: msg.payload })) {
      throw new ProtocolError(ErrorCode.PEER_UNAVAILABLE, `${msg.to} is offline`);
    }
  }

  /** Records what a party sends and tells the others (USER_AUDIO/VIDEO_AVAILABLE). */
  media(userID: string, msg: ClientMessageOf<'media'>): void {
    const { call, member } = this.memberOf(userID, msg.inviteID);
    if (!call.isActive(userID)) throw refuse.state(`you left call ${call.inviteID}`);
    member.media = { audio: msg.audio, video: msg.video };
    const frame: ServerEventFrame = { t: 'media', inviteID: call.inviteID, userID, audio: msg.audio, video: msg.video };
    for (const m of call.members.values()) {
      if (m.userID !== userID && (m.state === 'joined' || m.state === 'ringing')) this.delivery.send(m.userID, frame);
    }
  }

  /** A user came online: invitations still ringing for them are delivered now. */
  userOnline(userID: string): void {
    const call = this.activeCall.get(userID);
    const member = call?.members.get(userID);
    if (call && member?.state === 'ringing') this.ring(call, member);
  }

  /**
   * A user's session ended. Calls they were in are left (the others see USER_LEAVE); a call
   * they were making and nobody answered is cancelled. Invitations ringing for them keep
   * ringing: the user may be back (reload, new tab) before the timeout.
   */
  userGone(userID: string, reason: GoneReason): void {
    const call = this.activeCall.get(userID);
    const member = call?.members.get(userID);
    if (!call || !member || member.state !== 'joined') return;
    this.leave(call, member, reason);
  }

  /** Ends every call (server shutdown). */
  endAll(): void {
    for (const call of [...this.calls.values()]) this.end(call, 'hangup');
  }

  // ---- internals ----

  private memberOf(userID: string, inviteID: string): { call: Call; member: Member } {
    const call = this.calls.get(inviteID);
    if (!call) throw refuse.notFound(inviteID);
    const member = call.members.get(userID);
    if (!member) throw refuse.notParticipant(inviteID);
    return { call, member };
  }

  private ring(call: Call, member: Member): void {
    const elapsed = this.clock.now() - call.createdAt;
    const timeout = call.timeoutMs === 0 ? 0 : Math.max(1, Math.ceil((call.timeoutMs - elapsed) / 1000));
    const delivered = this.delivery.send(member.userID, {
      t: 'invited',
      inviteID: call.inviteID,
      roomID: call.roomID,
      sponsor: call.sponsor,
      userIDList: call.invitees(),
      isFromGroup: call.groupID !== undefined,
      ...(call.groupID !== undefined && { groupID: call.groupID }),
      callType: call.callType,
      timeout,
      ...(call.userData !== undefined && { userData: call.userData }),
      ...(call.offlinePushInfo !== undefined && { offlinePushInfo: call.offlinePushInfo }),
      media: call.members.get(call.sponsor)?.media ?? NO_MEDIA,
    });
    this.log.info({ event: 'call.ringing', inviteID: call.inviteID, userID: member.userID, delivered }, delivered ? 'ringing' : 'invitee offline; will ring on login');
  }

  private expireBatch(call: Call, batch: number): void {
    call.takeBatchTimer(batch);
    if (call.ended) return;
    const expired = call.inState('ringing').filter((m) => m.batch === batch);
    if (expired.length === 0) return;
    for (const m of expired) {
      m.state = 'no_answer';
      this.activeCall.delete(m.userID);
      this.delivery.send(m.userID, { t: 'timedOut', inviteID: call.inviteID });
    }
    const userIDList = expired.map((m) => m.userID);
    this.log.info({ event: 'call.no_answer', inviteID: call.inviteID, userIDList }, 'invitees did not answer');
    this.notifyJoined(call, { t: 'noResp', inviteID: call.inviteID, userIDList });
    this.settle(call, 'no_answer');
  }

  private clearBatchIfDone(call: Call, batch: number): void {
    if (call.inState('ringing').some((m) => m.batch === batch)) return;
    const t = call.takeBatchTimer(batch);
    if (t !== undefined) this.clock.clearTimeout(t);
  }

  private decline(call: Call, member: Member, outcome: 'rejected' | 'busy'): void {
    member.state = outcome;
    this.activeCall.delete(member.userID);
    this.clearBatchIfDone(call, member.batch);
    this.log.info({ event: outcome === 'busy' ? 'call.busy' : 'call.rejected', inviteID: call.inviteID, userID: member.userID }, `invitee ${outcome}`);
    this.notifyJoined(call, { t: outcome === 'busy' ? 'busy' : 'rejected', inviteID: call.inviteID, userID: member.userID });
  }

  private leave(call: Call, member: Member, reason: 'hangup' | GoneReason): void {
    if (call.ended) return;
    if (member.state === 'ringing') {
      this.decline(call, member, 'rejected');
      this.settle(call, 'rejected');
      return;
    }
    if (member.state !== 'joined') throw refuse.state(`you already ${member.state === 'left' ? 'left' : member.state} call ${call.inviteID}`);
    if (member.userID === call.sponsor && call.connectedAt === undefined) {
      // Nobody answered yet: the sponsor hanging up cancels the invitation for everyone.
      // The sponsor already knows (its own request or disconnect), so it gets no `ended`.
      member.state = 'left';
      this.activeCall.delete(member.userID);
      this.log.info({ event: 'call.cancelled', inviteID: call.inviteID, reason }, 'sponsor cancelled');
      this.end(call, 'cancelled');
      return;
    }
    member.state = 'left';
    this.activeCall.delete(member.userID);
    this.log.info({ event: 'call.left', inviteID: call.inviteID, userID: member.userID, reason }, 'participant left');
    this.notifyJoined(call, { t: 'left', inviteID: call.inviteID, userID: member.userID });
    this.settle(call, reason === 'hangup' ? 'hangup' : reason);
  }

  /**
   * Ends the call when it can no longer go on: fewer than two people in it and nobody left
   * ringing who could make it two again.
   */
  private settle(call: Call, reason: EndReason): void {
    if (call.ended) return;
    const joined = call.inState('joined').length;
    const ringing = call.inState('ringing').length;
    if (joined >= 2 || (joined === 1 && ringing > 0)) return;
    this.end(call, reason);
  }

  private end(call: Call, reason: EndReason): void {
    if (call.ended) return;
    call.endedAt = this.clock.now();
    for (const t of call.takeAllTimers()) this.clock.clearTimeout(t);
    const duration = this.durationOf(call);
    for (const m of call.members.values()) {
      if (m.state === 'ringing') {
        m.state = 'cancelled';
        this.delivery.send(m.userID, { t: 'cancelled', inviteID: call.inviteID, sponsor: call.sponsor });
      } else if (m.state === 'joined') {
        m.state = 'left';
        this.delivery.send(m.userID, {
          t: 'ended',
          inviteID: call.inviteID,
          roomID: call.roomID,
          callType: call.callType,
          connected: call.connectedAt !== undefined,
          duration,
          reason,
        });
      } else continue;
      if (this.activeCall.get(m.userID) === call) this.activeCall.delete(m.userID);
    }
    this.calls.delete(call.inviteID);
    this.log.info(
      {
        event: 'call.ended',
        inviteID: call.inviteID,
        reason,
        connected: call.connectedAt !== undefined,
        duration,
        outcomes: Object.fromEntries([...call.members.values()].map((m) => [m.userID, m.state])),
      },
      'call ended',
    );
  }

  private durationOf(call: Call): number {
    if (call.connectedAt === undefined) return 0;
    return Math.round(((call.endedAt ?? this.clock.now()) - call.connectedAt) / 1000);
  }

  private notifyJoined(call: Call, frame: ServerEventFrame, except?: string): void {
    for (const m of call.members.values()) {
      if (m.state === 'joined' && m.userID !== except) this.delivery.send(m.userID, frame);
    }
  }
}
