import { EventEmitter } from 'eventemitter3';
import { DEFAULT_INVITE_TIMEOUT_SECONDS, USER_ID_PATTERN, type InviteResult, type LoginResult, type OfflinePushInfo } from '@opencall/protocol/lite';
import { CallController } from './call/call-controller.js';
import { CallingError, ErrorCode, misuse } from './errors.js';
import { EVENT, TUICallEvent, type ConnectionStateEvent, type EventMap } from './events.js';
import { CALL_TYPE, PublishedSurface, type SurfaceState } from './compat/published-surface.js';
import type * as Typings from './compat/typings.js';
import { requestCallHistory, type CallHistoryPage, type CallHistoryParams } from './history.js';
import { browserRtc, type RtcImplementation } from './rtc/environment.js';
import { LocalMedia, VIDEO_PROFILES, type VideoProfile } from './rtc/local-media.js';
import { SignalClient, signalingUrl, type WebSocketCtor } from './signal/signal-client.js';
import { RemoteAudio } from './views/remote-audio.js';
import { LOCAL_VIEW, VideoViews } from './views/video-views.js';

/** Options of `new TRTCCalling(options)`. */
export interface TRTCCallingOptions {
  /** The SDKAppID your UserSigs are issued for (the server checks it). */
  SDKAppID: number;
  /**
   * The OpenCall server: `https://calls.example.com` or `wss://...`. In a browser it
   * defaults to the page's own origin.
   */
  serverUrl?: string;
  /** A WebRTC implementation to use instead of the browser's (`@roamhq/wrtc` in Node). */
  rtc?: RtcImplementation;
  /** A WebSocket constructor to use instead of the global one. */
  WebSocket?: WebSocketCtor;
  /**
   * Early media, an opt-in. `true`: while the phone rings, open the microphone (and camera for
   * video calls) and connect to the caller, sending only silence and black frames until
   * accept(); accept() then just unmutes, so the first picture comes much sooner. The price:
   * connecting means ICE, so the caller learns this device's IP addresses (and that it is
   * online) before the user answers or even if they decline, and the camera light comes on
   * while ringing. Default `false`: nothing touches a device or the network for the call before
   * accept(), as in Tencent's trtc-calling-js; relays a caller sends to a ringing device are
   * ignored (and the server refuses them). Ignored when every device of a user rings
   * (`OPENCALL_MULTI_DEVICE=ring-all`).
   */
  earlyMedia?: boolean;
  /**
   * @deprecated The former name of {@link earlyMedia} (whose default was `true`); `earlyMedia`
   * wins when both are set.
   */
  prepareMediaWhileRinging?: boolean;
  /**
   * Reconnect by itself when the connection to the server drops, and resume the session (no
   * KICKED_OUT, no lost events; calls and their media go on). `false` turns it off.
   * Default: keep trying for 60 s with backoff.
   */
  reconnect?: false | { maxDurationMs?: number };
  /**
   * 'relay' sends media only through the TURN servers the OpenCall server hands out (hides
   * the users' IP addresses from each other; needs OPENCALL_TURN_SECRET or TURN credentials on
   * the server). Default 'all': direct when possible, relayed when not.
   */
  iceTransportPolicy?: 'all' | 'relay';
  /**
   * Accepted for compatibility with trtc-calling-js ≥0.10.2: OpenCall needs no TIM instance. It
   * is kept as `trtcCalling.tim` for apps that read it back.
   */
  tim?: unknown;
}

/** OpenCall extra event: the signaling connection state (`onConnectionStateChanged`). */
export type { ConnectionStateEvent };

/** The login this instance holds, for reconnecting. */
interface SessionInfo {
  userID: string;
  userSig: string;
  url: string;
  WebSocketImpl: WebSocketCtor;
  rtc: RtcImplementation | null;
  resumeToken: string;
  /** Highest event `seq` received: what a resume asks the server to replay after. */
  lastSeq: number;
}

const CONNECTION_STATE_EVENT = 'onConnectionStateChanged';

/** `call()` parameters; `timeout` is the v0 form (seconds, 0 = never), v1 uses 30 s. */
export interface CallParams {
  userID: string;
  type: 1 | 2;
  timeout?: number;
  offlinePushInfo?: OfflinePushInfo;
  /** OpenCall extra: app data handed to the invitee with the invitation. */
  userData?: string;
}

