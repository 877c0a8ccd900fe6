import { describe, expect, it } from 'vitest';
import { EVENT } from '@opencall/client/node';
import { eventually, expectMediaFlowing, inbound, sleep, startTestServer, testBed } from './support/harness.js';

describe('1:1 video call with real media', () => {
  const bed = testBed();

  it('connects, carries audio and video both ways, shows mute and camera-off, and hangs up', async () => {
    const server = (bed.server = await startTestServer());
    const alice = await bed.client('alice');
    const bob = await bed.client('bob');

    await alice.sdk.call({ userID: 'bob', type: 2 });
    const invited = await bob.waitFor(EVENT.INVITED);
    expect(invited).toMatchObject({ sponsor: 'alice', userIDList: ['bob'], isFromGroup: false, inviteData: { callType: 2 } });
    expect(typeof invited.inviteID).toBe('string');
    expect(typeof invited.inviteData.roomID).toBe('number');

    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'bob');
    await bob.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'alice');
    await alice.waitFor(EVENT.USER_VIDEO_AVAILABLE, (p) => p.userID === 'bob' && p.isVideoAvailable === true);
    await bob.waitFor(EVENT.USER_AUDIO_AVAILABLE, (p) => p.userID === 'alice' && p.isAudioAvailable === true);

    // Media flows both ways: bytes and decoded frames keep growing.
    for (const [me, peer] of [[alice, 'bob'], [bob, 'alice']] as const) await expectMediaFlowing(me, peer);
    expect(bob.sdk.getRemoteStream('alice')?.getVideoTracks().length).toBe(1);

    // Mute and camera-off are seen by the other side.
    await alice.sdk.setMicMute(true);
    await bob.waitFor(EVENT.USER_AUDIO_AVAILABLE, (p) => p.userID === 'alice' && p.isAudioAvailable === false);
    await alice.sdk.setMicMute(false);
    await eventually(() => bob.events.filter((e) => e.event === EVENT.USER_AUDIO_AVAILABLE && e.payload.isAudioAvailable).length === 2, 'unmute seen');

    await bob.sdk.closeCamera();
    await alice.waitFor(EVENT.USER_VIDEO_AVAILABLE, (p) => p.userID === 'bob' && p.isVideoAvailable === false);
    // With the camera closed no more frames arrive from bob.
    await sleep(500);
    const stopped1 = await inbound(alice, 'bob');
    await sleep(700);
    const stopped2 = await inbound(alice, 'bob');
    expect(stopped2.framesDecoded - stopped1.framesDecoded).toBeLessThanOrEqual(1);
    await bob.sdk.openCamera();
    await eventually(() => alice.events.filter((e) => e.event === EVENT.USER_VIDEO_AVAILABLE && e.payload.isVideoAvailable).length === 2, 'camera back seen');
    const back1 = await inbound(alice, 'bob');
    await eventually(async () => (await inbound(alice, 'bob')).framesDecoded > back1.framesDecoded + 3, 'frames again after openCamera');

    await alice.sdk.hangup();
    const aliceEnd = await alice.waitFor(EVENT.CALL_END);
    const bobEnd = await bob.waitFor(EVENT.CALL_END);
    expect(aliceEnd.callRole).toBe(1);
    expect(bobEnd.callRole).toBe(2);
    expect(bobEnd.totalTime).toBeGreaterThanOrEqual(1);
    expect(alice.names([EVENT.USER_LEAVE])).toEqual([]);
    expect(bob.names([EVENT.USER_LEAVE, EVENT.CALL_END])).toEqual([EVENT.USER_LEAVE, EVENT.CALL_END]);
    expect(alice.sdk.getRemoteStream('bob')).toBeNull();
    expect(alice.sdk.getLocalStream()).toBeNull();
    expect(server.stats().calls).toBe(0);
  });
});
