import { describe, expect, it } from 'vitest';
import { EVENT } from '@opencall/client/node';
import { eventually, startTestServer, testBed } from './support/harness.js';
import { watchAudio, watchChroma } from './support/media-probes.js';

describe('media negotiated while ringing', () => {
  const bed = testBed();

  /** alice video-calls bob, and bob's phone rings. */
  async function ringing() {
    bed.server = await startTestServer();
    const alice = await bed.client('alice');
    const bob = await bed.client('bob');
    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    return { alice, bob };
  }

  it('connects during ringing but carries only black frames and silence until accept', async () => {
    const { alice, bob } = await ringing();

    // While ringing the connection comes up and both sides receive frames...
    let bobView: ReturnType<typeof watchChroma> | undefined;
    let aliceView: ReturnType<typeof watchChroma> | undefined;
    let bobEar: ReturnType<typeof watchAudio> | undefined;
    try {
      await eventually(() => (bob.sdk.getRemoteStream('alice')?.getVideoTracks().length ?? 0) > 0 && (alice.sdk.getRemoteStream('bob')?.getVideoTracks().length ?? 0) > 0, 'remote tracks while ringing');
      bobView = watchChroma(bob.sdk.getRemoteStream('alice')!.getVideoTracks()[0]!);
      aliceView = watchChroma(alice.sdk.getRemoteStream('bob')!.getVideoTracks()[0]!);
      bobEar = watchAudio(bob.sdk.getRemoteStream('alice')!.getAudioTracks()[0]!);
      await eventually(() => bobView!.seen.frames >= 5 && aliceView!.seen.frames >= 5, 'frames decoded while ringing', 15_000);
      // ...but they are black (no chroma) and the audio is silent: nothing real is sent before accept.
      expect(Math.abs(bobView.seen.meanU - 128)).toBeLessThan(3);
      expect(Math.abs(aliceView.seen.meanU - 128)).toBeLessThan(3);
      expect(bobEar.seen.peak).toBeLessThan(50);
      expect(alice.count(EVENT.USER_ENTER) + bob.count(EVENT.USER_ENTER)).toBe(0);

      await bob.sdk.accept();
      // USER_ENTER right away on the callee: the connection is already up.
      expect(bob.count(EVENT.USER_ENTER)).toBe(1);
      // After accept the real picture (the synthetic camera's colour) and tone arrive on both sides.
      await eventually(() => Math.abs(bobView!.seen.meanU - 128) > 40, `colour from alice (U=${bobView.seen.meanU})`);
      await eventually(() => Math.abs(aliceView!.seen.meanU - 128) > 40, `colour from bob (U=${aliceView.seen.meanU})`);
      await eventually(() => bobEar!.seen.peak > 2000, 'tone from alice');
    } finally {
      bobView?.stop();
      aliceView?.stop();
      bobEar?.stop();
    }
  });

  it('rejecting releases the media prepared while ringing', async () => {
    const { alice, bob } = await ringing();
    await eventually(() => (bob.sdk.getLocalStream()?.getTracks().length ?? 0) === 2, 'bob prepared mic and camera');
    const tracks = bob.sdk.getLocalStream()!.getTracks();
    await bob.sdk.reject();
    expect(bob.sdk.getLocalStream()).toBeNull();
    expect(tracks.every((t) => t.readyState === 'ended')).toBe(true);
    await alice.waitFor(EVENT.REJECT);
    expect(alice.sdk.getLocalStream()).toBeNull();
  });
});
