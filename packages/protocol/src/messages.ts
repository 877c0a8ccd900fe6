/**
 * The OpenCall wire protocol: JSON text frames over one WebSocket per client.
 *
 * Client → server messages are zod schemas (the server validates every inbound frame with them);
 * server → client messages are plain TypeScript types, since the client trusts its server and
 * must stay small (zod is not in the browser bundle).
 *
 * Requests carry `rid`, a per-connection request number; the server answers each with exactly one
 * `res` frame carrying the same `rid`. Frames without `rid` are fire-and-forget; if they fail the
 * server sends an `error` frame.
 */
import { z } from 'zod';
import { USER_ID_PATTERN } from './limits.js';

export const userIdSchema = z.string().regex(USER_ID_PATTERN, 'userID may contain only letters, digits, "-" and "_" (1-64 characters)');
export const inviteIdSchema = z.string().min(1).max(64);
/** Group IDs follow the IM rules loosely: printable, bounded. */
export const groupIdSchema = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'groupID must be printable ASCII without spaces');
const ridSchema = z.number().int().min(0).max(2 ** 31);

/** 1 = audio call, 2 = video call (the spec's `type` / `callType`). */
export const callTypeSchema = z.union([z.literal(1), z.literal(2)]);
export type CallType = z.infer<typeof callTypeSchema>;

/** What a participant is sending: drives USER_AUDIO_AVAILABLE / USER_VIDEO_AVAILABLE on the others. */
export const mediaStateSchema = z.object({ audio: z.boolean(), video: z.boolean() }).strict();
export type MediaState = z.infer<typeof mediaStateSchema>;

export const offlinePushInfoSchema = z
  .object({
    title: z.string().max(256).optional(),
    description: z.string().max(1024).optional(),
    androidOPPOChannelID: z.string().max(256).optional(),
    extension: z.string().max(4096).optional(),
  })
  .strict();
export type OfflinePushInfo = z.infer<typeof offlinePushInfoSchema>;

/** Media negotiation relayed between two parties of a call; the server only checks who may talk to whom. */
export const relayPayloadSchema = z.discriminatedUnion('kind', [
  /** "I have the invitation and my peer connection is ready: send me an offer." */
  z.object({ kind: z.literal('ready') }).strict(),
  z.object({ kind: z.literal('sdp'), type: z.enum(['offer', 'answer']), sdp: z.string().min(1).max(64_000) }).strict(),
  z
    .object({
      kind: z.literal('ice'),
      candidate: z.string().max(2048),
      sdpMid: z.string().max(64).nullable().optional(),
      sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
      usernameFragment: z.string().max(256).nullable().optional(),
    })
    .strict(),
]);
export type RelayPayload = z.infer<typeof relayPayloadSchema>;

export const loginSchema = z
  .object({
    t: z.literal('login'),
    rid: ridSchema,
    sdkAppId: z.number().int().min(0).max(2 ** 32),
    userID: z.string().max(256),
    userSig: z.string().min(1).max(4096),
    /** Reconnecting: the token from the previous login and the last event `seq` received. */
    resume: z.object({ token: z.string().min(1).max(64), lastSeq: z.number().int().min(0).max(2 ** 53) }).strict().optional(),
  })
  .strict();

export const logoutSchema = z.object({ t: z.literal('logout'), rid: ridSchema }).strict();

export const inviteSchema = z
  .object({
    t: z.literal('invite'),
    rid: ridSchema,
    invitees: z.array(userIdSchema).min(1).max(256),
    callType: callTypeSchema,
    /** Seconds; 0 = never time out (v0 semantics). */
    timeout: z.number().int().min(0).max(24 * 3600),
    groupID: groupIdSchema.optional(),
    offlinePushInfo: offlinePushInfoSchema.optional(),
    /** Free-form app data passed to invitees (TUICallKit's userData). */
    userData: z.string().max(4096).optional(),
    media: mediaStateSchema.optional(),
  })
  .strict();

export const acceptSchema = z
  .object({ t: z.literal('accept'), rid: ridSchema, inviteID: inviteIdSchema, media: mediaStateSchema.optional() })
  .strict();

export const rejectSchema = z
  .object({ t: z.literal('reject'), rid: ridSchema, inviteID: inviteIdSchema, busy: z.boolean().optional() })
  .strict();

export const hangupSchema = z.object({ t: z.literal('hangup'), rid: ridSchema, inviteID: inviteIdSchema }).strict();

export const relaySchema = z
  .object({
    t: z.literal('relay'),
    rid: ridSchema.optional(),
    inviteID: inviteIdSchema,
    to: userIdSchema,
    payload: relayPayloadSchema,
  })
  .strict();