/** `groupCall()` parameters. */
export interface GroupCallParams {
  userIDList: string[];
  type: 1 | 2;
  groupID?: string;
  timeout?: number;
  offlinePushInfo?: OfflinePushInfo;
  userData?: string;
}

/** `startLocalView()` / `startRemoteView()` parameters. */
export interface ViewParams {
  userID: string;
  /** Id of the element the `<video>` goes into (or of a `<video>` element to use as is). */
  videoViewDomID: string;
}
/** `stopLocalView()` / `stopRemoteView()`; `videoViewDomID` is the v0 form, accepted and not needed. */
export interface StopViewParams {
  userID: string;
  videoViewDomID?: string;
}

/** v0 `accept({inviteID, roomID, callType})`. */
export interface AcceptParams { inviteID?: string; roomID?: number; callType?: 1 | 2 }
/** v0 `reject({inviteID, isBusy, callType})`. */
export interface RejectParams { inviteID?: string; isBusy?: boolean; callType?: 1 | 2 }

type Listener = (...args: any[]) => void;
/** A listener of a known event: it gets that event's payload. */
export type EventListener<K extends keyof EventMap> = (payload: EventMap[K]) => void;
/** A name that is not a known event (known ones must use their payload type). */
type OtherEvent<N extends string> = N extends keyof EventMap ? never : N;

/**
 * A drop-in replacement for trtc-calling-js's TRTCCalling, backed by an OpenCall server and
 * WebRTC. Every method returns a promise; failures reject with a {@link CallingError} and are
 * also emitted as `TRTCCalling.EVENT.ERROR`.
 */
export class TRTCCalling extends PublishedSurface {
  /** Event names, with trtc-calling-js's exact string values. */
  static readonly EVENT = EVENT;
  /** trtc-calling-js's call types: `TRTCCalling.CALL_TYPE.VIDEO_CALL` is 2 (the `type` of call()). */
  static readonly CALL_TYPE = CALL_TYPE;
  /** TUICallKit's event names, emitted as well. */
  static readonly TUICallEvent = TUICallEvent;
  static readonly VERSION = '0.1.0';

  private readonly emitter = new EventEmitter();
  private readonly options: TRTCCallingOptions;
  private signal: SignalClient | null = null;
  private controller: CallController | null = null;
  private local: LocalMedia | null = null;
  private rtcImpl: RtcImplementation | null | undefined;
  private selfID: string | null = null;
  private videoProfile: VideoProfile = '480p';
  private loggingIn: Promise<unknown> | null = null;
  private session: SessionInfo | null = null;
  private readonly views = new VideoViews();
  private readonly remoteAudio = new RemoteAudio();

  /**
   * trtc-calling-js ≥1.0 exposes its Tencent IM instance here. OpenCall has no IM: this is the
   * `tim` option given to the constructor (for apps that pass their own and read it back), else null.
   */
  readonly tim: unknown;

  constructor(options: TRTCCallingOptions) {
    super();
    if (!options || typeof options !== 'object') throw new CallingError(ErrorCode.INVALID_ARGUMENT, 'new TRTCCalling({SDKAppID, serverUrl}) needs an options object');
    this.options = { ...options };
    this.tim = options.tim ?? null;
  }

  /** What trtc-calling-js's getters (getCallStatus, getInviteeList, ...) read. */
  protected override surfaceState(): SurfaceState {
    return { userID: this.selfID, videoProfile: this.videoProfile, call: this.controller?.info() ?? null };
  }

  // ---- events ----

  /**
   * Subscribes to an event; `context` becomes `this` in the callback (the spec's signature).
   * For a known event (`TRTCCalling.EVENT.X`, a TUICallEvent name) the callback gets that
   * event's payload type ({@link EventMap}); any other name takes any callback.
   */
  on<K extends keyof EventMap>(eventName: K, callback: EventListener<K>, context?: unknown): this;
  on<N extends string>(eventName: OtherEvent<N>, callback: Listener, context?: unknown): this;
  on(eventName: string, callback: Listener, context?: unknown): this {
    this.emitter.on(eventName, callback, context);
    return this;
  }

  /** Unsubscribes; pass the same callback and context given to on(). */
  off<K extends keyof EventMap>(eventName: K, callback?: EventListener<K>, context?: unknown): this;
  off<N extends string>(eventName: OtherEvent<N>, callback?: Listener, context?: unknown): this;
  off(eventName: string, callback?: Listener, context?: unknown): this {
    this.emitter.off(eventName, callback, context);
    return this;
  }

