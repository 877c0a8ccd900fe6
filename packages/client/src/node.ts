/**
 * Node entry of @opencall/client (chosen automatically by the "node" export condition).
 *
 * Same API as the browser build. Differences: the WebSocket comes from the `ws` package when
 * Node has no global one (Node < 22), and WebRTC from `@roamhq/wrtc` when it is installed and no
 * `rtc` option is given. Both are optional peer dependencies: install them next to this package
 * (`npm install ws @roamhq/wrtc`); a call without them fails with an error naming the package. wrtc cannot capture devices, so its getUserMedia is replaced by synthetic
 * devices (a moving test pattern and a tone) that carry real media through real peer connections.
 */
import { TRTCCalling as BaseTRTCCalling, type TRTCCallingOptions } from './TRTCCalling.js';
import { CallingError, ErrorCode } from './errors.js';
import type { RtcImplementation } from './rtc/environment.js';
import { createSyntheticMediaDevices, type SyntheticMediaOptions, type WrtcLike } from './node/synthetic-media.js';
import { safeWrtcPeerConnection } from './node/wrtc-peer-connection.js';
import type { WebSocketCtor } from './signal/signal-client.js';
import type * as Typings from './compat/typings.js';

/** Node options: `rtc` may be the whole wrtc module; `syntheticMedia` shapes the fake devices. */
export interface NodeTRTCCallingOptions extends TRTCCallingOptions {
  syntheticMedia?: SyntheticMediaOptions;
}

// Variable specifiers keep bundlers and the type checker from resolving optional packages.
const WS_MODULE = 'ws';
const WRTC_MODULE = '@roamhq/wrtc';

/** The package, or null when it is not installed (any other failure to load it is thrown). */
async function optionalImport(name: string): Promise<any> {
  try {
    const m = await import(name);
    return m.default ?? m;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes(`'${name}'`)) return null;
    throw new CallingError(ErrorCode.WEBRTC_UNSUPPORTED, `the package '${name}' does not load (${e?.message ?? String(err)}): reinstall it with npm install ${name}`);
  }
}

/** TRTCCalling for Node. */
export class TRTCCalling extends BaseTRTCCalling {
  private readonly nodeOptions: NodeTRTCCallingOptions;
  /** No `rtc` option was given and @roamhq/wrtc is not installed. */
  private wrtcMissing = false;

  constructor(options: NodeTRTCCallingOptions) {
    super(options);
    this.nodeOptions = { ...options };
  }

  protected override async resolveWebSocket(): Promise<WebSocketCtor> {
    if (this.nodeOptions.WebSocket) return this.nodeOptions.WebSocket;
    const g = (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (g) return g;
    const ws = await optionalImport(WS_MODULE);
    if (!ws) throw new CallingError(ErrorCode.WEBRTC_UNSUPPORTED, `this Node (${process.version}) has no WebSocket and the package 'ws' is not installed: npm install ws (or pass options.WebSocket)`);
    return (ws.WebSocket ?? ws) as WebSocketCtor;
  }

  protected override async resolveRtc(): Promise<RtcImplementation | null> {
    const given = this.nodeOptions.rtc as (RtcImplementation & Partial<WrtcLike>) | undefined;
    const wrtc = (given?.nonstandard ? given : await optionalImport(WRTC_MODULE)) as (WrtcLike & RtcImplementation) | null;
    const chosen = given ?? wrtc;
    this.wrtcMissing = !chosen;
    if (!chosen) return null;
    // wrtc's description getters race its signaling thread and can segfault the process:
    // use the subclass that answers them from JavaScript (see node/wrtc-peer-connection.ts).
    const rtc: RtcImplementation =
      wrtc !== null && chosen.RTCPeerConnection === wrtc.RTCPeerConnection
        ? { ...chosen, RTCPeerConnection: safeWrtcPeerConnection(chosen.RTCPeerConnection) }
        : chosen;
    // wrtc's own mediaDevices yields tracks that never carry a frame: use synthetic devices instead.
    const deadDevices = !rtc.mediaDevices || (wrtc !== null && rtc.mediaDevices === wrtc.mediaDevices);
    if (!deadDevices || !wrtc?.nonstandard) return rtc;
    return {
      RTCPeerConnection: rtc.RTCPeerConnection,
      MediaStream: rtc.MediaStream ?? wrtc.MediaStream,
      mediaDevices: createSyntheticMediaDevices(wrtc, this.nodeOptions.syntheticMedia) as unknown as RtcImplementation['mediaDevices'] & object,
    };
  }

  protected override noRtcReason(): string {
    if (!this.wrtcMissing) return super.noRtcReason();
    return `Node has no WebRTC and the package '${WRTC_MODULE}' is not installed: npm install ${WRTC_MODULE} (or pass options.rtc)`;
  }

  protected override defaultServerUrl(): string {
    return process.env.OPENCALL_URL ?? super.defaultServerUrl();
  }
}

/**
 * The type names of DefinitelyTyped's trtc-calling-js typings, reachable as `TRTCCalling.X` as
 * they are there (also exported by name from the package).
 */
export declare namespace TRTCCalling {
  export type LogLevel = Typings.LogLevel;
  export type Callback<T = any> = Typings.Callback<T>;
  export type Options = Typings.Options;
  export type UserInfo = Typings.UserInfo;
  export type LoginOptions = Typings.LoginOptions;
  export type CallOptions = Typings.CallOptions;
  export type GroupCallOptions = Typings.GroupCallOptions;
  export type AcceptOptions = Typings.AcceptOptions;
  export type RejectOptions = Typings.RejectOptions;
  export type ViewOptions = Typings.ViewOptions;
  export type UserVideoInfo = Typings.UserVideoInfo;
  export type UserAudioInfo = Typings.UserAudioInfo;
  export type InvitedInfo = Typings.InvitedInfo;
  export type EventMap = Typings.EventMap;
}

export default TRTCCalling;
export { createSyntheticMediaDevices, type SyntheticMediaOptions };
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
