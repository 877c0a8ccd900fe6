/**
 * trtc-calling-js's getters (getCallStatus, getInviteeList, ...; issue 13, item 1) follow a real
 * call on a real server: the values the published package's getters would give at each step.
 */
import { describe, expect, it } from 'vitest';
import { EVENT, TRTCCalling } from '@opencall/client/node';
import { testBed, startTestServer } from './support/harness.js';

describe("trtc-calling-js's getters during a call", () => {
  const bed = testBed();

  it('caller and callee see status, type, inviter, invitees, group and connected users', async () => {
    bed.server = await startTestServer();
    const [alice, bob, carol] = [await bed.client('alice'), await bed.client('bob'), await bed.client('carol')];
    expect(alice.sdk.getUserID()).toBe('alice');
    const { inviteID } = await alice.sdk.groupCall({ userIDList: ['bob', 'carol'], type: 2, groupID: 'im-team' });
    await bob.waitFor(EVENT.INVITED);
    for (const [sdk, inviter] of [[alice.sdk, true], [bob.sdk, false]] as const) {
      expect(sdk.getCallStatus()).toBe('calling');
      expect(sdk.getCallType()).toBe(TRTCCalling.CALL_TYPE.VIDEO_CALL);
      expect(sdk.getInviterID()).toBe('alice');
      expect(sdk.isInviter()).toBe(inviter);
      expect(sdk.getInviteeList()).toEqual(['bob', 'carol']);
      expect(sdk.getGroupID()).toBe('im-team');
      expect(sdk.isGroupCall()).toBe(true);
    }
    expect(alice.sdk.getInviterInviteID()).toEqual([inviteID]);
    expect(bob.sdk.getInviterInviteID()).toEqual([]);
    expect(alice.sdk.getUnHandledInviteeList()).toEqual(['bob', 'carol']);

    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'bob');
    expect(alice.sdk.getCallStatus()).toBe('connected');
    expect(alice.sdk.getUnHandledInviteeList()).toEqual(['carol']);
    expect(alice.sdk.getRemoteStreamCount()).toBe(1);
    expect(alice.sdk.hasRemoteConnectedUsers()).toBe(true);
    await carol.sdk.reject();
    await alice.waitFor(EVENT.REJECT, (p) => p.userID === 'carol');
    expect(alice.sdk.getUnHandledInviteeList()).toEqual([]);

    await alice.sdk.hangup();
    await bob.waitFor(EVENT.CALL_END);
    expect([alice.sdk.getCallStatus(), alice.sdk.getCallType(), alice.sdk.getInviteeList()]).toEqual(['idle', 0, []]);
  });
});
