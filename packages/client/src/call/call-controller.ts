import type {
  AcceptResult,
  CallType,
  EndReason,
  MediaPath,
  InviteResult,
  MediaState,
  OfflinePushInfo,
  ServerEventFrame,
} from '@opencall/protocol/lite';
import { CallingError, ErrorCode, misuse } from '../errors.js';
import { EVENT, TUICallEvent, type CallBeginEvent, type CallRole, type EventMap } from '../events.js';
import type { CallInfo } from '../compat/published-surface.js';
import type { RtcImplementation } from '../rtc/environment.js';
import type { LocalMedia, TrackKind } from '../rtc/local-media.js';
import { judge, sample, toVolume, worse, type NetworkQuality, type StatsSample } from '../rtc/call-monitor.js';
import type { CallMedia } from '../rtc/call-media.js';
import { MeshMedia } from '../rtc/mesh-media.js';
import { SfuMedia } from '../rtc/sfu-media.js';
import { withStartBitrate } from '../rtc/start-bitrate.js';
import type { SignalClient } from '../signal/signal-client.js';

/** Version number put in `inviteData.version`. */
export const INVITE_DATA_VERSION = 4;
/** Volume is reported this often (ms); network quality every QUALITY_EVERY volume ticks. */
const VOLUME_INTERVAL_MS = 500;
const QUALITY_EVERY = 4;

/** Emits an SDK event; the payload must be the one EventMap gives that event (checked at compile time). */
export type Emit = <K extends keyof EventMap>(event: K, payload: EventMap[K]) => void;

interface Peer {
  /** In the call (accepted, or the sponsor). */
  accepted: boolean;
  /** USER_ENTER was emitted: accepted and media connected. */
  entered: boolean;
  media: MediaState;
}

/** The call this client is in or ringing for: the client-side mirror of the server's call. */
class ActiveCall {
  phase: 'dialing' | 'ringing' | 'connected' = 'dialing';
  mediaPath: MediaPath = 'mesh';
  /** Who was in the call when we joined: we link to them; anyone joining later links to us. */
  joinedBefore: string[] = [];
  inviteID = '';
  roomID = 0;
  connectedAt: number | undefined;
  /** We asked to leave: nothing more about this call goes to the server (it may be over already). */
  leaving = false;
  /** Ringing with early media: relays are welcome before accept (else they are dropped). */
  earlyMedia = false;
  groupID: string | undefined;
  /** Everyone invited so far (the sponsor excluded), for getInviteeList(). */
  userIDList: string[] = [];
  readonly peers = new Map<string, Peer>();
  constructor(
    readonly role: 'caller' | 'callee',
    public callType: CallType,
    readonly sponsor: string,
    public media: CallMedia,
  ) {}

  get kinds(): TrackKind[] {
    return this.callType === 2 ? ['audio', 'video'] : ['audio'];
  }
}

export interface OutgoingCall {
  invitees: string[];
  callType: CallType;
  timeout: number;
  groupID?: string;
  offlinePushInfo?: OfflinePushInfo;
  userData?: string;
}

export interface CallControllerDeps {
  selfID: string;
  signal: SignalClient;
  rtc: RtcImplementation | null;
  local: LocalMedia;
  iceServers: RTCIceServer[];
  /** 'relay' restricts media to TURN relays. Default 'all'. */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /**
   * Early media: open the microphone/camera and connect while ringing, so accept() only
   * unmutes. Off, a ringing call starts no ICE and ignores relays (see onFrame 'relay').
   */
  earlyMedia: boolean;
  emit: Emit;
  /** Emits ERROR for failures that do not reject a promise the app holds. */
  reportError(err: CallingError): void;
  /** Why `rtc` is null, for the error a call then fails with (e.g. which package to install in Node). */
  noRtcReason?: string;
}

/**
 * Runs calls for one logged-in user: turns API calls into requests, server frames into the
 * spec's events, and keeps the media (local tracks, peer connections) in step.
 */
export class CallController {
  private current: ActiveCall | null = null;
  private monitor: { timer: ReturnType<typeof setInterval>; tick: number; busy: boolean; prev: Map<string, StatsSample> } | null = null;