  /** Subscribes for one emission only. */
  once<K extends keyof EventMap>(eventName: K, callback: EventListener<K>, context?: unknown): this;
  once<N extends string>(eventName: OtherEvent<N>, callback: Listener, context?: unknown): this;
  once(eventName: string, callback: Listener, context?: unknown): this {
    this.emitter.once(eventName, callback, context);
    return this;
  }

  // ---- basics ----

  /** The logged-in userID, or null. */
  get userID(): string | null {
    return this.selfID;
  }

  /** Logs in with a UserSig from your backend (tls-sig-api-v2 compatible). Emits SDK_READY. */
  login(params: { userID: string; userSig: string }): Promise<{ userID: string }> {
    return this.guard(async () => {
      const { userID, userSig } = params ?? ({} as { userID: string; userSig: string });
      if (typeof userID !== 'string' || !USER_ID_PATTERN.test(userID)) throw misuse.badArgument('userID must be 1-64 letters, digits, "-" or "_"');
      if (typeof userSig !== 'string' || userSig.length === 0) throw misuse.badArgument('userSig is required');
      if (this.selfID !== null || this.loggingIn) throw misuse.state(`already logged in${this.selfID ? ` as ${this.selfID}` : ''}; logout() first`);
      const attempt = this.doLogin(userID, userSig);
      this.loggingIn = attempt;
      try {
        return await attempt;
      } finally {
        this.loggingIn = null;
      }
    });
  }

  /** Logs out; a call in progress ends for everyone in it. */
  logout(): Promise<void> {
    return this.guard(async () => {
      const signal = this.signal;
      if (!signal || this.selfID === null) return;
      this.controller?.abandon('logout');
      try {
        await signal.request({ t: 'logout' });
      } finally {
        this.reset();
      }
    });
  }

  // ---- calls ----

  /** Calls one user: `type` 1 = audio, 2 = video. Resolves once the invitation is out. */
  call(params: CallParams): Promise<InviteResult> {
    return this.guard(async () => {
      const p = params ?? ({} as CallParams);
      if (typeof p.userID !== 'string' || !USER_ID_PATTERN.test(p.userID)) throw misuse.badArgument('call() needs a valid userID');
      if (p.userID === this.selfID) throw misuse.badArgument('you cannot call yourself');
      return this.requireController().call({
        invitees: [p.userID],
        callType: checkType(p.type),
        timeout: checkTimeout(p.timeout),
        ...(p.offlinePushInfo && { offlinePushInfo: p.offlinePushInfo }),
        ...(p.userData !== undefined && { userData: p.userData }),
      });
    });
  }

  /**
   * Calls several users: exactly the users in `userIDList`; every invitee gets INVITED with the
   * whole list. A `groupID` is passed on to them (`isFromGroup: true`); whether the server also
   * checks group membership is its OPENCALL_GROUPS setting (docs/migration.md, "Groups").
   */
  groupCall(params: GroupCallParams): Promise<InviteResult> {
    return this.guard(async () => {
      const p = params ?? ({} as GroupCallParams);
      if (!Array.isArray(p.userIDList) || p.userIDList.length === 0) throw misuse.badArgument('groupCall() needs a non-empty userIDList');
      const invitees = [...new Set(p.userIDList)];
      for (const id of invitees) {
        if (typeof id !== 'string' || !USER_ID_PATTERN.test(id)) throw misuse.badArgument(`invalid userID in userIDList: ${String(id)}`);
      }
      if (invitees.includes(this.selfID ?? '')) throw misuse.badArgument('you cannot invite yourself');
      if (p.groupID !== undefined && (typeof p.groupID !== 'string' || p.groupID.length === 0)) throw misuse.badArgument('groupID must be a non-empty string');
      return this.requireController().call({
        invitees,
        callType: checkType(p.type),
        timeout: checkTimeout(p.timeout),
        ...(p.groupID !== undefined && { groupID: p.groupID }),
        ...(p.offlinePushInfo && { offlinePushInfo: p.offlinePushInfo }),
        ...(p.userData !== undefined && { userData: p.userData }),
      });
    });
  }

