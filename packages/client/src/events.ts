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
export interface NoRespEvent extends UserEvent { userIDList: string[] }
export interface VideoAvailableEvent extends UserEvent { isVideoAvailable: boolean }
export interface AudioAvailableEvent extends UserEvent { isAudioAvailable: boolean }
export interface ErrorEvent { code: number; message: string; errorCode: number }

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
  /** Why the call ended (hangup by someone, kicked, ...). */
  reason: string;
}
export interface CallReceivedEvent {
  callerId: string;
  calleeIdList: string[];
  groupId: string;
  callMediaType: CallMediaType;
  userData: string;
  inviteID: string;
}
export interface CallCancelledEvent { callerId: string; inviteID: string; reason: 'cancelled' | 'timeout' | 'rejected' | 'no_answer' | 'busy' }
