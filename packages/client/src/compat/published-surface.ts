/**
 * The rest of the published trtc-calling-js surface (issue 13): what the package really has on
 * its class, beyond its docs. tests/fixtures/trtc-calling-js-surface/ holds what each published
 * version exposes; tests/surface.test.ts keeps this class in step with it.
 *
 * TRTCCalling extends this class, so these methods sit on the prototype chain as Tencent's do.
 * Getters read the call the SDK mirrors from the server; Tencent's internal setters (public on
 * its prototype) are accepted and change nothing, since the server owns the call state.
 */
import type { VideoProfile } from '../rtc/local-media.js';

/** `TRTCCalling.CALL_TYPE`, exactly as trtc-calling-js 0.5.0-1.0.6 expose it (a TypeScript numeric enum). */
export const CALL_TYPE = Object.freeze({
  0: 'UNKNOWN',
  1: 'AUDIO_CALL',
  2: 'VIDEO_CALL',
  UNKNOWN: 0,
  AUDIO_CALL: 1,
  VIDEO_CALL: 2,
} as const);

/** `getCallStatus()`: trtc-calling-js's CALL_STATUS values. */
export type CallStatus = 'idle' | 'calling' | 'connected';

/** `setLogLevel()` levels: 0 all ... 4 none (trtc-calling-js's). */
export type LogLevel = 0 | 1 | 2 | 3 | 4;

/** The call in progress as the getters need it (the SDK's mirror of the server's call). */
export interface CallInfo {
  status: Exclude<CallStatus, 'idle'>;
  isInviter: boolean;
  callType: 1 | 2;
  sponsor: string;
  inviteID: string;
  groupID: string | undefined;
  /** Everyone invited, in invitation order (the sponsor excluded). */
  userIDList: string[];
  /** Invitees who have not answered yet. */
  unhandled: string[];
  /** Remote users whose media is up (USER_ENTER emitted, not left). */
  entered: number;
}

/** What the getters read; TRTCCalling provides it. */
export interface SurfaceState {
  userID: string | null;
  videoProfile: VideoProfile;
  call: CallInfo | null;
}

/** trtc-calling-js's getters, setLogLevel and internal setters. */
export abstract class PublishedSurface {
  /** The state the getters read. */
  protected abstract surfaceState(): SurfaceState;

  /**
   * Accepted for compatibility, any level: OpenCall's SDK writes nothing to the console at any
   * level; problems surface as ERROR events and rejected promises.
   */
  setLogLevel(level: LogLevel): void {
    void level;
  }

  /** The logged-in userID ('' before login, as in trtc-calling-js). */
  getUserID(): string {
    return this.surfaceState().userID ?? '';
  }

  /** 'idle', 'calling' (dialing or ringing) or 'connected'. */
  getCallStatus(): CallStatus {
    return this.surfaceState().call?.status ?? 'idle';
  }

  /** The call's type: CALL_TYPE.AUDIO_CALL (1), VIDEO_CALL (2), or UNKNOWN (0) with no call. */
  getCallType(): 0 | 1 | 2 {
    return this.surfaceState().call?.callType ?? CALL_TYPE.UNKNOWN;
  }

  /** The groupID the call was placed with ('' for none). */
  getGroupID(): string {
    return this.surfaceState().call?.groupID ?? '';
  }

  /** Everyone invited to the call in progress (the caller excluded). */
  getInviteeList(): string[] {
    return [...(this.surfaceState().call?.userIDList ?? [])];
  }

  /** Invitees of the call in progress who have not answered yet. */
  getUnHandledInviteeList(): string[] {
    return [...(this.surfaceState().call?.unhandled ?? [])];
  }

  /** Who placed the call in progress ('' with no call). */
  getInviterID(): string {
    return this.surfaceState().call?.sponsor ?? '';
  }

  /** The inviteIDs of invitations this user sent that are still going on (at most one). */
  getInviterInviteID(): string[] {
    const call = this.surfaceState().call;
    return call?.isInviter && call.inviteID ? [call.inviteID] : [];
  }

  /** Whether this user placed the call in progress. */
  isInviter(): boolean {
    return this.surfaceState().call?.isInviter ?? false;
  }

  /** Whether the call in progress is a group call (a groupID, or more than one invitee). */
  isGroupCall(): boolean {
    const call = this.surfaceState().call;
    return call !== null && (call.groupID !== undefined || call.userIDList.length > 1);
  }

  /** How many remote users' media is up. */
  getRemoteStreamCount(): number {
    return this.surfaceState().call?.entered ?? 0;
  }

  /** Whether any remote user's media is up. */
  hasRemoteConnectedUsers(): boolean {
    return this.getRemoteStreamCount() > 0;
  }

  /** The camera profile setVideoQuality() chose ('480p' by default). */
  getVideoQuality(): VideoProfile {
    return this.surfaceState().videoProfile;
  }

  /** Always false: an audio/video switch is done when switchToAudioCall()/switchToVideoCall() resolves. */
  getSwitchCallModeStatus(): boolean {
    return false;
  }

  /**
   * trtc-calling-js reads call invitations out of Tencent IM messages here. OpenCall's
   * invitations never travel in IM messages, so there is nothing to extract: always ''.
   */
  extractCallingInfoFromMessage(message: unknown): string {
    void message;
    return '';
  }

  // Tencent's internal state setters, public on its prototype. The server owns the call state
  // in OpenCall: these are accepted (an app calling one keeps running) and change nothing.

  /** No effect (trtc-calling-js internal; the server owns the call state). */
  changeCallStatus(status: CallStatus): void { void status; }
  /** No effect (trtc-calling-js internal). */
  setCallType(type: 0 | 1 | 2): void { void type; }
  /** No effect (trtc-calling-js internal). */
  setGroupID(groupID: string): void { void groupID; }
  /** No effect (trtc-calling-js internal). */
  setInviteeList(userIDList: string[]): void { void userIDList; }
  /** No effect (trtc-calling-js internal). */
  setUnHandledInviteeList(userIDList: string[]): void { void userIDList; }
  /** No effect (trtc-calling-js internal). */
  setInviterID(userID: string): void { void userID; }
  /** No effect (trtc-calling-js internal). */
  setInviterInviteID(inviteID: string): void { void inviteID; }
  /** No effect (trtc-calling-js internal). */
  delInviterInviteID(inviteID: string): void { void inviteID; }
  /** No effect (trtc-calling-js internal). */
  setIsGroupCall(isGroupCall: boolean): void { void isGroupCall; }
  /** No effect (trtc-calling-js internal). */
  setSwitchCallModeStatus(status: boolean): void { void status; }
}