  constructor(private readonly d: CallControllerDeps) {
    d.local.onSendTrackChanged = (kind, track) => void this.current?.media.updateSendTrack(kind, track);
  }

  /** Fresh ICE servers from the server (new TURN credentials): later connections and the live ones use them. */
  setIceServers(iceServers: RTCIceServer[]): void {
    this.d.iceServers = iceServers;
    this.current?.media.setIceServers(iceServers);
  }

  /** After a reconnect the session continues on a new connection. */
  setSignal(signal: SignalClient): void {
    this.d.signal = signal;
  }

  get inCall(): boolean {
    return this.current !== null;
  }

  get currentInviteID(): string | null {
    return this.current?.inviteID || null;
  }

  /** Users whose USER_ENTER was emitted and who have not left. */
  enteredPeers(): string[] {
    return this.current ? [...this.current.peers].filter(([, p]) => p.entered).map(([id]) => id) : [];
  }

  /** The call in progress for trtc-calling-js's getters (compat/published-surface.ts), or null. */
  info(): CallInfo | null {
    const call = this.current;
    if (!call) return null;
    const others = [...call.peers];
    return {
      status: call.phase === 'connected' ? 'connected' : 'calling',
      isInviter: call.role === 'caller',
      callType: call.callType,
      sponsor: call.sponsor,
      inviteID: call.inviteID,
      groupID: call.groupID,
      userIDList: [...call.userIDList],
      unhandled: call.userIDList.filter((id) => id !== this.d.selfID && call.peers.get(id)?.accepted === false),
      entered: others.filter(([, p]) => p.entered).length,
    };
  }

  remoteStream(userID: string): MediaStream | null {
    return this.current?.media.remoteStream(userID) ?? null;
  }

  stats(userID: string): Promise<RTCStatsReport> | null {
    return this.current?.media.stats(userID) ?? null;
  }

  async call(o: OutgoingCall): Promise<InviteResult> {
    if (this.current) throw misuse.state('already in a call or ringing; hang up first');
    const rtc = this.requireRtc();
    const call = this.newCall('caller', o.callType, this.d.selfID, rtc);
    this.current = call;
    try {
      await this.openMedia(o.callType);
      if (this.current !== call) throw misuse.state('the call was ended before it started');
      for (const userID of o.invitees) call.peers.set(userID, { accepted: false, entered: false, media: { audio: false, video: false } });
      call.userIDList = [...o.invitees];
      call.groupID = o.groupID;
      return await this.d.signal.request<InviteResult>(
        {
          t: 'invite',
          invitees: o.invitees,
          callType: o.callType,
          timeout: o.timeout,
          ...(o.groupID !== undefined && { groupID: o.groupID }),
          ...(o.offlinePushInfo !== undefined && { offlinePushInfo: o.offlinePushInfo }),
          ...(o.userData !== undefined && { userData: o.userData }),
          media: this.d.local.state(),
        },
        (r) => {
          call.inviteID = r.inviteID;
          call.roomID = r.roomID;
          if (r.mediaPath === 'sfu') {
            this.useSfu(call, rtc);
            this.publish(call);
          }
        },
      );
    } catch (err) {
      this.finish(call, null);
      throw err;
    }
  }

  async accept(inviteID?: string): Promise<void> {
    const call = this.current;
    if (!call || call.role !== 'callee' || call.phase !== 'ringing') throw misuse.state('there is no incoming call to accept');
    if (inviteID !== undefined && inviteID !== call.inviteID) throw misuse.state(`invitation ${inviteID} is not the one ringing`);
    await this.openMedia(call.callType);
    if (this.current !== call) throw misuse.state('the call ended before it could be accepted');
    this.d.local.setLive(true);
    try {
      await this.d.signal.request<AcceptResult>({ t: 'accept', inviteID: call.inviteID, media: this.d.local.state() }, (r) => this.joined(call, r));
    } catch (err) {
      if (this.current === call) this.d.local.setLive(false);
      throw err;
    }
    this.afterJoin(call);
  }

