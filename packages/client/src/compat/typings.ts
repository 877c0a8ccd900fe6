/**
 * The type names apps written for trtc-calling-js import. Tencent's package ships no typings;
 * apps compile against DefinitelyTyped's `types/trtc-calling-js/index.d.ts` (written for 0.6;
 * the `@types/trtc-calling-js` package is no longer on npm), which declares them in a
 * `TRTCCalling` namespace: `TRTCCalling.InvitedInfo`, ... Both spellings work here:
 * `import type { InvitedInfo } from '@opencall/client'` and `TRTCCalling.InvitedInfo`.
 *
 * Where DefinitelyTyped and what the package emits differ, the types follow what is emitted
 * (docs/migration.md, "Types"): `inviteData.version` is a number, `callEnd` a number of
 * seconds, and CALLING_CANCEL/CALLING_TIMEOUT/CALL_END/KICKED_OUT carry payloads.
 */
import type { AcceptParams, CallParams, GroupCallParams, RejectParams, TRTCCallingOptions, ViewParams } from '../TRTCCalling.js';
import type { AudioAvailableEvent, InvitedEvent, VideoAvailableEvent } from '../events.js';

export type { LogLevel } from './published-surface.js';
/** A listener of `on()`/`off()`. */
export type Callback<T = any> = (payload: T) => void;
/** `new TRTCCalling(options)`. */
export type Options = TRTCCallingOptions;
/** Who an event or a call is about. */
export interface UserInfo { userID: string }
/** `login()`. */
export interface LoginOptions extends UserInfo { userSig: string }
/** `call()`. */
export type CallOptions = CallParams;
/** `groupCall()`. */
export type GroupCallOptions = GroupCallParams;
/** `accept()` (v0 form). */
export type AcceptOptions = AcceptParams;
/** `reject()` (v0 form). */
export type RejectOptions = RejectParams;
/** `startLocalView()` / `startRemoteView()`. */
export type ViewOptions = ViewParams;
/** USER_VIDEO_AVAILABLE. */
export type UserVideoInfo = VideoAvailableEvent;
/** USER_AUDIO_AVAILABLE. */
export type UserAudioInfo = AudioAvailableEvent;
/** INVITED. */
export type InvitedInfo = InvitedEvent;
/** Payload by event name. */
export type { EventMap } from '../events.js';
