/**
 * Error codes carried by protocol error frames and by the client SDK's ERROR event.
 *
 * 600xx are the codes trtc-calling-js documents (media and environment failures, raised by the client).
 * 4xxxx are OpenCall's own signaling codes; their hundreds follow HTTP's meaning so they read at a glance.
 */
export const ErrorCode = {
  /** switchToAudioCall failed (spec). */
  SWITCH_TO_AUDIO_FAILED: 60001,
  /** switchToVideoCall failed (spec). */
  SWITCH_TO_VIDEO_FAILED: 60002,
  /** No microphone available (spec). */
  NO_MICROPHONE: 60003,
  /** No camera available (spec). */
  NO_CAMERA: 60004,
  /** The user or the browser denied access to the devices (spec). */
  DEVICE_PERMISSION_DENIED: 60005,
  /** The environment has no WebRTC (spec, v1.0.4+). */
  WEBRTC_UNSUPPORTED: 60006,

  /** The frame is not JSON. */
  MALFORMED_FRAME: 40001,
  /** The frame is JSON but does not match the message schema. */
  INVALID_MESSAGE: 40002,
  /** The frame is larger than the server accepts. */
  FRAME_TOO_LARGE: 40003,
  /** The message type is unknown. */
  UNKNOWN_MESSAGE: 40004,
  /** An argument given to an SDK method is invalid. */
  INVALID_ARGUMENT: 40005,
  /** The UserSig is malformed, forged, or signed with another key. */
  USERSIG_INVALID: 40101,
  /** The UserSig has expired. */
  USERSIG_EXPIRED: 40102,
  /** The UserSig was issued for another SDKAppID. */
  SDKAPPID_MISMATCH: 40103,
  /** The UserSig was issued for another userID, or the userID is not allowed. */
  USERID_INVALID: 40104,
  /** The message needs a logged-in session. */
  NOT_LOGGED_IN: 40105,
  /** This connection is already logged in. */
  ALREADY_LOGGED_IN: 40106,
  /** The user is not a party of that call. */
  NOT_A_PARTICIPANT: 40301,
  /** The caller or an invitee is not a member of the call's group. */
  NOT_A_GROUP_MEMBER: 40302,
  /** The admin credentials are missing or wrong (REST API). */
  ADMIN_UNAUTHORIZED: 40303,
  /** No such call (it may be over already). */
  CALL_NOT_FOUND: 40401,
  /** The user is offline (used for relays that cannot be delivered). */
  PEER_UNAVAILABLE: 40402,
  /** No group with that groupID. */
  GROUP_NOT_FOUND: 40403,
  /** The call is not in a state that allows this (e.g. accept when nothing is ringing). */
  INVALID_STATE: 40901,
  /** The caller is already ringing or in a call. */
  SELF_BUSY: 40902,
  /** The call would have more participants than the server allows (or than its media path carries). */
  TOO_MANY_PARTICIPANTS: 40903,
  /** Too many messages in too short a time. */
  RATE_LIMITED: 42901,
  /** The request got no answer in time. */
  REQUEST_TIMEOUT: 40801,
  /** The connection to the server is closed or could not be opened. */
  CONNECTION_FAILED: 50301,
  /** A bug on the server; logged there with details. */
  INTERNAL: 50000,
  /** The SFU (Janus) refused or failed a media operation. */
  SFU_ERROR: 50201,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];