  /**
   * Joins a running call without an invitation ringing (TUICallKit's joinInGroupCall): by
   * inviteID, or by roomID and groupID. If that call is ringing here, this is accept().
   */
  async join(target: { inviteID?: string; roomID?: number; groupID?: string }): Promise<void> {
    const ringing = this.current;
    if (ringing?.phase === 'ringing' && (ringing.inviteID === target.inviteID || ringing.roomID === target.roomID)) return this.accept();
    if (this.current) throw misuse.state('already in a call or ringing; hang up first');
    const rtc = this.requireRtc();
    await this.d.local.openMic();
    const made: { call?: ActiveCall } = {};
    try {
      await this.d.signal.request<AcceptResult>(
        {
          t: 'join',
          ...(target.inviteID !== undefined && { inviteID: target.inviteID }),
          ...(target.roomID !== undefined && { roomID: target.roomID }),
          ...(target.groupID !== undefined && { groupID: target.groupID }),
          media: this.d.local.state(),
        },
        (r) => {
          const call = (made.call = this.newCall('callee', r.callType, r.sponsor, rtc));
          call.inviteID = r.inviteID;
          call.roomID = r.roomID;
          call.groupID = r.groupID;
          call.userIDList = [...r.userIDList];
          if (r.mediaPath === 'sfu') this.useSfu(call, rtc);
          this.current = call;
          this.d.local.setLive(true);
          this.joined(call, r);
        },
      );
    } catch (err) {
      if (!this.current) this.d.local.release();
      throw err;
    }
    const joinedCall = made.call;
    if (!joinedCall || !this.isCurrent(joinedCall)) return;
    if (joinedCall.callType === 2) {
      await this.openMedia(2);
      this.publishMediaState();
    }
    this.afterJoin(joinedCall);
  }

  /** Invites more users into the current call (TUICallKit's inviteUser). */
  async inviteMore(userIDList: string[]): Promise<void> {
    const call = this.current;
    if (!call || call.phase === 'ringing' || !call.inviteID) throw misuse.state('inviteUser needs a call you are in');
    await this.d.signal.request({ t: 'addInvitees', inviteID: call.inviteID, invitees: userIDList });
  }

  async reject(busy: boolean, inviteID?: string): Promise<void> {
    const call = this.current;
    if (!call || call.role !== 'callee' || call.phase !== 'ringing') throw misuse.state('there is no incoming call to reject');
    if (inviteID !== undefined && inviteID !== call.inviteID) throw misuse.state(`invitation ${inviteID} is not the one ringing`);
    this.finish(call, null);
    await this.d.signal.request({ t: 'reject', inviteID: call.inviteID, ...(busy && { busy: true }) });
    this.d.emit(TUICallEvent.onCallCancelled, { callerId: this.d.selfID, inviteID: call.inviteID, reason: 'rejected' });
  }

  /** Leaves the call, cancels an unanswered one, or declines one that is ringing. */
  async hangup(): Promise<void> {
    const call = this.current;
    if (!call) return;
    if (call.role === 'callee' && call.phase === 'ringing') return this.reject(false);
    if (!call.inviteID) {
      // invite not answered yet: nothing exists on the server to hang up
      this.finish(call, null);
      return;
    }
    let duration = call.connectedAt === undefined ? 0 : Math.round((Date.now() - call.connectedAt) / 1000);
    call.leaving = true;
    try {
      const r = await this.d.signal.request<{ duration: number }>({ t: 'hangup', inviteID: call.inviteID });
      duration = r.duration;
    } catch (err) {
      // The server may already consider us gone (call ended meanwhile, connection lost): end locally anyway.
      if (!(err instanceof CallingError) || (err.code !== ErrorCode.CALL_NOT_FOUND && err.code !== ErrorCode.INVALID_STATE && err.code !== ErrorCode.CONNECTION_FAILED)) {
        this.finish(call, { duration, reason: 'hangup' });
        throw err;
      }
    }
    this.finish(call, { duration, reason: call.connectedAt === undefined ? 'cancelled' : 'hangup' });
  }

  /** Publishes a change of what we send (mute, camera) to the others in the call. */
  publishMediaState(): void {
    const call = this.current;
    if (!call?.inviteID || call.leaving) return;
    const s = this.d.local.state();
    this.d.signal.send({ t: 'media', inviteID: call.inviteID, audio: s.audio, video: s.video });
  }