  /** Invites more users into the call in progress (TUICallKit's `inviteUser`). */
  inviteUser(params: { userIDList: string[] }): Promise<void> {
    return this.guard(async () => {
      const list = params?.userIDList;
      if (!Array.isArray(list) || list.length === 0 || list.some((id) => typeof id !== 'string' || !USER_ID_PATTERN.test(id))) {
        throw misuse.badArgument('inviteUser() needs a non-empty userIDList of valid userIDs');
      }
      await this.requireController().inviteMore([...new Set(list)]);
    });
  }

  /**
   * Joins a group call in progress (TUICallKit's `joinInGroupCall`): by `roomID` and `groupID`
   * for members of the call's group, or by `inviteID` for anyone invited to it earlier.
   */
  joinInGroupCall(params: { roomID?: number; groupID?: string; inviteID?: string; callMediaType?: 0 | 1 }): Promise<void> {
    return this.guard(async () => {
      const p = params ?? {};
      if (p.inviteID === undefined && (typeof p.roomID !== 'number' || typeof p.groupID !== 'string')) {
        throw misuse.badArgument('joinInGroupCall() needs {roomID, groupID} or {inviteID}');
      }
      await this.requireController().join({
        ...(p.inviteID !== undefined && { inviteID: p.inviteID }),
        ...(p.roomID !== undefined && { roomID: p.roomID }),
        ...(p.groupID !== undefined && { groupID: p.groupID }),
      });
    });
  }

  /** Accepts the ringing invitation. The v0 form `accept({inviteID, roomID, callType})` is accepted too. */
  accept(params?: AcceptParams): Promise<void> {
    return this.guard(() => this.requireController().accept(params?.inviteID));
  }

  /** Declines the ringing invitation. v0: `reject({inviteID, isBusy, callType})`. */
  reject(params?: RejectParams): Promise<void> {
    return this.guard(() => this.requireController().reject(params?.isBusy === true, params?.inviteID));
  }

  /** Ends the call; cancels it while it is still ringing at the other end; declines an incoming one. */
  hangup(): Promise<void> {
    return this.guard(async () => {
      await this.controller?.hangup();
    });
  }

  // ---- views ----

  /**
   * Shows the local camera in the element with id `videoViewDomID`: a muted, mirrored
   * `<video>` is created inside it. The view follows the camera: it shows nothing while the
   * camera is closed and the camera again once it is reopened (openCamera, the next call),
   * until stopLocalView(). Rejects with INVALID_ARGUMENT when there is no such element.
   */
  startLocalView(params: ViewParams): Promise<void> {
    return this.guard(async () => {
      this.views.start(LOCAL_VIEW, viewDomID(params), () => this.getLocalStream());
    });
  }

  /** Removes the local view's `<video>` (the app's element stays). v0's `videoViewDomID` is accepted. */
  stopLocalView(params?: StopViewParams): Promise<void> {
    return this.guard(async () => {
      void params;
      this.views.stop(LOCAL_VIEW);
    });
  }

  /**
   * Plays a remote user's video and sound in the element with id `videoViewDomID` (a `<video>`
   * is created inside it). Call it when the user enters (USER_ENTER) or earlier: the view
   * shows the user's media as soon as it arrives and follows it when it changes. If the
   * browser refuses to autoplay with sound, the view plays muted and unmutes at the user's
   * next click, tap or key press. The view is removed when the call ends. Rejects with
   * INVALID_ARGUMENT when there is no such element.
   */
  startRemoteView(params: ViewParams): Promise<void> {
    return this.guard(async () => {
      const userID = viewUserID(params);
      this.views.start(`remote:${userID}`, viewDomID(params), () => this.getRemoteStream(userID));
      this.syncRemoteAudio();
    });
  }

  /** Removes a remote user's `<video>` (the app's element stays). v0's `videoViewDomID` is accepted. */
  stopRemoteView(params: StopViewParams): Promise<void> {
    return this.guard(async () => {
      this.views.stop(`remote:${viewUserID(params)}`);
      this.syncRemoteAudio();
    });
  }

  // ---- devices ----

  /** Opens the camera (and sends it if a video call is in progress). */
  openCamera(): Promise<void> {
    return this.guard(async () => {
      const local = this.requireLocal();
      await local.openCamera();
      this.controller?.publishMediaState();
    });
  }

  /** Closes the camera: its light goes off and the others get USER_VIDEO_AVAILABLE false. */
  closeCamera(): Promise<void> {
    return this.guard(async () => {
      this.local?.closeCamera();
      this.controller?.publishMediaState();
    });
  }

