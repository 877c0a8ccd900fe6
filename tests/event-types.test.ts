/**
 * Typed events (issue 13, item 5): `on(TRTCCalling.EVENT.X, handler)` gives the handler the
 * payload type of X, and the payload types are the ones emitted (the SDK's own emit calls are
 * type-checked against the same EventMap). Checked by `npm run typecheck` (tsc over tests/);
 * the runtime part only confirms the overloads accept what they should.
 */
import { describe, expectTypeOf, it } from 'vitest';
import TRTCCalling, {
  EVENT,
  TUICallEvent,
  type CallCancelledReason,
  type EventMap,
  type InvitedInfo,
  type UserInfo,
  type UserVideoInfo,
} from '@opencall/client';
import type { EndReason } from '@opencall/protocol/lite';
import NodeTRTCCalling, { type InvitedInfo as NodeInvitedInfo, type LoginOptions as NodeLoginOptions } from '@opencall/client/node';

describe('event payload types', () => {
  const sdk = new TRTCCalling({ SDKAppID: 1400000000, serverUrl: 'http://127.0.0.1:9' });

  it('on(EVENT.X) hands the handler the payload of X', () => {
    sdk.on(TRTCCalling.EVENT.INVITED, (e) => {
      expectTypeOf(e).toEqualTypeOf<EventMap['onInvited']>();
      expectTypeOf(e.inviteData.callType).toEqualTypeOf<1 | 2>();
      expectTypeOf(e.inviteData.version).toEqualTypeOf<number>();
    });
    sdk.on(EVENT.USER_VIDEO_AVAILABLE, (e) => expectTypeOf(e.isVideoAvailable).toEqualTypeOf<boolean>());
    sdk.on(EVENT.CALL_END, (e) => expectTypeOf(e.reason).toEqualTypeOf<EndReason>());
    sdk.on(TUICallEvent.onCallCancelled, (e) => expectTypeOf(e.reason).toEqualTypeOf<CallCancelledReason>());
    sdk.on(EVENT.CALLING_CANCEL, (e) => expectTypeOf(e.reason).toEqualTypeOf<'answered_elsewhere' | 'declined_elsewhere' | undefined>());
    sdk.on(EVENT.KICKED_OUT, (e) => expectTypeOf(e.reason).toEqualTypeOf<'login_elsewhere'>());
    sdk.on(EVENT.ERROR, (e) => expectTypeOf(e).toMatchTypeOf<{ code: number; errorCode: number; message: string }>());
    sdk.on('onConnectionStateChanged', (e) => expectTypeOf(e.state).toEqualTypeOf<'reconnecting' | 'connected' | 'disconnected'>());
    sdk.once(EVENT.USER_ENTER, (e) => expectTypeOf(e.userID).toEqualTypeOf<string>());
  });

  it('every reason value the SDK emits is in the union, and nothing else', () => {
    expectTypeOf<EndReason>().toEqualTypeOf<'hangup' | 'cancelled' | 'rejected' | 'busy' | 'no_answer' | 'disconnected' | 'logout' | 'kicked'>();
    expectTypeOf<CallCancelledReason>().toEqualTypeOf<'cancelled' | 'timeout' | 'rejected' | 'no_answer' | 'busy' | 'answered_elsewhere' | 'declined_elsewhere'>();
  });

  it('a handler of the wrong payload type does not compile; unknown names take anything', () => {
    // @ts-expect-error -- INVITED's payload has no isVideoAvailable
    sdk.on(EVENT.INVITED, (e: UserVideoInfo) => e.isVideoAvailable);
    // @ts-expect-error -- REJECT's payload is not the INVITED one
    sdk.off(EVENT.REJECT, (e: InvitedInfo) => e.sponsor);
    sdk.on('someAppEvent', (anything: { whatever: number }) => anything.whatever);
    // DefinitelyTyped's names describe the payloads: a UserInfo handler fits REJECT.
    sdk.on(EVENT.REJECT, (e: UserInfo) => e.userID);
    expectTypeOf<TRTCCalling.InvitedInfo>().toEqualTypeOf<InvitedInfo>();
  });

  it("the Node entry exports the same names, as TRTCCalling.X too, and types its events alike", () => {
    expectTypeOf<NodeInvitedInfo>().toEqualTypeOf<InvitedInfo>();
    expectTypeOf<NodeTRTCCalling.LoginOptions>().toEqualTypeOf<NodeLoginOptions>();
    expectTypeOf<NodeLoginOptions>().toEqualTypeOf<{ userID: string; userSig: string }>();
    const node = new NodeTRTCCalling({ SDKAppID: 1400000000, serverUrl: 'http://127.0.0.1:9' });
    node.on(NodeTRTCCalling.EVENT.INVITED, (e) => expectTypeOf(e).toEqualTypeOf<NodeInvitedInfo>());
  });
});