  /**
   * Switches a connected 1:1 call between audio and video, on both sides. Fails with 60001
   * (to audio) or 60002 (to video) when not possible.
   */
  async switchCallType(to: CallType): Promise<void> {
    const code = to === 1 ? ErrorCode.SWITCH_TO_AUDIO_FAILED : ErrorCode.SWITCH_TO_VIDEO_FAILED;
    const name = to === 1 ? 'switchToAudioCall' : 'switchToVideoCall';
    const call = this.current;
    if (!call || call.phase !== 'connected' || !call.inviteID) throw new CallingError(code, `${name}: no connected call`);
    if (call.peers.size !== 1) throw new CallingError(code, `${name}: only possible in a 1:1 call`);
    if (call.callType === to) throw new CallingError(code, `${name}: the call is already ${to === 1 ? 'audio' : 'video'}`);
    if (to === 2) {
      try {
        await this.d.local.openCamera();
      } catch (err) {
        if (err instanceof CallingError) this.d.reportError(err);
        throw new CallingError(code, `${name}: the camera could not be opened: ${(err as Error).message}`);
      }
    }
    try {
      await this.d.signal.request({ t: 'callType', inviteID: call.inviteID, callType: to });
    } catch (err) {
      if (to === 2) this.d.local.closeCamera();
      throw new CallingError(code, `${name}: ${(err as Error).message}`);
    }
    if (this.current !== call) return;
    this.applyCallType(call, to);
  }

  /** Switches the camera or microphone in use; the peers get the new track without renegotiation. */
  async switchDevice(kind: TrackKind, deviceId: string): Promise<void> {
    await this.d.local.useDevice(kind, deviceId);
    this.publishMediaState();
  }

  /** Ends whatever call there is without telling the server (logout, kick, lost connection). */
  abandon(reason: EndReason): void {
    const call = this.current;
    if (!call) return;
    const duration = call.connectedAt === undefined ? 0 : Math.round((Date.now() - call.connectedAt) / 1000);
    this.finish(call, { duration, reason });
  }

