import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
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
import type { GroupStore } from '../groups/group-store.js';
import type { Delivery } from '../sessions/session-registry.js';
import { Call, type CallSnapshot, type Member, type MemberState } from './call.js';
import { DEFAULT_CALL_LIMITS, InvitationLimiter, ringMs, type CallLimits } from './call-limits.js';
import { newInviteID } from './invite-id.js';

/**
 * What the engine reports as calls move, for call records and metrics. Listeners run
 * synchronously inside the engine's step and must not throw or block; the Call and Member
 * objects are live, so read what you need before returning.
 */
export interface CallEngineEvents {
  callCreated: [call: Call];
  /** A member's state changed (`from` null: the member was just added). */
  memberChanged: [call: Call, member: Member, from: MemberState | null];
  callEnded: [call: Call, reason: EndReason];
  /** Something else about the call changed (media state, audio/video type): for handing state over. */
  callUpdated: [call: Call];
}

const NO_MEDIA: MediaState = { audio: false, video: false };
/** How long a party's late messages about an ended call are dropped quietly, and how many calls are remembered. */
const RECENTLY_ENDED_MS = 30_000;
const RECENTLY_ENDED_MAX = 50_000;

export interface CallEngineOptions {
  delivery: Delivery;
  clock: Clock;
  log: Logger;
  maxInvitees: number;
  groups: GroupStore;
  /** Most people a mesh call may hold at once (ringing or joined). */
  maxParticipants: number;
  /** Said in the TOO_MANY_PARTICIPANTS error so operators know which knob to turn. */
  participantsLimitHint: string;
  /** When set, group calls go through the SFU, with this many people at most. */
  sfuMaxParticipants?: number;
  /**
   * Every device of an invitee rings (OPENCALL_MULTI_DEVICE=ring-all): invitees are then told
   * not to prepare media while ringing, since which device will answer is not known yet.
   */
  ringAllDevices?: boolean;
  /** Invitation rates, ringing ceiling and per-call caps (defaults: DEFAULT_CALL_LIMITS). */
  limits?: Partial<CallLimits>;
  /**
   * OPENCALL_GROUPS=enforced: every groupID must name a group (admin API) the caller is in.
   * Default false ('labels'): a groupID that names no group of the caller's is a label only.
   */
  enforceGroups?: boolean;
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
  /** Lifecycle events for observers (records, metrics). */
  readonly events = new EventEmitter<CallEngineEvents>();
  private readonly calls = new Map<string, Call>();
  private readonly byRoom = new Map<number, Call>();
  /**
   * Calls that ended in the last RECENTLY_ENDED_MS, with who was in them: SDP/ICE or mute
   * changes a party sent just before hearing of the end are expected, not errors (see wasIn).
   */
  private readonly recentlyEnded = new Map<string, { at: number; members: string[] }>();
  /** userID → the call that user is ringing in or joined to. */
  private readonly activeCall = new Map<string, Call>();
  private readonly delivery: Delivery;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxInvitees: number;
  private readonly groups: GroupStore;
  private readonly maxParticipants: number;
  private readonly limitHint: string;
  private readonly sfuMax: number | undefined;
  private readonly ringAll: boolean;
  private readonly enforceGroups: boolean;
  private readonly limits: CallLimits;
  /** Invitation and ring rates per caller (state kept on this node only; see call-limits.ts). */
  private readonly invitations: InvitationLimiter;

  constructor(o: CallEngineOptions) {
    this.delivery = o.delivery;
    this.clock = o.clock;
    this.log = o.log;
    this.maxInvitees = o.maxInvitees;
    this.groups = o.groups;
    this.maxParticipants = o.maxParticipants;
    this.limitHint = o.participantsLimitHint;
    this.sfuMax = o.sfuMaxParticipants;
    this.ringAll = o.ringAllDevices ?? false;
    this.enforceGroups = o.enforceGroups ?? false;
    this.limits = { ...DEFAULT_CALL_LIMITS, ...o.limits };
    this.invitations = new InvitationLimiter(this.limits);
  }

  /** Rate-limit buckets held (bounded; for tests). */
  get rateBuckets(): { callers: number; pairs: number } {
    return this.invitations.size;
  }