  /** Mutes (true) or unmutes (false) the microphone; the others get USER_AUDIO_AVAILABLE. */
  setMicMute(isMute: boolean): Promise<void> {
    return this.guard(async () => {
      if (typeof isMute !== 'boolean') throw misuse.badArgument('setMicMute(isMute) takes a boolean');
      this.requireLocal().setMicMute(isMute);
      this.controller?.publishMediaState();
    });
  }

  /** '480p' | '720p' | '1080p'; takes effect for the next call()/groupCall()/accept(), as the spec says. */
  setVideoQuality(profile: VideoProfile): Promise<void> {
    return this.guard(async () => {
      if (!(profile in VIDEO_PROFILES)) throw misuse.badArgument(`setVideoQuality takes one of ${Object.keys(VIDEO_PROFILES).join(', ')}`);
      this.videoProfile = profile;
      if (this.local && !this.controller?.inCall) this.local.profile = profile;
    });
  }

  /** Lists cameras (needs device permission for labels in browsers). */
  getCameras(): Promise<MediaDeviceInfo[]> {
    return this.guard(() => this.listDevices('videoinput'));
  }

  /** Lists microphones. */
  getMicrophones(): Promise<MediaDeviceInfo[]> {
    return this.guard(() => this.listDevices('audioinput'));
  }

  /**
   * Switches camera (`deviceType: 'video'`) or microphone (`'audio'`) to the device with that id
   * (from getCameras()/getMicrophones()). Mid-call the new track replaces the old one on every
   * connection without renegotiating.
   */
  switchDevice(params: { deviceType: 'video' | 'audio'; deviceId: string }): Promise<void> {
    return this.guard(async () => {
      const { deviceType, deviceId } = params ?? ({} as { deviceType: 'video'; deviceId: string });
      if (deviceType !== 'video' && deviceType !== 'audio') throw misuse.badArgument("switchDevice: deviceType must be 'video' or 'audio'");
      if (typeof deviceId !== 'string' || deviceId.length === 0) throw misuse.badArgument('switchDevice: deviceId is required');
      await this.requireController().switchDevice(deviceType, deviceId);
    });
  }

  /** Turns a 1:1 video call into an audio call on both sides (ERROR 60001 on failure). */
  switchToAudioCall(): Promise<void> {
    return this.guard(async () => {
      if (!this.controller) throw new CallingError(ErrorCode.SWITCH_TO_AUDIO_FAILED, 'switchToAudioCall: not logged in');
      await this.controller.switchCallType(1);
    });
  }

  /** Turns a 1:1 audio call into a video call on both sides (ERROR 60002 on failure). */
  switchToVideoCall(): Promise<void> {
    return this.guard(async () => {
      if (!this.controller) throw new CallingError(ErrorCode.SWITCH_TO_VIDEO_FAILED, 'switchToVideoCall: not logged in');
      await this.controller.switchCallType(2);
    });
  }

  // ---- OpenCall extras ----

  /** The remote user's media as a MediaStream (for custom rendering or recording). */
  getRemoteStream(userID: string): MediaStream | null {
    return this.controller?.remoteStream(userID) ?? null;
  }

  /** The local camera/microphone stream, if open. */
  getLocalStream(): MediaStream | null {
    return this.local?.localStream() ?? null;
  }

  /** WebRTC statistics of the connection with a remote user. */
  getStats(userID: string): Promise<RTCStatsReport | null> {
    return this.controller?.stats(userID) ?? Promise.resolve(null);
  }

  /**
   * The logged-in user's call history: calls they made or were invited to, newest first, as
   * the server recorded them (calls still going on included, with `endedAt` null).
   *
   *     let page = await trtcCalling.getCallHistory({ limit: 20 });
   *     while (page.nextCursor) page = await trtcCalling.getCallHistory({ cursor: page.nextCursor });
   *
   * Each {@link CallRecord} has the call's inviteID, roomID, sponsor (caller), invitees, groupID,
   * callType and its audio/video switches, createdAt/answeredAt/endedAt (ms), duration (s),
   * endReason, and every participant's outcome ('accepted', 'rejected', 'no_answer', 'busy',
   * 'cancelled'; the caller 'left') with joinedAt/leftAt. `limit` is 1-100 (default 20; more
   * reads as 100). Rejects with NOT_LOGGED_IN before login() and INVALID_ARGUMENT for a bad
   * limit or cursor. Shape and meaning: docs/records.md.
   */
  getCallHistory(params?: CallHistoryParams): Promise<CallHistoryPage> {
    return this.guard(async () => {
      if (!this.signal || this.selfID === null) throw misuse.notLoggedIn();
      return requestCallHistory(this.signal, params);
    });
  }