  onFrame(f: ServerEventFrame): void {
    if (f.t === 'invited') return this.onInvited(f);
    if (!('inviteID' in f)) return;
    const call = this.current;
    if (!call || call.inviteID !== f.inviteID) return;
    const emit = this.d.emit;
    switch (f.t) {
      case 'accepted': {
        const peer = call.peers.get(f.userID) ?? { accepted: false, entered: false, media: f.media };
        peer.accepted = true;
        peer.media = f.media;
        call.peers.set(f.userID, peer);
        if (call.phase === 'dialing') {
          call.phase = 'connected';
          call.connectedAt = Date.now();
          this.startMonitor(call);
          this.d.local.setLive(true);
          emit(TUICallEvent.onCallBegin, this.beginPayload(call));
        }
        emit(EVENT.USER_ACCEPT, { userID: f.userID, userId: f.userID });
        this.maybeEnter(call, f.userID);
        return;
      }
      case 'rejected':
        this.dropPeer(call, f.userID);
        emit(EVENT.REJECT, { userID: f.userID, userId: f.userID });
        emit(TUICallEvent.onUserReject, { userID: f.userID, userId: f.userID });
        return;
      case 'busy':
        this.dropPeer(call, f.userID);
        emit(EVENT.LINE_BUSY, { sponsor: call.sponsor, userID: f.userID, userId: f.userID });
        emit(TUICallEvent.onUserLineBusy, { userID: f.userID, userId: f.userID });
        return;
      case 'noResp':
        for (const userID of f.userIDList) {
          this.dropPeer(call, userID);
          emit(EVENT.NO_RESP, { sponsor: call.sponsor, userID, userId: userID, userIDList: f.userIDList });
          emit(TUICallEvent.onUserNoResponse, { sponsor: call.sponsor, userID, userId: userID, userIDList: f.userIDList });
        }
        return;
      case 'left':
        return this.peerLeft(call, f.userID);
      case 'media': {
        const peer = call.peers.get(f.userID);
        if (!peer) return;
        const before = peer.media;
        peer.media = { audio: f.audio, video: f.video };
        if (!peer.entered) return;
        if (before.audio !== f.audio) emit(EVENT.USER_AUDIO_AVAILABLE, { userID: f.userID, userId: f.userID, isAudioAvailable: f.audio });
        if (before.video !== f.video) emit(EVENT.USER_VIDEO_AVAILABLE, { userID: f.userID, userId: f.userID, isVideoAvailable: f.video });
        return;
      }
      case 'sfuOffer':
        if (call.media instanceof SfuMedia) void call.media.onOffer(f.sdp, f.streams);
        return;
      case 'sfuDropped':
        if (call.media instanceof SfuMedia) call.media.onDropped(f.target);
        return;
      case 'relay':
        if (call.mediaPath === 'sfu') return;
        // Privacy: answering an offer, applying candidates or offering on "ready" would start ICE
        // and reveal our addresses to a caller the user has not answered. After accept() we send
        // "ready" and the caller offers afresh, so dropping these loses nothing.
        if (call.phase === 'ringing' && !call.earlyMedia) return;
        if (f.payload.kind === 'ready') {
          if (!call.peers.has(f.from)) return;
          // A fresh "ready" (e.g. the callee reloaded and got the invitation again) restarts the link.
          if (call.media.has(f.from)) call.media.remove(f.from);
          call.media.connect(f.from, 'offerer', call.kinds);
        } else call.media.handleRelay(f.from, f.payload);
        return;
      case 'ended':
        // The last other participant leaving ended the call: USER_LEAVE first, as in a group call.
        if (f.leftUserID !== undefined) this.peerLeft(call, f.leftUserID);
        this.finish(call, { duration: f.duration, reason: f.reason, ...(f.leftUserID !== undefined && { by: f.leftUserID }) });
        return;
      case 'cancelled':
        this.finish(call, null);
        // reason: the caller cancelled, or (several devices ringing) another device answered or declined.
        emit(EVENT.CALLING_CANCEL, { inviteID: f.inviteID, userID: f.sponsor, userId: f.sponsor, ...(f.reason && { reason: f.reason }) });
        emit(TUICallEvent.onCallCancelled, { callerId: f.sponsor, inviteID: f.inviteID, reason: f.reason ?? 'cancelled' });
        return;
      case 'timedOut':
        this.finish(call, null);
        emit(EVENT.CALLING_TIMEOUT, { inviteID: f.inviteID, sponsor: call.sponsor, userIDList: [this.d.selfID], userID: this.d.selfID, userId: this.d.selfID });
        emit(TUICallEvent.onCallCancelled, { callerId: this.d.selfID, inviteID: f.inviteID, reason: 'timeout' });
        return;
      case 'callType':
        if (call.callType === f.callType) return;
        this.applyCallType(call, f.callType);
        if (f.callType === 2) {
          // The other side turned video on: open ours too (a missing camera is reported, the call goes on).
          this.d.local.openCamera().then(
            () => this.publishMediaState(),
            (err) => err instanceof CallingError && this.d.reportError(err),
          );
        }
        return;
      case 'inviteeList':
        call.userIDList = [...f.userIDList];
        for (const userID of f.userIDList) {
          if (userID !== this.d.selfID && !call.peers.has(userID)) call.peers.set(userID, { accepted: false, entered: false, media: { audio: false, video: false } });
        }
        emit(EVENT.GROUP_CALL_INVITEE_LIST_UPDATE, { inviteID: f.inviteID, userIDList: f.userIDList });
        return;
    }
  }

  // ---- internals ----

  private peerLeft(call: ActiveCall, userID: string): void {
    const entered = call.peers.get(userID)?.entered ?? false;
    this.dropPeer(call, userID);
    if (entered) this.d.emit(EVENT.USER_LEAVE, { userID, userId: userID });
  }

  /** A method, not an inline comparison: TypeScript would keep an earlier narrowing of `current`. */
  private isCurrent(call: ActiveCall): boolean {
    return this.current === call;
  }

  private applyCallType(call: ActiveCall, to: CallType): void {
    const old = call.callType;
    call.callType = to;
    if (to === 2) call.media.ensureKind('video');
    else this.d.local.closeCamera();
    this.publishMediaState();
    this.d.emit(TUICallEvent.onCallMediaTypeChanged, { oldCallMediaType: old === 2 ? 1 : 0, newCallMediaType: to === 2 ? 1 : 0, inviteID: call.inviteID });
  }