  /** A call by id, for the SFU bridge (undefined once ended). */
  get(inviteID: string): Call | undefined {
    return this.calls.get(inviteID);
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
  invite(sponsor: string, msg: ClientMessageOf<'invite'>, onCreated: (r: InviteResult) => void, device?: string): void {
    if (this.activeCall.has(sponsor)) {
      throw new ProtocolError(ErrorCode.SELF_BUSY, 'you are already ringing or in a call; hang up first');
    }
    const invitees = [...new Set(msg.invitees)];
    if (invitees.includes(sponsor)) throw new ProtocolError(ErrorCode.INVALID_MESSAGE, 'you cannot invite yourself');
    if (invitees.length > this.maxInvitees) {
      throw new ProtocolError(ErrorCode.INVALID_MESSAGE, `at most ${this.maxInvitees} invitees per call`);
    }
    const mediaPath = this.sfuMax !== undefined && (invitees.length > 1 || msg.groupID !== undefined) ? 'sfu' : 'mesh';
    this.checkSize(invitees.length + 1, mediaPath);
    const groupLabel = msg.groupID !== undefined && this.isLabel(msg.groupID, sponsor);
    if (msg.groupID !== undefined && !groupLabel) this.checkGroup(msg.groupID, sponsor, invitees);
    const now = this.clock.now();
    // Last check: a refused invitation rings nobody and writes no record.
    this.invitations.admit(sponsor, invitees, now);
    const call = new Call(
      newInviteID(),
      randomInt(1, 2 ** 31 - 1),
      msg.callType,
      sponsor,
      now,
      ringMs(msg.timeout, this.limits.maxRingMs),
      msg.groupID,
      msg.userData,
      msg.offlinePushInfo,
      mediaPath,
    );
    call.groupLabel = groupLabel;
    this.calls.set(call.inviteID, call);
    this.byRoom.set(call.roomID, call);
    this.events.emit('callCreated', call);
    this.addMember(call, { userID: sponsor, state: 'joined', media: msg.media ?? NO_MEDIA, batch: -1, ...(device !== undefined && { device }) });
    this.activeCall.set(sponsor, call);
    const batch = call.newBatch();
    for (const userID of invitees) {
      const busy = this.activeCall.has(userID);
      this.addMember(call, { userID, state: busy ? 'busy' : 'ringing', media: NO_MEDIA, batch });
      if (!busy) this.activeCall.set(userID, call);
    }
    this.log.info(
      { event: 'call.created', inviteID: call.inviteID, roomID: call.roomID, sponsor, invitees, callType: call.callType, timeoutMs: call.timeoutMs, groupID: call.groupID },
      'call created',
    );
    onCreated({ inviteID: call.inviteID, roomID: call.roomID, mediaPath });

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

  accept(userID: string, msg: ClientMessageOf<'accept'>, device?: string): AcceptResult {
    const { call, member } = this.memberOf(userID, msg.inviteID, device);
    if (member.state !== 'ringing') throw refuse.state(`cannot accept: you are ${member.state} in call ${call.inviteID}`);
    this.clearBatchIfDone(call, member.batch, member);
    return this.admit(call, member, msg.media, 'call.accepted', device);
  }

  /**
   * Invites more users into a running call (TUICallKit's inviteUser). Users already ringing or
   * in the call are skipped; users who declined or timed out earlier ring again.
   */
  addInvitees(userID: string, msg: ClientMessageOf<'addInvitees'>, device?: string): { userIDList: string[] } {
    const { call, member } = this.memberOf(userID, msg.inviteID, device);
    if (member.state !== 'joined') throw refuse.state('only a participant in the call can invite more users');
    const fresh = [...new Set(msg.invitees)].filter((id) => !call.isActive(id));
    if (fresh.length === 0) return { userIDList: call.invitees() };
    const active = call.inState('ringing').length + call.inState('joined').length;
    this.checkSize(active + fresh.length, call.mediaPath);
    if (call.invitees().length + fresh.filter((id) => !call.members.has(id)).length > this.maxInvitees) {
      throw new ProtocolError(ErrorCode.INVALID_MESSAGE, `at most ${this.maxInvitees} invitees per call`);
    }
    if (call.groupID !== undefined && !call.groupLabel) this.checkGroup(call.groupID, userID, fresh);
    const now = this.clock.now();
    this.invitations.admit(userID, fresh, now);
    const batch = call.newBatch(now);
    const ringing: Member[] = [];
    for (const id of fresh) {
      const busy = this.activeCall.has(id);
      const m: Member = { userID: id, state: busy ? 'busy' : 'ringing', media: NO_MEDIA, batch };
      const before = call.members.get(id);
      // Relay counts stay with the user for the whole call (a re-invite does not reset the caps).
      if (before?.relays !== undefined) m.relays = before.relays;
      if (before?.ice !== undefined) m.ice = before.ice;
      call.members.delete(id); // re-insert so the invitee order follows invitation order
      this.addMember(call, m);
      if (busy) {
        this.log.info({ event: 'call.busy', inviteID: call.inviteID, userID: id }, 'invitee busy');
        this.notifyJoined(call, { t: 'busy', inviteID: call.inviteID, userID: id });
      } else {
        this.activeCall.set(id, call);
        ringing.push(m);
      }
    }
    this.log.info({ event: 'call.invited_more', inviteID: call.inviteID, by: userID, invitees: fresh }, 'more invitees');
    const userIDList = call.invitees();
    this.notifyActive(call, { t: 'inviteeList', inviteID: call.inviteID, userIDList });
    for (const m of ringing) this.ring(call, m);
    if (call.timeoutMs > 0 && ringing.length > 0) {
      call.setBatchTimer(batch, this.clock.setTimeout(() => this.expireBatch(call, batch), call.timeoutMs));
    }
    return { userIDList };
  }

  /**
   * Joins a running call (TUICallKit's joinInGroupCall): someone invited earlier (even if they
   * declined or missed it), or a member of the call's group.
   */
  join(userID: string, msg: ClientMessageOf<'join'>, device?: string): AcceptResult {
    const call = msg.inviteID !== undefined ? this.calls.get(msg.inviteID) : this.byRoom.get(msg.roomID!);
    const notFound = () => refuse.notFound(msg.inviteID ?? `in room ${msg.roomID}`);
    if (!call || (msg.groupID !== undefined && call.groupID !== msg.groupID) || (msg.roomID !== undefined && call.roomID !== msg.roomID)) {
      throw notFound();
    }
    const existing = call.members.get(userID);
    if (existing?.state === 'ringing') {
      this.checkDevice(call, existing, device);
      this.clearBatchIfDone(call, existing.batch, existing);
      return this.admit(call, existing, msg.media, 'call.joined', device);
    }
    if (existing?.state === 'joined') throw refuse.state(`you are already in call ${call.inviteID}`);
    // Someone with no business in the call cannot tell it from one that does not exist.
    if (!existing && !(call.groupID !== undefined && !call.groupLabel && this.groups.members(call.groupID)?.has(userID))) throw notFound();
    if (this.activeCall.has(userID)) throw new ProtocolError(ErrorCode.SELF_BUSY, 'you are already ringing or in a call; hang up first');
    this.checkSize(call.inState('ringing').length + call.inState('joined').length + 1, call.mediaPath);
    const member: Member = existing ?? { userID, state: 'ringing', media: NO_MEDIA, batch: -1 };
    if (!existing) this.addMember(call, member);
    this.activeCall.set(userID, call);
    return this.admit(call, member, msg.media, 'call.joined', device);
  }

  reject(userID: string, msg: ClientMessageOf<'reject'>, device?: string): void {
    const { call, member } = this.memberOf(userID, msg.inviteID, device);
    if (member.state !== 'ringing') throw refuse.state(`cannot reject: you are ${member.state} in call ${call.inviteID}`);
    this.decline(call, member, msg.busy ? 'busy' : 'rejected', device);
    this.settle(call, msg.busy ? 'busy' : 'rejected');
  }

  /**
   * Hang up in the spec's sense: a ringing invitee declines, a sponsor nobody answered yet
   * cancels, anyone in a connected call leaves it. Returns the call duration if it ended.
   */
  hangup(userID: string, inviteID: string, device?: string): { ended: boolean; duration: number } {
    const { call, member } = this.memberOf(userID, inviteID, device);
    this.leave(call, member, 'hangup', device);
    return { ended: call.ended, duration: this.durationOf(call) };
  }

  /** Forwards SDP/ICE between two active parties of a call. */
  relay(userID: string, msg: ClientMessageOf<'relay'>, device?: string): void {
    const { call, member } = this.memberOf(userID, msg.inviteID, device);
    const target = call.members.get(msg.to);
    if (!target || msg.to === userID) throw refuse.notParticipant(call.inviteID);
    const activeStates = ['ringing', 'joined'];
    if (!activeStates.includes(member.state) || !activeStates.includes(target.state)) {
      throw refuse.state(`cannot relay: ${member.state === 'joined' || member.state === 'ringing' ? msg.to : 'you'} left call ${call.inviteID}`);
    }
    // Two ringing invitees have no business talking to each other.
    if (member.state !== 'joined' && target.state !== 'joined') throw refuse.state('cannot relay between two ringing invitees');
    // Privacy: SDP/ICE make a device start ICE and reveal its addresses; a ringing one only
    // takes them once it opted into early media (by relaying first) or accepted.
    if (member.state !== 'ringing' && target.state === 'ringing' && !target.earlyMedia) {
      throw refuse.state(`cannot relay to ${msg.to} before they accept: they did not opt into early media (they send the first relay when they do)`);
    }
    this.countSignal(call, member, msg.payload.kind === 'ice');
    if (member.state === 'ringing') this.optIntoEarlyMedia(call, member);
    const delivered = this.sendTo(target, { t: 'relay', inviteID: call.inviteID, from: userID, payload: msg.payload });
    // Whether someone merely invited is online is theirs to tell (by answering): not said here.
    if (!delivered && target.state === 'joined') throw new ProtocolError(ErrorCode.PEER_UNAVAILABLE, `${msg.to} is offline`);
  }

  /**
   * A ringing member's relay is its opt-in to early media. Not when every device rings
   * (ring-all): they were told not to connect before answering, and relays would reach them all.
   */
  private optIntoEarlyMedia(call: Call, member: Member): void {
    if (member.earlyMedia || this.ringAll) return;
    member.earlyMedia = true;
    this.events.emit('callUpdated', call);
  }

  /** Records what a party sends and tells the others (USER_AUDIO/VIDEO_AVAILABLE). */
  media(userID: string, msg: ClientMessageOf<'media'>, device?: string): void {
    const { call, member } = this.memberOf(userID, msg.inviteID, device);
    if (!call.isActive(userID)) throw refuse.state(`you left call ${call.inviteID}`);
    member.media = { audio: msg.audio, video: msg.video };
    this.events.emit('callUpdated', call);
    const frame: ServerEventFrame = { t: 'media', inviteID: call.inviteID, userID, audio: msg.audio, video: msg.video };
    for (const m of call.members.values()) {
      if (m.userID !== userID && (m.state === 'joined' || m.state === 'ringing')) this.sendTo(m, frame);
    }
  }

  /** Switches a connected 1:1 call between audio and video; the other party is told. */
  switchCallType(userID: string, msg: ClientMessageOf<'callType'>, device?: string): void {
    const { call, member } = this.memberOf(userID, msg.inviteID, device);
    if (member.state !== 'joined' || call.connectedAt === undefined) throw refuse.state('the call is not connected');
    if (call.members.size !== 2) throw refuse.state('audio/video switching is for 1:1 calls only');
    const other = [...call.members.values()].find((m) => m.userID !== userID);
    if (other?.state !== 'joined') throw refuse.state('the other party has left');
    if (call.callType === msg.callType) return;
    // Each switch is a record row: a call has a bounded number of them.
    if (call.typeSwitches >= this.limits.maxTypeSwitches) {
      throw new ProtocolError(ErrorCode.RATE_LIMITED, `call ${call.inviteID} was switched between audio and video ${this.limits.maxTypeSwitches} times, the most this server allows; it goes on as it is`);
    }
    call.typeSwitches++;
    call.callType = msg.callType;
    this.events.emit('callUpdated', call);
    this.log.info({ event: 'call.type_changed', inviteID: call.inviteID, userID, callType: msg.callType }, 'call type changed');
    this.sendTo(other, { t: 'callType', inviteID: call.inviteID, userID, callType: msg.callType });
  }

  /** A user (or one more device of theirs) came online: an invitation still ringing for them rings there now. */
  userOnline(userID: string, device?: string): void {
    const call = this.activeCall.get(userID);
    const member = call?.members.get(userID);
    if (!call || member?.state !== 'ringing') return;
    // The device that rings now has not opted into early media (yet): it says so by relaying.
    if (member.earlyMedia) {
      delete member.earlyMedia;
      this.events.emit('callUpdated', call);
    }
    this.ring(call, member, device);
  }

  /**
   * A user's session ended. Calls they were in are left (the others see USER_LEAVE); a call
   * they were making and nobody answered is cancelled. Invitations ringing for them keep
   * ringing: the user may be back (reload, new tab) before the timeout.
   */
  userGone(userID: string, reason: GoneReason, device?: string): void {
    const call = this.activeCall.get(userID);
    const member = call?.members.get(userID);
    if (!call || !member || member.state !== 'joined') return;
    // A device the call is not on going away leaves the call alone.
    if (device !== undefined && member.device !== undefined && member.device !== device) return;
    this.leave(call, member, reason);
  }

  /** The call's state as data (undefined once it ended), to hand over to another node. */
  snapshot(inviteID: string): CallSnapshot | undefined {
    return this.calls.get(inviteID)?.toSnapshot();
  }

  /** Every call going on, as data. */
  snapshotAll(): CallSnapshot[] {
    return [...this.calls.values()].map((c) => c.toSnapshot());
  }

  /**
   * Takes over calls another node ran (it died or stepped down): indexes them and re-arms
   * every ringing timeout from when that ringing started, so a timeout that was due while
   * nobody ran the calls fires now, once.
   */
  restore(snapshots: readonly CallSnapshot[]): Call[] {
    const restored: Call[] = [];
    for (const s of snapshots) {
      if (this.calls.has(s.inviteID)) continue;
      // A call from a node with another (or no) ringing ceiling rings at most as long as this one allows.
      const call = Call.fromSnapshot({ ...s, timeoutMs: s.timeoutMs === 0 ? this.limits.maxRingMs : Math.min(s.timeoutMs, this.limits.maxRingMs) });
      this.calls.set(call.inviteID, call);
      this.byRoom.set(call.roomID, call);
      for (const m of call.members.values()) if (m.state === 'ringing' || m.state === 'joined') this.activeCall.set(m.userID, call);
      if (call.timeoutMs > 0) {
        for (const [batch, start] of call.ringingBatches()) {
          const left = Math.max(0, start + call.timeoutMs - this.clock.now());
          call.setBatchTimer(batch, this.clock.setTimeout(() => this.expireBatch(call, batch), left));
        }
      }
      restored.push(call);
    }
    return restored;
  }

  /** Ends one call now (a call that cannot go on, e.g. an SFU call whose media node was lost). */
  endCall(inviteID: string, reason: EndReason): void {
    const call = this.calls.get(inviteID);
    if (call) this.end(call, reason);
  }

  /**
   * Stops every timer without ending anything: this engine's calls are handed over to another
   * node (cluster step-down), which re-arms them from the handed-over state.
   */
  dispose(): void {
    for (const call of this.calls.values()) for (const t of call.takeAllTimers()) this.clock.clearTimeout(t);
    this.events.removeAllListeners();
  }

  /** Whether the user was a member of this call, which ended moments ago. */
  wasIn(inviteID: string, userID: string): boolean {
    return !this.calls.has(inviteID) && (this.recentlyEnded.get(inviteID)?.members.includes(userID) ?? false);
  }

  private rememberEnded(call: Call): void {
    const now = this.clock.now();
    for (const [id, e] of this.recentlyEnded) {
      if (now - e.at < RECENTLY_ENDED_MS && this.recentlyEnded.size < RECENTLY_ENDED_MAX) break;
      this.recentlyEnded.delete(id);
    }
    // An array, not a Set: most calls have two members, and 50,000 of these live for 30 s.
    this.recentlyEnded.set(call.inviteID, { at: now, members: [...call.members.keys()] });
  }

  /** Ends every call (server shutdown). */
  endAll(): void {
    for (const call of [...this.calls.values()]) this.end(call, 'hangup');
  }

  // ---- internals ----

  private addMember(call: Call, member: Member): void {
    call.members.set(member.userID, member);
    this.events.emit('memberChanged', call, member, null);
  }

  private setState(call: Call, member: Member, state: MemberState): void {
    const from = member.state;
    member.state = state;
    this.events.emit('memberChanged', call, member, from);
  }

  /** Makes a member a participant and tells everyone already in. */
  private admit(call: Call, member: Member, media: MediaState | undefined, event: string, device?: string): AcceptResult {
    if (device !== undefined) member.device = device;
    this.setState(call, member, 'joined');
    member.media = media ?? NO_MEDIA;
    // The user's other devices stop ringing.
    if (device !== undefined) this.delivery.send(member.userID, { t: 'cancelled', inviteID: call.inviteID, sponsor: call.sponsor, reason: 'answered_elsewhere' }, { except: device });
    call.connectedAt ??= this.clock.now();
    this.log.info({ event, inviteID: call.inviteID, userID: member.userID }, 'participant joined');
    this.notifyJoined(call, { t: 'accepted', inviteID: call.inviteID, userID: member.userID, media: member.media }, member.userID);
    const participants = call.inState('joined').filter((m) => m.userID !== member.userID).map((m) => ({ userID: m.userID, media: m.media }));
    return {
      inviteID: call.inviteID,
      roomID: call.roomID,
      callType: call.callType,
      sponsor: call.sponsor,
      participants,
      ringing: call.inState('ringing').map((m) => m.userID),
      userIDList: call.invitees(),
      ...(call.groupID !== undefined && { groupID: call.groupID }),
      mediaPath: call.mediaPath,
    };
  }

  private checkSize(people: number, path: 'mesh' | 'sfu'): void {
    const max = path === 'sfu' ? this.sfuMax! : this.maxParticipants;
    if (people > max) {
      const hint = path === 'sfu' ? 'SFU limit OPENCALL_SFU_MAX' : this.limitHint;
      throw new ProtocolError(ErrorCode.TOO_MANY_PARTICIPANTS, `a call can hold at most ${max} people on this server (${hint})`);
    }
  }

  /**
   * OPENCALL_GROUPS=labels: a groupID that names no group `inviter` is a member of (a Tencent IM
   * group the server never heard of, or someone else's) only labels the call. The invitees are
   * then exactly the users named, as in a call without groupID, and the answer is the same
   * whether or not such a group exists, so it reveals nothing about groups.
   */
  private isLabel(groupID: string, inviter: string): boolean {
    return !this.enforceGroups && this.groups.members(groupID)?.has(inviter) !== true;
  }

  /**
   * `inviter` rings `userIDs` in group `groupID`. Someone outside the group cannot tell it from a
   * group that does not exist (and learns nothing of who is in it); a member is told which
   * invitees are not members.
   */
  private checkGroup(groupID: string, inviter: string, userIDs: string[]): void {
    const members = this.groups.members(groupID);
    if (!members?.has(inviter)) throw new ProtocolError(ErrorCode.GROUP_NOT_FOUND, `no group ${groupID} that you are a member of`);
    const outsiders = userIDs.filter((id) => !members.has(id));
    if (outsiders.length > 0) throw new ProtocolError(ErrorCode.NOT_A_GROUP_MEMBER, `not members of group ${groupID}: ${outsiders.join(', ')}`);
  }

  private memberOf(userID: string, inviteID: string, device?: string): { call: Call; member: Member } {
    const call = this.calls.get(inviteID);
    if (!call) throw refuse.notFound(inviteID);
    const member = call.members.get(userID);
    // Someone never invited cannot tell a call going on from one that does not exist.
    if (!member) throw refuse.notFound(inviteID);
    this.checkDevice(call, member, device);
    return { call, member };
  }

  /** A call answered (or made) on one device of a user is not touched from their other devices. */
  private checkDevice(call: Call, member: Member, device: string | undefined): void {
    if (device !== undefined && member.device !== undefined && member.device !== device && call.isActive(member.userID)) {
      throw new ProtocolError(ErrorCode.NOT_A_PARTICIPANT, `call ${call.inviteID} is on another of your devices`);
    }
  }

  /**
   * Counts a signal a member sends in a call against their caps: ICE candidates (a `relay` of
   * kind `ice`, an SFU `trickle`), and everything else (`ready`, `sdp`, other SFU operations).
   * Throws RATE_LIMITED past the cap; the call goes on.
   */
  countSignal(call: Call, member: Member, ice: boolean): void {
    if (ice) {
      const n = member.ice ?? 0;
      if (n >= this.limits.maxIce) throw new ProtocolError(ErrorCode.RATE_LIMITED, `at most ${this.limits.maxIce} ICE candidates per member per call; this one was not passed on (call ${call.inviteID} goes on)`);
      member.ice = n + 1;
    } else {
      const n = member.relays ?? 0;
      if (n >= this.limits.maxRelays) throw new ProtocolError(ErrorCode.RATE_LIMITED, `at most ${this.limits.maxRelays} offers, answers and other signals per member per call; this one was not passed on (call ${call.inviteID} goes on)`);
      member.relays = n + 1;
    }
  }

  /** To a member: on the device their call is on, or on all their devices while none is chosen. */
  private sendTo(m: Member, frame: ServerEventFrame): boolean {
    return this.delivery.send(m.userID, frame, m.device !== undefined ? { only: m.device } : undefined);
  }

  /** The device a user is in a call on (undefined: not chosen yet, or not a member). */
  deviceOf(inviteID: string, userID: string): string | undefined {
    return this.calls.get(inviteID)?.members.get(userID)?.device;
  }

  private ring(call: Call, member: Member, device?: string): void {
    const elapsed = this.clock.now() - call.batchStart(member.batch);
    const timeout = call.timeoutMs === 0 ? 0 : Math.max(1, Math.ceil((call.timeoutMs - elapsed) / 1000));
    const target = device !== undefined ? { only: device } : undefined;
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
      joined: call.inState('joined').map((m) => m.userID),
      mediaPath: call.mediaPath,
      ...(this.ringAll && { earlyMedia: false as const }),
    }, target);
    this.log.info({ event: 'call.ringing', inviteID: call.inviteID, userID: member.userID, delivered }, delivered ? 'ringing' : 'invitee offline; will ring on login');
  }

