import { ErrorCode } from '@opencall/client';

/**
 * What an SDK error code means to the person using the demo, in plain words. Codes the table
 * does not know fall back to the SDK's own message.
 */
const SENTENCES: Record<number, string> = {
  [ErrorCode.SWITCH_TO_AUDIO_FAILED]: 'Could not switch this call to audio only.',
  [ErrorCode.SWITCH_TO_VIDEO_FAILED]: 'Could not switch this call to video.',
  [ErrorCode.NO_MICROPHONE]: 'No microphone was found. Plug one in (or allow this page to use it) and try again.',
  [ErrorCode.NO_CAMERA]: 'No camera was found, so the call goes on with audio only.',
  [ErrorCode.DEVICE_PERMISSION_DENIED]: 'Camera/microphone permission was denied. Allow it in the browser’s site settings and try again.',
  [ErrorCode.WEBRTC_UNSUPPORTED]: 'This browser cannot make calls here: it needs WebRTC and a secure page (https or localhost).',
  [ErrorCode.MALFORMED_FRAME]: 'The server could not read a message from this page (is the demo as new as the server?).',
  [ErrorCode.INVALID_MESSAGE]: 'The server refused a message from this page (is the demo as new as the server?).',
  [ErrorCode.FRAME_TOO_LARGE]: 'A message was too large for the server.',
  [ErrorCode.UNKNOWN_MESSAGE]: 'The server does not know that request (is the demo as new as the server?).',
  [ErrorCode.INVALID_ARGUMENT]: 'That input is not valid.',
  [ErrorCode.USERSIG_INVALID]: 'The UserSig is not valid for this server.',
  [ErrorCode.USERSIG_EXPIRED]: 'The UserSig has expired. Sign in again with a new one.',
  [ErrorCode.SDKAPPID_MISMATCH]: 'The UserSig was made for another SDKAppID.',
  [ErrorCode.USERID_INVALID]: 'The UserSig belongs to another user ID.',
  [ErrorCode.NOT_LOGGED_IN]: 'You are not signed in.',
  [ErrorCode.ALREADY_LOGGED_IN]: 'You are already signed in.',
  [ErrorCode.NOT_A_PARTICIPANT]: 'You are not part of that call.',
  [ErrorCode.NOT_A_GROUP_MEMBER]: 'Someone in this call is not a member of the group.',
  [ErrorCode.ADMIN_UNAUTHORIZED]: 'Administrator access was refused.',
  [ErrorCode.CALL_NOT_FOUND]: 'That call is over, or you are not part of it.',
  [ErrorCode.PEER_UNAVAILABLE]: 'The other person is not online.',
  [ErrorCode.GROUP_NOT_FOUND]: 'There is no such group, or you are not in it.',
  [ErrorCode.INVALID_STATE]: 'That is not possible right now.',
  [ErrorCode.SELF_BUSY]: 'You are already in a call. Hang up first.',
  [ErrorCode.TOO_MANY_PARTICIPANTS]: 'Too many people for this call.',
  [ErrorCode.RATE_LIMITED]: 'Too many requests in a short time. Wait a moment and try again.',
  [ErrorCode.REQUEST_TIMEOUT]: 'The server did not answer in time. Check your connection.',
  [ErrorCode.CONNECTION_FAILED]: 'Cannot reach the call server. Check your connection.',
  [ErrorCode.INTERNAL]: 'The call server ran into a problem. Try again.',
  /** SFU_ERROR (group media through Janus). */
  50201: 'The media server could not set up the call’s audio/video. Try again.',
};

/** Codes whose SDK message says more than the sentence (which argument, which state). */
const ADD_DETAIL = new Set<number>([ErrorCode.INVALID_ARGUMENT, ErrorCode.INVALID_STATE]);

/** One sentence for an error code; `message` (the SDK's) is used for unknown codes and added for vague ones. */
export function describeError(code: number | undefined, message?: string): string {
  const known = code === undefined ? undefined : SENTENCES[code];
  if (!known) return message ? `Something went wrong: ${message}` : 'Something went wrong.';
  if (message && ADD_DETAIL.has(code!)) return `${known.replace(/\.$/, '')}: ${message}.`;
  return known;
}