  /** Volume and network-quality reports run while a call is connected. */
  private startMonitor(call: ActiveCall): void {
    if (this.monitor) return;
    const m = { tick: 0, busy: false, prev: new Map<string, StatsSample>(), timer: setInterval(() => void this.poll(call), VOLUME_INTERVAL_MS) };
    (m.timer as { unref?: () => void }).unref?.();
    this.monitor = m;
  }

  private stopMonitor(): void {
    if (this.monitor) clearInterval(this.monitor.timer);
    this.monitor = null;
  }

  private async poll(call: ActiveCall): Promise<void> {
    const m = this.monitor;
    if (!m || m.busy || this.current !== call) return;
    m.busy = true;
    try {
      const entered = [...call.peers].filter(([, p]) => p.entered);
      const samples = await Promise.all(entered.map(async ([userID]) => [userID, await call.media.stats(userID)?.catch(() => null)] as const));
      if (this.current !== call || this.monitor !== m) return;
      const volumeMap: Record<string, number> = {};
      let localLevel: number | undefined;
      const fresh = new Map<string, StatsSample>();
      for (const [userID, report] of samples) {
        if (!report) continue;
        const s = sample(report);
        fresh.set(userID, s);
        volumeMap[userID] = call.peers.get(userID)?.media.audio ? toVolume(s.remoteAudioLevel) : 0;
        localLevel ??= s.localAudioLevel;
      }
      volumeMap[this.d.selfID] = this.d.local.state().audio ? toVolume(localLevel) : 0;
      this.d.emit(EVENT.USER_VOICE_VOLUME, { volumeMap });
      this.d.emit(TUICallEvent.onUserVoiceVolumeChanged, { volumeMap });
      if (++m.tick % QUALITY_EVERY !== 0) return;
      const entries: [string, NetworkQuality][] = [];
      let own: NetworkQuality = 'Unknown';
      for (const [userID] of entered) {
        const cur = fresh.get(userID);
        const q = cur ? judge(m.prev.get(userID), cur, call.media.isConnected(userID)) : 'Down';
        entries.push([userID, q]);
        own = worse(own, q);
      }
      entries.unshift([this.d.selfID, own]);
      m.prev = fresh;
      // Iterable like TUICallKit's example (`for (const [userId, quality] of networkQuality)`), with a plain-object view too.
      const networkQuality = Object.assign(new Map(entries), { networkQualityMap: Object.fromEntries(entries) });
      this.d.emit(TUICallEvent.onUserNetworkQualityChanged, networkQuality);
    } finally {
      m.busy = false;
    }
  }

  /** Runs synchronously with the accept/join answer: everyone in the call becomes a known peer. */
  private joined(call: ActiveCall, r: AcceptResult): void {
    call.phase = 'connected';
    call.connectedAt = Date.now();
    this.startMonitor(call);
    call.joinedBefore = r.participants.map((p) => p.userID);
    for (const p of r.participants) {
      const peer = call.peers.get(p.userID) ?? { accepted: true, entered: false, media: p.media };
      peer.accepted = true;
      peer.media = p.media;
      call.peers.set(p.userID, peer);
    }
    for (const userID of r.ringing) {
      if (!call.peers.has(userID)) call.peers.set(userID, { accepted: false, entered: false, media: { audio: false, video: false } });
    }
  }

  /** After joining: link to every participant not linked yet (they offer), then report entries. */
  private afterJoin(call: ActiveCall): void {
    if (this.current !== call) return;
    if (call.mediaPath === 'sfu') this.publish(call);
    // Only those already in when we joined: someone who joined in the meantime links to us, and
    // linking to them too would make both sides offer at once.
    else for (const userID of call.joinedBefore) if (call.peers.get(userID)?.accepted && !call.media.has(userID)) this.linkTo(call, userID);
    this.d.emit(TUICallEvent.onCallBegin, this.beginPayload(call));
    for (const userID of call.peers.keys()) this.maybeEnter(call, userID);
  }