  private expireBatch(call: Call, batch: number): void {
    call.takeBatchTimer(batch);
    if (call.ended) return;
    const expired = call.inState('ringing').filter((m) => m.batch === batch);
    if (expired.length === 0) return;
    for (const m of expired) {
      this.setState(call, m, 'no_answer');
      this.activeCall.delete(m.userID);
      this.sendTo(m, { t: 'timedOut', inviteID: call.inviteID });
    }
    const userIDList = expired.map((m) => m.userID);
    this.log.info({ event: 'call.no_answer', inviteID: call.inviteID, userIDList }, 'invitees did not answer');
    this.notifyJoined(call, { t: 'noResp', inviteID: call.inviteID, userIDList });
    this.settle(call, 'no_answer');
  }

  /** Cancels a batch's timer once none of it rings any more (`leaving` is about to stop ringing). */
  private clearBatchIfDone(call: Call, batch: number, leaving?: Member): void {
    if (call.inState('ringing').some((m) => m.batch === batch && m !== leaving)) return;
    const t = call.takeBatchTimer(batch);
    if (t !== undefined) this.clock.clearTimeout(t);
  }

  private decline(call: Call, member: Member, outcome: 'rejected' | 'busy', device?: string): void {
    this.setState(call, member, outcome);
    // The user's other devices stop ringing.
    if (device !== undefined) this.delivery.send(member.userID, { t: 'cancelled', inviteID: call.inviteID, sponsor: call.sponsor, reason: 'declined_elsewhere' }, { except: device });
    this.activeCall.delete(member.userID);
    this.clearBatchIfDone(call, member.batch);
    this.log.info({ event: outcome === 'busy' ? 'call.busy' : 'call.rejected', inviteID: call.inviteID, userID: member.userID }, `invitee ${outcome}`);
    this.notifyJoined(call, { t: outcome === 'busy' ? 'busy' : 'rejected', inviteID: call.inviteID, userID: member.userID });
  }