/** Invite more users into a running call (TUICallKit's inviteUser). */
export const addInviteesSchema = z
  .object({ t: z.literal('addInvitees'), rid: ridSchema, inviteID: inviteIdSchema, invitees: z.array(userIdSchema).min(1).max(256) })
  .strict();

/**
 * Join a running call without (or after) ringing: TUICallKit's joinInGroupCall. Identified by
 * inviteID, or by roomID together with the call's groupID.
 */
export const joinSchema = z
  .object({
    t: z.literal('join'),
    rid: ridSchema,
    inviteID: inviteIdSchema.optional(),
    roomID: z.number().int().min(1).max(2 ** 31).optional(),
    groupID: groupIdSchema.optional(),
    media: mediaStateSchema.optional(),
  })
  .strict()
  .refine((m) => m.inviteID !== undefined || (m.roomID !== undefined && m.groupID !== undefined), 'give inviteID, or roomID with groupID');

/** Switch a connected 1:1 call between audio (1) and video (2). */
export const callTypeChangeSchema = z
  .object({ t: z.literal('callType'), rid: ridSchema, inviteID: inviteIdSchema, callType: callTypeSchema })
  .strict();

const sfuCandidateSchema = z
  .object({
    candidate: z.string().max(2048),
    sdpMid: z.string().max(64).nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
  })
  .strict();

/**
 * Media of an SFU call, proxied by the server to Janus: publish our tracks (answer in the
 * `res`), answer a subscriber offer (`sfuOffer` frame), trickle ICE for either connection, and
 * restart ICE on one of them when its path broke: `publisher` carries the client's restart offer
 * (answer in the `res`), `subscriber` carries no SDP (Janus's restart offer follows as `sfuOffer`).
 * After an `sfuDropped` frame the connection is rebuilt: `publish` again for the publisher,
 * `subscribe` (no SDP) for the subscriber: every live feed on a new subscriber connection,
 * replacing any earlier one (Janus's offer follows as `sfuOffer`).
 */
export const sfuSchema = z.discriminatedUnion('op', [
  z.object({ t: z.literal('sfu'), rid: ridSchema, inviteID: inviteIdSchema, op: z.literal('publish'), sdp: z.string().min(1).max(64_000) }).strict(),
  z.object({ t: z.literal('sfu'), rid: ridSchema, inviteID: inviteIdSchema, op: z.literal('answer'), sdp: z.string().min(1).max(64_000) }).strict(),
  z.object({ t: z.literal('sfu'), rid: ridSchema, inviteID: inviteIdSchema, op: z.literal('subscribe') }).strict(),
  z
    .object({
      t: z.literal('sfu'),
      rid: ridSchema.optional(),
      inviteID: inviteIdSchema,
      op: z.literal('trickle'),
      target: z.enum(['publisher', 'subscriber']),
      candidate: sfuCandidateSchema.nullable(),
    })
    .strict(),
  z
    .object({
      t: z.literal('sfu'),
      rid: ridSchema,
      inviteID: inviteIdSchema,
      op: z.literal('restart'),
      target: z.enum(['publisher', 'subscriber']),
      sdp: z.string().min(1).max(64_000).optional(),
    })
    .strict()
    .refine((m) => (m.target === 'publisher') === (m.sdp !== undefined), 'a publisher restart carries the restart offer (sdp), a subscriber restart none'),
]);

export const mediaSchema = z
  .object({ t: z.literal('media'), rid: ridSchema.optional(), inviteID: inviteIdSchema, audio: z.boolean(), video: z.boolean() })
  .strict();

export const pingSchema = z.object({ t: z.literal('ping'), rid: ridSchema }).strict();

/** A page of your own call records, newest first (see docs/records.md); `cursor` from the previous page. */
export const historySchema = z
  .object({ t: z.literal('history'), rid: ridSchema, cursor: z.string().min(1).max(256).optional(), limit: z.number().int().min(1).max(100).optional() })
  .strict();

export const clientMessageSchema = z.discriminatedUnion('t', [
  loginSchema,
  logoutSchema,
  inviteSchema,
  acceptSchema,
  rejectSchema,
  hangupSchema,
  relaySchema,
  mediaSchema,
  addInviteesSchema,
  joinSchema,
  callTypeChangeSchema,
  pingSchema,
  historySchema,
  sfuSchema,
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type ClientMessageType = ClientMessage['t'];
export const CLIENT_MESSAGE_TYPES: readonly ClientMessageType[] = [
  'login', 'logout', 'invite', 'accept', 'reject', 'hangup', 'relay', 'media', 'addInvitees', 'join', 'callType', 'ping', 'history', 'sfu',
];
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { t: T }>;