  private onInvited(f: Extract<ServerEventFrame, { t: 'invited' }>): void {
    if (this.current) {
      // The server thinks we are free but we are not (a local call still tearing down): say busy.
      if (this.current.inviteID !== f.inviteID) this.d.signal.request({ t: 'reject', inviteID: f.inviteID, busy: true }).catch(() => {});
      return;
    }
    const rtc = this.d.rtc;
    const call = this.newCall('callee', f.callType, f.sponsor, rtc);
    call.phase = 'ringing';
    call.inviteID = f.inviteID;
    call.roomID = f.roomID;
    call.groupID = f.groupID;
    call.userIDList = [...f.userIDList];
    if (f.mediaPath === 'sfu' && rtc) this.useSfu(call, rtc);
    for (const userID of f.joined) call.peers.set(userID, { accepted: true, entered: false, media: userID === f.sponsor ? f.media : { audio: false, video: false } });
    for (const userID of f.userIDList) {
      if (userID !== this.d.selfID && !call.peers.has(userID)) call.peers.set(userID, { accepted: false, entered: false, media: { audio: false, video: false } });
    }
    this.current = call;
    this.d.emit(EVENT.INVITED, {
      sponsor: f.sponsor,
      userIDList: f.userIDList,
      isFromGroup: f.isFromGroup,
      inviteData: { version: INVITE_DATA_VERSION, callType: f.callType, roomID: f.roomID },
      inviteID: f.inviteID,
      ...(f.groupID !== undefined && { groupID: f.groupID }),
      ...(f.userData !== undefined && { userData: f.userData }),
    });
    if (this.current !== call) return;
    this.d.emit(TUICallEvent.onCallReceived, {
      callerId: f.sponsor,
      calleeIdList: f.userIDList,
      groupId: f.groupID ?? '',
      callMediaType: f.callType === 2 ? 1 : 0,
      userData: f.userData ?? '',
      inviteID: f.inviteID,
    });
    // Early media only if the app opted in, and not when several devices of ours ring
    // (f.earlyMedia false): only the one that answers may connect.
    if (this.d.earlyMedia && f.earlyMedia !== false && rtc && this.current === call) {
      call.earlyMedia = true;
      if (call.mediaPath === 'mesh') for (const userID of f.joined) this.linkTo(call, userID);
      // Devices open in the background; a failure is reported when the user accepts.
      this.openMedia(call.callType, false).catch(() => {});
    }
  }

  private newCall(role: 'caller' | 'callee', callType: CallType, sponsor: string, rtc: RtcImplementation | null): ActiveCall {
    const media = new MeshMedia({
      rtc: rtc ?? { RTCPeerConnection: unsupportedPeerConnection },
      iceServers: this.d.iceServers,
      iceTransportPolicy: this.d.iceTransportPolicy ?? 'all',
      local: this.d.local,
      relay: (to, payload) => {
        // Video starts from a 480p bandwidth estimate, not 300 kbit/s: see rtc/start-bitrate.ts.
        if (payload.kind === 'sdp') payload = { ...payload, sdp: withStartBitrate(payload.sdp) };
        if (this.current === call && call.inviteID && !call.leaving) this.d.signal.send({ t: 'relay', inviteID: call.inviteID, to, payload });
      },
    });
    const call = new ActiveCall(role, callType, sponsor, media);
    media.on('peerConnected', (userID) => this.maybeEnter(call, userID));
    return call;
  }

  /** Switches a call to the SFU path (known from the server's answer or the invitation). */
  private useSfu(call: ActiveCall, rtc: RtcImplementation): void {
    if (call.media instanceof SfuMedia) return;
    call.media.close();
    const media = new SfuMedia({
      rtc,
      iceServers: this.d.iceServers,
      iceTransportPolicy: this.d.iceTransportPolicy ?? 'all',
      local: this.d.local,
      inviteID: call.inviteID,
      request: (msg) => this.d.signal.request(msg),
      send: (msg) => this.d.signal.send(msg),
    });
    media.on('peerConnected', (userID) => this.maybeEnter(call, userID));
    call.media = media;
    call.mediaPath = 'sfu';
  }