  private leave(call: Call, member: Member, reason: 'hangup' | GoneReason, device?: string): void {
    if (call.ended) return;
    if (member.state === 'ringing') {
      this.decline(call, member, 'rejected', device);
      this.settle(call, 'rejected');
      return;
    }
    if (member.state !== 'joined') throw refuse.state(`you already ${member.state === 'left' ? 'left' : member.state} call ${call.inviteID}`);
    if (member.userID === call.sponsor && call.connectedAt === undefined) {
      // Nobody answered yet: the sponsor hanging up cancels the invitation for everyone.
      // The sponsor already knows (its own request or disconnect), so it gets no `ended`.
      this.setState(call, member, 'left');
      this.activeCall.delete(member.userID);
      this.log.info({ event: 'call.cancelled', inviteID: call.inviteID, reason }, 'sponsor cancelled');
      this.end(call, 'cancelled');
      return;
    }
    this.setState(call, member, 'left');
    this.activeCall.delete(member.userID);
    this.log.info({ event: 'call.left', inviteID: call.inviteID, userID: member.userID, reason }, 'participant left');
    // Leaving ends the call: the one left hears both in its `ended` frame (leftUserID).
    if (!this.canGoOn(call)) return this.end(call, reason, member.userID);
    this.notifyJoined(call, { t: 'left', inviteID: call.inviteID, userID: member.userID });
  }

