import { describe, expect, it } from 'vitest';
import { EVENT, ErrorCode, TUICallEvent } from '@opencall/client/node';
import { connectCall, eventually, inbound, sleep, startTestServer, testBed, TestClient } from './support/harness.js';
import { watchChroma } from './support/media-probes.js';

describe('media controls in a call', () => {
  const bed = testBed();
  const client = bed.client;
  const connect = connectCall;

  it('switchDevice mid-call: the peer sees the other camera, without renegotiation', async () => {
    bed.server = await startTestServer();
    const [alice, bob] = [await client('alice'), await client('bob')];
    await connect(alice, bob, 2);
    const cameras = await alice.sdk.getCameras();
    const mics = await alice.sdk.getMicrophones();
    expect(cameras.map((c) => c.deviceId)).toEqual(['synthetic-camera-0', 'synthetic-camera-1']);
    expect(mics).toHaveLength(2);
    const pc: RTCPeerConnection = (alice.sdk as any).controller.current.media.links.get('bob').pc;
    const transceivers = pc.getTransceivers().length;
    const view = watchChroma(bob.sdk.getRemoteStream('alice')!.getVideoTracks()[0]!);
    try {
      await eventually(() => view.seen.frames > 3 && view.seen.meanU > 200, `camera 0 colour (U=${view.seen.meanU})`);
      await alice.sdk.switchDevice({ deviceType: 'video', deviceId: cameras[1]!.deviceId });
      await eventually(() => view.seen.meanU < 90, `camera 1 colour after the switch (U=${view.seen.meanU})`);
      const audioBefore = (await inbound(bob, 'alice')).audioBytes;
      await alice.sdk.switchDevice({ deviceType: 'audio', deviceId: mics[1]!.deviceId });
      await eventually(async () => (await inbound(bob, 'alice')).audioBytes > audioBefore + 2000, 'audio keeps flowing after the mic switch');
      expect(pc.getTransceivers().length).toBe(transceivers);
      expect(pc.signalingState).toBe('stable');
      await expect(alice.sdk.switchDevice({ deviceType: 'video', deviceId: 'no-such-camera' })).rejects.toMatchObject({ code: ErrorCode.NO_CAMERA });
      await expect(alice.sdk.switchDevice({ deviceType: 'screen' as any, deviceId: 'x' })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    } finally {
      view.stop();
    }
  });

  it('switchDevice never turns a closed device on', async () => {
    bed.server = await startTestServer();
    const [alice, bob] = [await client('alice'), await client('bob')];
    await alice.sdk.switchDevice({ deviceType: 'video', deviceId: 'synthetic-camera-1' });
    await alice.sdk.switchDevice({ deviceType: 'audio', deviceId: 'synthetic-microphone-1' });
    expect(alice.sdk.getLocalStream()).toBeNull();
    // in an audio call, switching the camera does not turn it on
    await connect(alice, bob, 1);
    await alice.sdk.switchDevice({ deviceType: 'video', deviceId: 'synthetic-camera-0' });
    expect(alice.sdk.getLocalStream()?.getVideoTracks()).toEqual([]);
    await sleep(300);
    expect(bob.count(EVENT.USER_VIDEO_AVAILABLE)).toBe(0);
  });

  it('switchToAudioCall and back to video, reflected on both sides', async () => {
    bed.server = await startTestServer();
    const [alice, bob] = [await client('alice'), await client('bob')];
    await connect(alice, bob, 2);
    await alice.sdk.switchToAudioCall();
    expect(await bob.waitFor(TUICallEvent.onCallMediaTypeChanged)).toMatchObject({ oldCallMediaType: 1, newCallMediaType: 0 });
    expect(await alice.waitFor(TUICallEvent.onCallMediaTypeChanged)).toMatchObject({ oldCallMediaType: 1, newCallMediaType: 0 });
    await bob.waitFor(EVENT.USER_VIDEO_AVAILABLE, (p) => p.userID === 'alice' && !p.isVideoAvailable);
    await alice.waitFor(EVENT.USER_VIDEO_AVAILABLE, (p) => p.userID === 'bob' && !p.isVideoAvailable);
    expect(alice.sdk.getLocalStream()?.getVideoTracks()).toEqual([]);
    await eventually(() => (bob.sdk.getLocalStream()?.getVideoTracks().length ?? 0) === 0, 'bob camera closed');
    await expect(alice.sdk.switchToAudioCall()).rejects.toMatchObject({ code: ErrorCode.SWITCH_TO_AUDIO_FAILED });

    await bob.sdk.switchToVideoCall();
    await alice.waitFor(TUICallEvent.onCallMediaTypeChanged, (p) => p.newCallMediaType === 1);
    await alice.waitFor(EVENT.USER_VIDEO_AVAILABLE, (p) => p.userID === 'bob' && p.isVideoAvailable && alice.count(EVENT.USER_VIDEO_AVAILABLE) > 2);
    await bob.waitFor(EVENT.USER_VIDEO_AVAILABLE, (p) => p.userID === 'alice' && p.isVideoAvailable && bob.count(EVENT.USER_VIDEO_AVAILABLE) > 2);
    for (const [me, peer] of [[alice, 'bob'], [bob, 'alice']] as const) {
      const a = await inbound(me, peer);
      await eventually(async () => (await inbound(me, peer)).framesDecoded > a.framesDecoded + 5, `${me.userID} gets video again`);
    }
  });

  it('an audio call switched to video renegotiates and carries video both ways', async () => {
    bed.server = await startTestServer();
    const [alice, bob] = [await client('alice'), await client('bob')];
    await connect(alice, bob, 1);
    expect((await inbound(bob, 'alice')).videoBytes).toBe(0);
    await alice.sdk.switchToVideoCall();
    await bob.waitFor(TUICallEvent.onCallMediaTypeChanged, (p) => p.newCallMediaType === 1);
    await eventually(async () => (await inbound(bob, 'alice')).framesDecoded > 5, 'bob decodes alice video', 15_000);
    await eventually(async () => (await inbound(alice, 'bob')).framesDecoded > 5, 'alice decodes bob video', 15_000);
    await bob.waitFor(EVENT.USER_VIDEO_AVAILABLE, (p) => p.userID === 'alice' && p.isVideoAvailable);
    await alice.waitFor(EVENT.USER_VIDEO_AVAILABLE, (p) => p.userID === 'bob' && p.isVideoAvailable);
  });

  it('switching is refused outside a 1:1 call with 60001/60002', async () => {
    bed.server = await startTestServer();
    const [alice, bob, carol] = [await client('alice'), await client('bob'), await client('carol')];
    await expect(alice.sdk.switchToVideoCall()).rejects.toMatchObject({ code: ErrorCode.SWITCH_TO_VIDEO_FAILED });
    await alice.sdk.groupCall({ userIDList: ['bob', 'carol'], type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await carol.waitFor(EVENT.INVITED);
    await bob.sdk.accept();
    await carol.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'carol');
    await expect(alice.sdk.switchToAudioCall()).rejects.toMatchObject({ code: ErrorCode.SWITCH_TO_AUDIO_FAILED });
    expect((await alice.waitFor(EVENT.ERROR, (e) => e.code === 60001)).message).toMatch(/1:1/);
  });

  it('volume (0-100 per user, local and remote) and network quality while in a call', async () => {
    bed.server = await startTestServer();
    const [alice, bob] = [await client('alice'), await client('bob')];
    await connect(alice, bob, 2);
    await alice.waitFor(EVENT.USER_VOICE_VOLUME, (p) => p.volumeMap.bob > 10 && p.volumeMap.alice > 10);
    await bob.waitFor(TUICallEvent.onUserVoiceVolumeChanged, (p) => p.volumeMap.alice > 10);
    const q = await alice.waitFor(TUICallEvent.onUserNetworkQualityChanged, (p) => p.networkQualityMap.bob !== 'Unknown', 5000);
    expect(['Excellent', 'Good']).toContain(q.networkQualityMap.bob);
    expect([...q].map(([id]: [string]) => id).sort()).toEqual(['alice', 'bob']);
    // muting shows as silence on both sides
    await alice.sdk.setMicMute(true);
    const mark = alice.events.length;
    await alice.waitFor(EVENT.USER_VOICE_VOLUME, (p) => p.volumeMap.alice === 0);
    await bob.waitFor(EVENT.USER_VOICE_VOLUME, (p) => p.volumeMap.alice === 0);
    expect(alice.events.length).toBeGreaterThan(mark);
    // several reports a second
    const n = alice.count(EVENT.USER_VOICE_VOLUME);
    await sleep(1100);
    expect(alice.count(EVENT.USER_VOICE_VOLUME) - n).toBeGreaterThanOrEqual(2);
    await alice.sdk.hangup();
    await bob.waitFor(EVENT.CALL_END);
    const after = bob.count(EVENT.USER_VOICE_VOLUME);
    await sleep(700);
    expect(bob.count(EVENT.USER_VOICE_VOLUME)).toBe(after);
  });
});