  /** SFU path: once joined, send our tracks to the SFU (failures are reported, the call goes on). */
  private publish(call: ActiveCall): void {
    if (!(call.media instanceof SfuMedia)) return;
    call.media.publish(call.kinds).catch((err) => {
      if (this.current === call) this.d.reportError(err instanceof CallingError ? err : new CallingError(ErrorCode.SFU_ERROR, `publishing to the SFU failed: ${(err as Error).message}`));
    });
  }

  /**
   * The newcomer's side of a link: it answers, and "ready" asks the one already in the call
   * to send an offer. Newcomers always answer, so two people never both offer first.
   */
  private linkTo(call: ActiveCall, userID: string): void {
    call.media.connect(userID, 'answerer', call.kinds);
    this.d.signal.send({ t: 'relay', inviteID: call.inviteID, to: userID, payload: { kind: 'ready' } });
  }

  /**
   * Microphone is required; a missing camera degrades a video call to audio with an ERROR.
   * `report` is false while ringing: failures then surface once, when the user accepts.
   */
  private async openMedia(callType: CallType, report = true): Promise<void> {
    this.requireRtc();
    await this.d.local.openMic();
    if (callType !== 2 || this.d.local.hasCamera) return;
    try {
      await this.d.local.openCamera();
    } catch (err) {
      if (!(err instanceof CallingError)) throw err;
      if (report) this.d.reportError(err);
    }
  }

  private requireRtc(): RtcImplementation {
    if (!this.d.rtc) throw new CallingError(ErrorCode.WEBRTC_UNSUPPORTED, this.d.noRtcReason ?? 'this environment has no WebRTC (RTCPeerConnection)');
    return this.d.rtc;
  }

  private maybeEnter(call: ActiveCall, userID: string): void {
    const peer = call.peers.get(userID);
    if (this.current !== call || call.phase !== 'connected' || !peer || !peer.accepted || peer.entered) return;
    if (!call.media.isConnected(userID)) return;
    peer.entered = true;
    const emit = this.d.emit;
    emit(EVENT.USER_ENTER, { userID, userId: userID });
    emit(TUICallEvent.onUserJoin, { userID, userId: userID });
    if (peer.media.audio) emit(EVENT.USER_AUDIO_AVAILABLE, { userID, userId: userID, isAudioAvailable: true });
    if (peer.media.video) emit(EVENT.USER_VIDEO_AVAILABLE, { userID, userId: userID, isVideoAvailable: true });
  }

  private dropPeer(call: ActiveCall, userID: string): void {
    call.peers.delete(userID);
    call.media.remove(userID);
  }

  /** Releases the call's media; emits CALL_END if it was connected, else the caller's onCallCancelled. */
  /** `end.by`: whose leaving ended the call (CALL_END's `userID`); this user when not given. */
  private finish(call: ActiveCall, end: { duration: number; reason: EndReason; by?: string } | null): void {
    if (this.current !== call) return;
    this.current = null;
    this.stopMonitor();
    call.media.close();
    this.d.local.release();
    if (!end) return;
    if (call.connectedAt !== undefined) {
      const by = end.by ?? this.d.selfID;
      this.d.emit(EVENT.CALL_END, { ...this.beginPayload(call), userID: by, userId: by, totalTime: end.duration, callEnd: end.duration, reason: end.reason });
    } else if (call.role === 'caller') {
      const reason = end.reason === 'rejected' || end.reason === 'busy' || end.reason === 'no_answer' ? end.reason : 'cancelled';
      this.d.emit(TUICallEvent.onCallCancelled, { callerId: this.d.selfID, inviteID: call.inviteID, reason });
    }
  }

  private beginPayload(call: ActiveCall): CallBeginEvent {
    const callRole: CallRole = call.role === 'caller' ? 1 : 2;
    return {
      roomId: { intRoomId: call.roomID, strRoomId: String(call.roomID) },
      callMediaType: call.callType === 2 ? 1 : 0,
      callRole,
      inviteID: call.inviteID,
    };
  }
}

/** Stand-in where WebRTC is missing; never constructed because requireRtc() guards every use. */
const unsupportedPeerConnection = class {
  constructor() {
    throw new CallingError(ErrorCode.WEBRTC_UNSUPPORTED, 'this environment has no WebRTC (RTCPeerConnection)');
  }
} as unknown as RtcImplementation['RTCPeerConnection'];
