import type { EndReason } from '@opencall/protocol/lite';
import type { NetworkQuality } from './rtc/call-monitor.js';

export type { NetworkQuality };

/**
 * Event names and payloads. Values are the exact strings trtc-calling-js 1.0.6 uses, so code
 * written as `trtcCalling.on('onInvited', ...)` keeps working.
 */
export const EVENT = {
  ERROR: 'onError',
  SDK_READY: 'sdkReady',
  INVITED: 'onInvited',
  USER_ACCEPT: 'onUserAccept',
  USER_ENTER: 'onUserEnter',
  USER_LEAVE: 'onUserLeave',
  REJECT: 'onReject',
  NO_RESP: 'onNoResp',
  LINE_BUSY: 'onLineBusy',
  CALLING_CANCEL: 'onCallingCancel',
  KICKED_OUT: 'onKickedOut',
  CALLING_TIMEOUT: 'onCallingTimeout',
  CALL_END: 'onCallEnd',
  CALLING_END: 'onCallEnd',
  USER_VIDEO_AVAILABLE: 'onUserVideoAvailable',
  USER_AUDIO_AVAILABLE: 'onUserAudioAvailable',
  USER_VOICE_VOLUME: 'onUserVoiceVolume',
  GROUP_CALL_INVITEE_LIST_UPDATE: 'onGroupCallInviteeListUpdate',
} as const;

/**
 * TUICallKit's newer event names, emitted as well. Where a name equals a TRTCCalling one
 * (onError, onUserLeave, onUserVideoAvailable, onUserAudioAvailable, onCallEnd) a single
 * emission carries both payload spellings (`userID` and `userId`).
 */
export const TUICallEvent = {
  onError: 'onError',
  onCallReceived: 'onCallReceived',
  onCallCancelled: 'onCallCancelled',
  onCallBegin: 'onCallBegin',
  onCallEnd: 'onCallEnd',
  onUserReject: 'onUserReject',
  onUserNoResponse: 'onUserNoResponse',
  onUserLineBusy: 'onUserLineBusy',
  onUserJoin: 'onUserJoin',
  onUserLeave: 'onUserLeave',
  onCallMediaTypeChanged: 'onCallMediaTypeChanged',
  onKickedOffline: 'onKickedOffline',
  onUserSigExpired: 'onUserSigExpired',
  onUserVideoAvailable: 'onUserVideoAvailable',
  onUserAudioAvailable: 'onUserAudioAvailable',
  onUserVoiceVolumeChanged: 'onUserVoiceVolumeChanged',
  onUserNetworkQualityChanged: 'onUserNetworkQualityChanged',
} as const;

export type EventName = (typeof EVENT)[keyof typeof EVENT] | (typeof TUICallEvent)[keyof typeof TUICallEvent];

/** `inviteData` of INVITED: `{version, callType, roomID}` for a new call. */
export interface InviteData {
  version: number;
  callType: 1 | 2;
  roomID: number;
  /** Present on the last-hang-up notification: call duration in seconds. */
  callEnd?: number;
}

export interface InvitedEvent {
  sponsor: string;
  userIDList: string[];
  isFromGroup: boolean;
  inviteData: InviteData;
  inviteID: string;
  /** OpenCall extras. */
  groupID?: string;
  userData?: string;
}

export interface UserEvent { userID: string; userId: string }
/** NO_RESP: `userID` did not answer; `userIDList`: everyone who timed out with them; `sponsor`: the caller. */
export interface NoRespEvent extends UserEvent { userIDList: string[]; sponsor: string }
/** LINE_BUSY: `userID` was busy; `sponsor`: the caller (trtc-calling-js ≥0.6 sends it). */
export interface LineBusyEvent extends UserEvent { sponsor: string }
export interface VideoAvailableEvent extends UserEvent { isVideoAvailable: boolean }
export interface AudioAvailableEvent extends UserEvent { isAudioAvailable: boolean }
/** ERROR: `msg` is trtc-calling-js's spelling of `message`, `errorCode` TUICallKit's of `code`. */
export interface ErrorEvent { code: number; message: string; errorCode: number; msg: string }

/** TUICallKit's room id pair. */
export interface RoomId { intRoomId: number; strRoomId: string }
/** callMediaType: 0 audio, 1 video (TUICallKit numbering). */
export type CallMediaType = 0 | 1;
/** callRole: 1 caller, 2 callee. */
export type CallRole = 0 | 1 | 2;