  // ---- platform hooks (Node entry overrides these) ----

  /** Where the WebSocket constructor comes from. */
  protected async resolveWebSocket(): Promise<WebSocketCtor> {
    if (this.options.WebSocket) return this.options.WebSocket;
    const g = (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (!g) throw new CallingError(ErrorCode.WEBRTC_UNSUPPORTED, 'no WebSocket in this environment; pass options.WebSocket');
    return g;
  }

  /** Where WebRTC comes from; null means none (ERROR 60006 when a call needs it). */
  protected async resolveRtc(): Promise<RtcImplementation | null> {
    return this.options.rtc ?? browserRtc();
  }

  /** Why resolveRtc() found no WebRTC: the message of the error a call then fails with. */
  protected noRtcReason(): string {
    return 'this environment has no WebRTC (RTCPeerConnection)';
  }

  /** The server URL when none was given. */
  protected defaultServerUrl(): string {
    const loc = (globalThis as { location?: { origin?: string } }).location;
    if (loc?.origin && loc.origin !== 'null') return loc.origin;
    throw misuse.badArgument('serverUrl is required outside a browser page');
  }

  // ---- internals ----

  private async doLogin(userID: string, userSig: string): Promise<{ userID: string }> {
    const url = signalingUrl(this.options.serverUrl ?? this.defaultServerUrl());
    const [WebSocketImpl, rtc] = await Promise.all([this.resolveWebSocket(), this.rtcImpl === undefined ? this.resolveRtc() : this.rtcImpl]);
    this.rtcImpl = rtc;
    const signal = await SignalClient.connect(url, WebSocketImpl);
    try {
      // Wire up in onResult, synchronously: frames queued for us (an invitation that rang while
      // we were offline) arrive right behind the login answer.
      await signal.request<LoginResult>({ t: 'login', sdkAppId: Number(this.options.SDKAppID), userID, userSig }, (result) => {
        this.session = { userID, userSig, url, WebSocketImpl, rtc, resumeToken: result.resumeToken, lastSeq: 0 };
        this.attach(signal, userID, rtc, result);
      });
    } catch (err) {
      if (this.signal === signal) this.reset();
      else signal.close();
      throw err;
    }
    return { userID };
  }

  private attach(signal: SignalClient, userID: string, rtc: RtcImplementation | null, result: LoginResult): void {
    const local = new LocalMedia(rtc ?? { RTCPeerConnection: undefined as never }, this.videoProfile);
    const controller = new CallController({
      selfID: userID,
      signal,
      rtc,
      local,
      iceServers: result.iceServers as RTCIceServer[],
      iceTransportPolicy: this.options.iceTransportPolicy === 'relay' ? 'relay' : 'all',
      earlyMedia: (this.options.earlyMedia ?? this.options.prepareMediaWhileRinging) === true,
      emit: (event, payload) => this.onCallEvent(event, payload),
      reportError: (err) => this.emitError(err),
      ...(rtc === null && { noRtcReason: this.noRtcReason() }),
    });
    // Views follow the camera and microphone (the controller owns this hook; chain after it).
    const forwardTrack = local.onSendTrackChanged;
    local.onSendTrackChanged = (kind, track) => {
      forwardTrack(kind, track);
      this.views.refresh();
    };
    this.signal = signal;
    this.local = local;
    this.controller = controller;
    this.selfID = userID;
    this.wire(signal);
    this.emitEvent(EVENT.SDK_READY, { userID });
  }

  /** Routes a connection's frames to the controller and watches it for loss. */
  private wire(signal: SignalClient): void {
    signal.on('frame', (f) => {
      const seq = (f as { seq?: number }).seq;
      if (seq !== undefined && this.session) {
        if (seq <= this.session.lastSeq) return; // already handled (replay overlap)
        this.session.lastSeq = seq;
      }
      if (f.t === 'kicked') return this.onSessionLost('kicked');
      if (f.t === 'sigExpired') return this.onSessionLost('sigExpired');
      // Our TURN credentials are about to expire: take the new ones (ICE restarts need them).
      if (f.t === 'iceServers') return this.controller?.setIceServers(f.iceServers as RTCIceServer[]);
      this.controller?.onFrame(f);
    });
    signal.on('error', (err) => this.emitError(err));
    signal.on('close', ({ code }) => {
      if (this.signal !== signal) return;
      if (code === 4001) return this.onSessionLost('kicked');
      if (code === 4002) return this.onSessionLost('sigExpired');
      // Any other close, including 4006 (we did not read fast enough: the server cut us) and 4007
      // (rate limited for too long), is a lost connection: reconnect and resume.
      if (this.options.reconnect === false || !this.session) return this.onSessionLost('disconnected');
      void this.reconnect(signal);
    });
  }

  /**
   * The connection dropped: reconnect with backoff and resume the session. If the server no
   * longer knows it (restarted, or we were away past its grace period), log in afresh: a
   * call in progress then ends here (CALL_END), since the server ended it for the others.
   */
  private async reconnect(lost: SignalClient): Promise<void> {
    const sess = this.session!;
    const limit = (this.options.reconnect || {}).maxDurationMs ?? 60_000;
    const started = Date.now();
    this.emitEvent(CONNECTION_STATE_EVENT, { state: 'reconnecting' } satisfies ConnectionStateEvent);
    for (let attempt = 0; this.signal === lost && this.session === sess && Date.now() - started < limit; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt) * (0.75 + Math.random() / 2)));
      if (this.signal !== lost || this.session !== sess) return;
      let next: SignalClient;
      try {
        next = await SignalClient.connect(sess.url, sess.WebSocketImpl, 5000);
      } catch {
        continue;
      }
      if (this.signal !== lost || this.session !== sess) return next.close();
      try {
        await next.request<LoginResult>(
          { t: 'login', sdkAppId: Number(this.options.SDKAppID), userID: sess.userID, userSig: sess.userSig, resume: { token: sess.resumeToken, lastSeq: sess.lastSeq } },
          (result) => this.resumeOn(next, result),
        );
        return;
      } catch (err) {
        next.close();
        const code = (err as CallingError).code;
        if (code === ErrorCode.USERSIG_EXPIRED) return this.onSessionLost('sigExpired');
        if (code === ErrorCode.USERSIG_INVALID || code === ErrorCode.USERID_INVALID || code === ErrorCode.SDKAPPID_MISMATCH) return this.onSessionLost('disconnected');
      }
    }
    if (this.signal === lost && this.session === sess) this.onSessionLost('disconnected');
  }

  /** Runs synchronously with the login answer on the new connection (replayed frames follow it). */
  private resumeOn(next: SignalClient, result: LoginResult): void {
    const sess = this.session!;
    sess.resumeToken = result.resumeToken;
    if (result.resumed && this.controller) {
      this.signal = next;
      this.controller.setSignal(next);
      // The answer carries fresh TURN credentials; the ones we had may have expired while away.
      this.controller.setIceServers(result.iceServers as RTCIceServer[]);
      this.wire(next);
    } else {
      // A new session: whatever call we were in is over for the others already.
      this.controller?.abandon('disconnected');
      this.local?.release();
      sess.lastSeq = 0;
      this.attach(next, sess.userID, sess.rtc, result);
    }
    this.emitEvent(CONNECTION_STATE_EVENT, { state: 'connected', resumed: result.resumed } satisfies ConnectionStateEvent);
  }

  private onSessionLost(why: 'kicked' | 'sigExpired' | 'disconnected'): void {
    this.controller?.abandon(why === 'kicked' ? 'kicked' : 'disconnected');
    this.reset();
    if (why === 'kicked') {
      this.emitEvent(EVENT.KICKED_OUT, { reason: 'login_elsewhere' });
      this.emitEvent(TUICallEvent.onKickedOffline, { reason: 'login_elsewhere' });
    } else if (why === 'sigExpired') {
      this.emitEvent(TUICallEvent.onUserSigExpired, {});
    } else {
      this.emitEvent(CONNECTION_STATE_EVENT, { state: 'disconnected' } satisfies ConnectionStateEvent);
      this.emitError(new CallingError(ErrorCode.CONNECTION_FAILED, 'lost the connection to the server'));
    }
  }

  /** Controller events: views are updated first (removed once the call is over), then the app hears. */
  private onCallEvent<K extends keyof EventMap>(event: K, payload: EventMap[K]): void {
    if (this.controller?.inCall) this.views.refresh();
    else this.views.endCall();
    this.syncRemoteAudio();
    this.emitEvent(event, payload);
  }

  /** Every event goes out here, so its payload is checked against EventMap at compile time. */
  private emitEvent<K extends keyof EventMap>(event: K, payload: EventMap[K]): void {
    this.emitter.emit(event, payload);
  }

  /** Remote users without a view are heard through hidden audio elements (browsers only). */
  private syncRemoteAudio(): void {
    const c = this.controller;
    if (!c?.inCall) return this.remoteAudio.clear();
    const wanted = new Map(c.enteredPeers().map((id) => [id, c.remoteStream(id)] as const));
    this.remoteAudio.sync(wanted, (id) => this.views.has(`remote:${id}`));
  }

  private reset(): void {
    this.views.endCall();
    this.remoteAudio.clear();
    const signal = this.signal;
    this.signal = null;
    this.controller = null;
    this.local?.release();
    this.local = null;
    this.selfID = null;
    this.session = null;
    signal?.close();
  }

  private requireController(): CallController {
    if (!this.controller) throw misuse.notLoggedIn();
    return this.controller;
  }

  private requireLocal(): LocalMedia {
    if (!this.local) throw misuse.notLoggedIn();
    return this.local;
  }

  private async listDevices(kind: 'videoinput' | 'audioinput'): Promise<MediaDeviceInfo[]> {
    const rtc = this.rtcImpl === undefined ? (this.rtcImpl = await this.resolveRtc()) : this.rtcImpl;
    const devices = rtc?.mediaDevices;
    if (!devices?.enumerateDevices) throw new CallingError(ErrorCode.WEBRTC_UNSUPPORTED, 'this environment cannot list media devices');
    return (await devices.enumerateDevices()).filter((d) => d.kind === kind);
  }

  private emitError(err: CallingError): void {
    this.emitEvent(EVENT.ERROR, { code: err.code, errorCode: err.code, message: err.message, msg: err.message });
  }

  /** Runs an API call: every failure becomes a CallingError that is emitted as ERROR and rejected. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const err = e instanceof CallingError ? e : new CallingError(ErrorCode.INTERNAL, (e as Error)?.message ?? String(e));
      this.emitError(err);
      throw err;
    }
  }
}

/**
 * The type names of DefinitelyTyped's trtc-calling-js typings, reachable as `TRTCCalling.X` as
 * they are there (also exported by name from the package).
 */
