/**
 * @opencall/client: TRTCCalling-compatible calls on an OpenCall server.
 *
 *     import TRTCCalling from '@opencall/client';
 *     const trtcCalling = new TRTCCalling({ SDKAppID, serverUrl: 'https://calls.example.com' });
 */
import { TRTCCalling } from './TRTCCalling.js';

export default TRTCCalling;
export { TRTCCalling };
export type { ConnectionStateEvent, TRTCCallingOptions, CallParams, GroupCallParams, AcceptParams, RejectParams, ViewParams, StopViewParams } from './TRTCCalling.js';
export { EVENT, TUICallEvent } from './events.js';
export type * from './events.js';
export { CallingError, ErrorCode } from './errors.js';
export type { RtcImplementation, MediaDevicesLike } from './rtc/environment.js';
export type { VideoProfile } from './rtc/local-media.js';
export type { CallHistoryPage, CallHistoryParams, CallRecord, CallRecordParticipant, CallOutcome, CallRecordEndReason } from './history.js';
export type { WebSocketCtor } from './signal/signal-client.js';
// trtc-calling-js's published surface (issue 13): the type names apps import, CALL_TYPE's values.
export type * from './compat/typings.js';
export type { CallStatus, CallInfo } from './compat/published-surface.js';
export { CALL_TYPE } from './compat/published-surface.js';