export interface CallBeginEvent { roomId: RoomId; callMediaType: CallMediaType; callRole: CallRole; inviteID: string }
export interface CallEndEvent extends CallBeginEvent {
  /** Seconds the call was connected. */
  totalTime: number;
  /** Same as totalTime, in trtc-calling-js's `callEnd` spelling. */
  callEnd: number;
  /** Why the call ended (the server's reason, or this side's hang-up, logout or kick). */
  reason: EndReason;
  /** Whose leaving ended the call: the last other participant, or this user when it hung up (as trtc-calling-js's `userID`). */
  userID: string;
  userId: string;
}
export interface CallReceivedEvent {
  callerId: string;
  calleeIdList: string[];
  groupId: string;
  callMediaType: CallMediaType;
  userData: string;
  inviteID: string;
}
/**
 * Why a call that never connected is over for this user: the caller cancelled ('cancelled'),
 * nobody / this user did not answer in time ('timeout', 'no_answer'), it was declined
 * ('rejected'), the line was busy ('busy'), or (OPENCALL_MULTI_DEVICE=ring-all) another device
 * of this user answered or declined it ('answered_elsewhere', 'declined_elsewhere').
 */
export type CallCancelledReason = 'cancelled' | 'timeout' | 'rejected' | 'no_answer' | 'busy' | 'answered_elsewhere' | 'declined_elsewhere';
export interface CallCancelledEvent { callerId: string; inviteID: string; reason: CallCancelledReason }

/** CALLING_CANCEL: the caller (`userID`) cancelled, or another device of ours took the call (`reason`). */
export interface CallingCancelEvent extends UserEvent { inviteID: string; reason?: 'answered_elsewhere' | 'declined_elsewhere' }
/** CALLING_TIMEOUT: the invitation to this user rang out; `userID` and `userIDList` are this user, `sponsor` the caller. */
export interface CallingTimeoutEvent extends UserEvent { inviteID: string; sponsor: string; userIDList: string[] }
/** KICKED_OUT / onKickedOffline: the same userID logged in elsewhere. */
export interface KickedOutEvent { reason: 'login_elsewhere' }
/** SDK_READY: login finished. */
export interface SdkReadyEvent { userID: string }
/** USER_VOICE_VOLUME / onUserVoiceVolumeChanged: 0-100 per userID, this user included. */
export interface VoiceVolumeEvent { volumeMap: Record<string, number> }
/** GROUP_CALL_INVITEE_LIST_UPDATE: everyone invited to the call so far. */
export interface InviteeListUpdateEvent { inviteID: string; userIDList: string[] }
/** onCallMediaTypeChanged: 0 audio, 1 video. */
export interface CallMediaTypeChangedEvent { oldCallMediaType: CallMediaType; newCallMediaType: CallMediaType; inviteID: string }
/** onUserNetworkQualityChanged: iterable as `[userID, quality]` pairs, and as a plain object. */
export type NetworkQualityEvent = Map<string, NetworkQuality> & { networkQualityMap: Record<string, NetworkQuality> };
/** OpenCall extra `onConnectionStateChanged`: the signaling connection state. */
export interface ConnectionStateEvent {
  state: 'reconnecting' | 'connected' | 'disconnected';
  /** On 'connected' after a reconnect: true if the session (and any call) was resumed. */
  resumed?: boolean;
}

/**
 * Every event's payload, by event name: `on(TRTCCalling.EVENT.INVITED, (e) => ...)` gives `e`
 * the type {@link InvitedEvent}. Names shared by EVENT and TUICallEvent carry one payload.
 */
export interface EventMap {
  onError: ErrorEvent;
  sdkReady: SdkReadyEvent;
  onInvited: InvitedEvent;
  onUserAccept: UserEvent;
  onUserEnter: UserEvent;
  onUserLeave: UserEvent;
  onReject: UserEvent;
  onNoResp: NoRespEvent;
  onLineBusy: LineBusyEvent;
  onCallingCancel: CallingCancelEvent;
  onKickedOut: KickedOutEvent;
  onCallingTimeout: CallingTimeoutEvent;
  onCallEnd: CallEndEvent;
  onUserVideoAvailable: VideoAvailableEvent;
  onUserAudioAvailable: AudioAvailableEvent;
  onUserVoiceVolume: VoiceVolumeEvent;
  onGroupCallInviteeListUpdate: InviteeListUpdateEvent;
  onCallReceived: CallReceivedEvent;
  onCallCancelled: CallCancelledEvent;
  onCallBegin: CallBeginEvent;
  onUserReject: UserEvent;
  onUserNoResponse: NoRespEvent;
  onUserLineBusy: UserEvent;
  onUserJoin: UserEvent;
  onCallMediaTypeChanged: CallMediaTypeChangedEvent;
  onKickedOffline: KickedOutEvent;
  onUserSigExpired: Record<string, never>;
  onUserVoiceVolumeChanged: VoiceVolumeEvent;
  onUserNetworkQualityChanged: NetworkQualityEvent;
  onConnectionStateChanged: ConnectionStateEvent;
}
