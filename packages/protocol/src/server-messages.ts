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
export interface InviteResult { inviteID: string; roomID: number; mediaPath: MediaPath }

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
  mediaPath: MediaPath;
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
  mediaPath: MediaPath;
  /** false: do not prepare media while ringing (several devices ring; which one answers is not known). */
  earlyMedia?: false;
}

export interface AcceptedFrame { t: 'accepted'; inviteID: string; userID: string; media: MediaState }
export interface RejectedFrame { t: 'rejected'; inviteID: string; userID: string }
export interface BusyFrame { t: 'busy'; inviteID: string; userID: string }
/** Invitees whose ringing timed out at the same moment. */
export interface NoRespFrame { t: 'noResp'; inviteID: string; userIDList: string[] }
/** To a ringing invitee: the sponsor cancelled. */
/**
 * To a ringing invitee: the invitation is over for them. `reason` is set when another device of
 * the same user answered or declined it (OPENCALL_MULTI_DEVICE=ring-all).
 */
export interface CancelledFrame { t: 'cancelled'; inviteID: string; sponsor: string; reason?: 'answered_elsewhere' | 'declined_elsewhere' }
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
  /**
   * Set when the call ended because this participant left (the last other one in it): the
   * client reports them leaving (USER_LEAVE) before the end, as if a `left` frame had come
   * first. One frame instead of two on every 1:1 hang-up.
   */
  leftUserID?: string;
}

export interface RelayFrame { t: 'relay'; inviteID: string; from: string; payload: RelayPayload }
export interface MediaFrame { t: 'media'; inviteID: string; userID: string; audio: boolean; video: boolean }
/** The same userID logged in elsewhere; this connection is closed right after. */
export interface KickedFrame { t: 'kicked'; reason: 'login_elsewhere' }
/** The UserSig expired while online; this connection is closed right after. */
export interface SigExpiredFrame { t: 'sigExpired' }
/**
 * Fresh ICE servers for this connection (new TURN credentials), pushed before the ones in hand
 * expire, for as long as the connection stays logged in: use them for every later connection
 * and hand them to the live ones (RTCPeerConnection.setConfiguration). Not sequenced.
 */
export interface IceServersFrame {
  t: 'iceServers';
  iceServers: IceServerConfig[];
  /** When the TURN credentials in it expire, ms since epoch (server clock). */
  expiresAt?: number;
}
/** The invitee list of a (group) call changed. */
export interface InviteeListFrame { t: 'inviteeList'; inviteID: string; userIDList: string[] }

/** The other party switched the call between audio and video. */
export interface CallTypeFrame { t: 'callType'; inviteID: string; userID: string; callType: CallType }

/**
 * How one person's part in a call turned out (call records, docs/records.md).
 * - accepted: answered (or joined); `joinedAt`/`leftAt` say when they were in the call
 * - rejected / busy / no_answer: declined, line busy, did not answer in time
 * - cancelled: still ringing when the call ended (the caller hung up, the call ended or the server restarted)
 * - left: the caller, once out of the call
 */
export type CallOutcome = 'accepted' | 'rejected' | 'no_answer' | 'busy' | 'cancelled' | 'left';

/** Why a recorded call ended: the `ended` frame's reasons, or the server stopping without ending it. */
export type CallRecordEndReason = EndReason | 'server_restart';

/** One person in a call record. Times are ms since the epoch (server clock). */
export interface CallRecordParticipant {
  userID: string;
  role: 'caller' | 'invitee';
  /** null while still open: ringing, or the caller still in the call. */
  outcome: CallOutcome | null;
  invitedAt: number;
  /** First time they were in the call (the caller: when the call was made); null if never. */
  joinedAt: number | null;
  /** When they left the call; null while in it or if never in it. */
  leftAt: number | null;
}

/** One call as the server recorded it; calls still going on have `endedAt` null. */
export interface CallRecord {
  /** The call's inviteID. */
  inviteID: string;
  roomID: number;
  /** The caller. */
  sponsor: string;
  /** Everyone invited, in invitation order. */
  invitees: string[];
  groupID: string | null;
  /** 1 audio, 2 video: the type the call started with (see typeSwitches). */
  callType: CallType;
  /** Audio/video switches during the call, oldest first; the last one is the type at the end. */
  typeSwitches: { at: number; callType: CallType; userID: string | null }[];
  createdAt: number;
  /** When the first invitee accepted; null if nobody did. */
  answeredAt: number | null;
  endedAt: number | null;
  /** Seconds from answeredAt to endedAt (what CALL_END's totalTime said); 0 if never answered, null while going on. */
  duration: number | null;
  endReason: CallRecordEndReason | null;
  /** The caller first, then the invitees in invitation order. */
  participants: CallRecordParticipant[];
}

/** Answer to `history`: a page of records, newest first. */
export interface CallHistoryPage {
  records: CallRecord[];
  /** Pass as `cursor` for the next (older) page; null when this is the last page. */
  nextCursor: string | null;
}

/** How a call's media travels: peer to peer between every pair, or through the SFU. */
export type MediaPath = 'mesh' | 'sfu';

/** One stream of the SFU subscriber connection: the transceiver `mid` carries `userID`'s `kind`. */
export interface SfuStreamInfo { mid: string; userID: string; kind: 'audio' | 'video' }

/** SFU call: a (re)offer for this client's subscriber connection; answer with `sfu` op `answer`. */
export interface SfuOfferFrame { t: 'sfuOffer'; inviteID: string; sdp: string; streams: SfuStreamInfo[] }

/**
 * SFU call: Janus hung up one of your two connections (its ICE had failed for several seconds,
 * say after a long network outage) and it cannot be restarted. Close it and rebuild it:
 * `publisher` → `sfu` op `publish` on a new connection; `subscriber` → `sfu` op `subscribe`, then
 * answer the `sfuOffer` that follows on a new connection. Kept in the backlog like other events,
 * so a client that was away gets it when it resumes.
 */
export interface SfuDroppedFrame { t: 'sfuDropped'; inviteID: string; target: 'publisher' | 'subscriber' }

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
  | IceServersFrame
  | InviteeListFrame
  | CallTypeFrame
  | SfuOfferFrame
  | SfuDroppedFrame;

/** Event frames carry `seq`, increasing per user session, so a reconnecting client can say what it has. */
export type SequencedEventFrame = ServerEventFrame & { seq?: number };

export type ServerFrame = ResponseFrame | ErrorFrame | SequencedEventFrame;
