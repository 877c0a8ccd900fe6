/**
 * Server → client frames. Plain types: the client trusts its server and stays free of zod.
 */
import type { CallType, MediaState, OfflinePushInfo, RelayPayload } from './messages.js';

/** Answer to a request, matched by `rid`. */
export type ResponseFrame =
  | { t: 'res'; rid: number; ok: true; data?: unknown }
  | { t: 'res'; rid: number; ok: false; code: number; message: string };

/** Error not tied to a request (a frame without `rid`, or one that could not be parsed). */
export interface ErrorFrame { t: 'error'; code: number; message: string }

/** `login` succeeded. */
export interface LoginResult {
  userID: string;
  /** Server clock, ms since epoch, for the client to compute offsets. */
  serverTime: number;
  /** When the UserSig expires (ms since epoch); the session ends then with `sigExpired`. */
  sigExpiresAt: number;
  /** ICE servers the client should use (STUN/TURN), possibly with short-lived credentials. */
  iceServers: IceServerConfig[];
  /** Present this (with the last `seq` seen) when reconnecting, to resume this session. */
  resumeToken: string;
  /** True when a `resume` was honoured: missed events follow, calls go on. */
  resumed: boolean;
}

export interface IceServerConfig { urls: string | string[]; username?: string; credential?: string }

/** `invite` succeeded: the call exists and ringing has started for the invitees that were free. */
export interface InviteResult { inviteID: string; roomID: number }

/** `accept` or `join` succeeded. */
export interface AcceptResult {
  inviteID: string;
  roomID: number;
  callType: CallType;
  sponsor: string;
  /** Everyone already in the call with their media state, including the sponsor. */
  participants: { userID: string; media: MediaState }[];
  /** Invitees still ringing (you will get `accepted` if they join). */
  ringing: string[];
  /** Everyone invited so far. */
  userIDList: string[];
  groupID?: string;
}

export interface InvitedFrame {
  t: 'invited';
  inviteID: string;
  roomID: number;
  sponsor: string;
  /** Everyone invited to the call (the spec's "also invited" list), excluding the sponsor. */
  userIDList: string[];
  isFromGroup: boolean;
  groupID?: string;
  callType: CallType;
  /** Seconds left before this invitation times out; 0 = never. */
  timeout: number;
  userData?: string;
  offlinePushInfo?: OfflinePushInfo;
  /** The sponsor's media state. */
  media: MediaState;
  /** Who is in the call now (the sponsor at first); a prepared client connects to them while ringing. */
  joined: string[];
}

export interface AcceptedFrame { t: 'accepted'; inviteID: string; userID: string; media: MediaState }
export interface RejectedFrame { t: 'rejected'; inviteID: string; userID: string }
export interface BusyFrame { t: 'busy'; inviteID: string; userID: string }
/** Invitees whose ringing timed out at the same moment. */
export interface NoRespFrame { t: 'noResp'; inviteID: string; userIDList: string[] }
/** To a ringing invitee: the sponsor cancelled. */
export interface CancelledFrame { t: 'cancelled'; inviteID: string; sponsor: string }
/** To a ringing invitee: nobody answered in time. */
export interface TimedOutFrame { t: 'timedOut'; inviteID: string }
/** A participant left a call that goes on (or is about to end). */
export interface LeftFrame { t: 'left'; inviteID: string; userID: string }

export type EndReason = 'hangup' | 'cancelled' | 'rejected' | 'busy' | 'no_answer' | 'disconnected' | 'logout' | 'kicked';

/** The call is over for the receiver. `connected` tells whether anyone ever accepted. */
export interface EndedFrame {
  t: 'ended';
  inviteID: string;
  roomID: number;
  callType: CallType;
  connected: boolean;
  /** Seconds from the first accept to the end; 0 if never connected. */
  duration: number;
  reason: EndReason;
}

export interface RelayFrame { t: 'relay'; inviteID: string; from: string; payload: RelayPayload }
export interface MediaFrame { t: 'media'; inviteID: string; userID: string; audio: boolean; video: boolean }
/** The same userID logged in elsewhere; this connection is closed right after. */
export interface KickedFrame { t: 'kicked'; reason: 'login_elsewhere' }
/** The UserSig expired while online; this connection is closed right after. */
export interface SigExpiredFrame { t: 'sigExpired' }
/** The invitee list of a (group) call changed. */
export interface InviteeListFrame { t: 'inviteeList'; inviteID: string; userIDList: string[] }

/** The other party switched the call between audio and video. */
export interface CallTypeFrame { t: 'callType'; inviteID: string; userID: string; callType: CallType }

export type ServerEventFrame =
  | InvitedFrame
  | AcceptedFrame
  | RejectedFrame
  | BusyFrame
  | NoRespFrame
  | CancelledFrame
  | TimedOutFrame
  | LeftFrame
  | EndedFrame
  | RelayFrame
  | MediaFrame
  | KickedFrame
  | SigExpiredFrame
  | InviteeListFrame
  | CallTypeFrame;

/** Event frames carry `seq`, increasing per user session, so a reconnecting client can say what it has. */
export type SequencedEventFrame = ServerEventFrame & { seq?: number };

export type ServerFrame = ResponseFrame | ErrorFrame | SequencedEventFrame;