  /**
   * Ends the call when it can no longer go on: fewer than two people in it, unless it has not
   * connected yet and someone still rings. Once connected, the last-but-one leaving ends it
   * (invitees still ringing then get `cancelled`).
   */
  private settle(call: Call, reason: EndReason): void {
    if (!call.ended && !this.canGoOn(call)) this.end(call, reason);
  }

  private canGoOn(call: Call): boolean {
    const joined = call.inState('joined').length;
    return joined >= 2 || (joined === 1 && call.connectedAt === undefined && call.inState('ringing').length > 0);
  }

  /** `leftUserID`: the participant whose leaving ends the call (told in the same frame). */
  private end(call: Call, reason: EndReason, leftUserID?: string): void {
    if (call.ended) return;
    call.endedAt = this.clock.now();
    for (const t of call.takeAllTimers()) this.clock.clearTimeout(t);
    const duration = this.durationOf(call);
    for (const m of call.members.values()) {
      if (m.state === 'ringing') {
        this.setState(call, m, 'cancelled');
        this.sendTo(m, { t: 'cancelled', inviteID: call.inviteID, sponsor: call.sponsor });
      } else if (m.state === 'joined') {
        this.setState(call, m, 'left');
        this.sendTo(m, {
          t: 'ended',
          inviteID: call.inviteID,
          roomID: call.roomID,
          callType: call.callType,
          connected: call.connectedAt !== undefined,
          duration,
          reason,
          ...(leftUserID !== undefined && { leftUserID }),
        });
      } else continue;
      if (this.activeCall.get(m.userID) === call) this.activeCall.delete(m.userID);
    }
    this.calls.delete(call.inviteID);
    this.byRoom.delete(call.roomID);
    this.rememberEnded(call);
    // Built only when logged: the outcomes object is the costliest log line of a call.
    if (this.log.isLevelEnabled('info')) this.log.info(
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
    this.events.emit('callEnded', call, reason);
  }

  private durationOf(call: Call): number {
    if (call.connectedAt === undefined) return 0;
    return Math.round(((call.endedAt ?? this.clock.now()) - call.connectedAt) / 1000);
  }

  /** Everyone ringing or joined. */
  private notifyActive(call: Call, frame: ServerEventFrame): void {
    for (const m of call.members.values()) {
      if (m.state === 'joined' || m.state === 'ringing') this.sendTo(m, frame);
    }
  }

  private notifyJoined(call: Call, frame: ServerEventFrame, except?: string): void {
    for (const m of call.members.values()) {
      if (m.state === 'joined' && m.userID !== except) this.sendTo(m, frame);
    }
  }
}