export declare namespace TRTCCalling {
  export type LogLevel = Typings.LogLevel;
  export type Callback<T = any> = Typings.Callback<T>;
  export type Options = Typings.Options;
  export type UserInfo = Typings.UserInfo;
  export type LoginOptions = Typings.LoginOptions;
  export type CallOptions = Typings.CallOptions;
  export type GroupCallOptions = Typings.GroupCallOptions;
  export type AcceptOptions = Typings.AcceptOptions;
  export type RejectOptions = Typings.RejectOptions;
  export type ViewOptions = Typings.ViewOptions;
  export type UserVideoInfo = Typings.UserVideoInfo;
  export type UserAudioInfo = Typings.UserAudioInfo;
  export type InvitedInfo = Typings.InvitedInfo;
  export type EventMap = Typings.EventMap;
}

function viewDomID(params: ViewParams): string {
  const id = params?.videoViewDomID;
  if (typeof id !== 'string' || id.length === 0) throw misuse.badArgument('videoViewDomID must be the id of an element in the page');
  return id;
}

function viewUserID(params: StopViewParams): string {
  const userID = params?.userID;
  if (typeof userID !== 'string' || !USER_ID_PATTERN.test(userID)) throw misuse.badArgument('userID must be the remote user\'s ID');
  return userID;
}

function checkType(type: unknown): 1 | 2 {
  if (type !== 1 && type !== 2) throw misuse.badArgument('type must be 1 (audio) or 2 (video)');
  return type;
}

/** v0 timeout in seconds (0 = never); v1 omits it and gets the 30 s default. */
function checkTimeout(timeout: unknown): number {
  if (timeout === undefined || timeout === null) return DEFAULT_INVITE_TIMEOUT_SECONDS;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0) throw misuse.badArgument('timeout must be a number of seconds ≥ 0 (0 = never)');
  return Math.round(timeout);
}
