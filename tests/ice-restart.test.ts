import { describe, expect, it } from 'vitest';
import { EVENT } from '@opencall/client/node';
import { eventually, inbound, sleep, startTestServer, testBed, type TestClient } from './support/harness.js';
import { FlakyPeer } from './support/flaky-link.js';
import { netnsSupported } from './support/netns.js';

/**
 * How long the network stays cut. Long enough for libwebrtc to give the old path up (measured
 * here: `disconnected` 5-7 s after the cut, `failed` 15-17 s after it); a failed ICE agent never
 * comes back by itself, so media after the restore proves the repair, not a lucky resume.
 */
const OUTAGE_MS = 20_000;

type Media = { audioBytes: number; videoBytes: number; framesDecoded: number };

/** ICE state, local ufrag and restarts of an in-process client's link to `remote` (SDK internals). */
function ice(c: TestClient, remote: string): { ufrag: string | null; state: string; restarts: number } | null {
  const link = (c.sdk as any).controller?.current?.media?.links?.get(remote);
  if (!link) return null;
  return { ufrag: /a=ice-ufrag:(\S+)/.exec(link.pc.localDescription?.sdp ?? '')?.[1] ?? null, state: link.pc.iceConnectionState, restarts: link.iceRestarts };
}

const grew = (a: Media, b: Media, frames: number) => b.audioBytes > a.audioBytes && b.videoBytes > a.videoBytes && b.framesDecoded >= a.framesDecoded + frames;

describe.skipIf(!netnsSupported())('media path repair (ICE restart)', () => {
  const bed = testBed();

  it('a 1:1 call whose network to one peer is cut for 20 s gets its media back by an ICE restart, as the same call', async () => {
    bed.server = await startTestServer();
    const alice = await bed.client('alice'); // caller: the impolite side, the one that restarts ICE
    const bob = await FlakyPeer.start('bob', bed.server.port); // callee, alone in a network namespace
    try {
      await bob.login();
      await alice.sdk.call({ userID: 'bob', type: 2 });
      await bob.waitFor(EVENT.INVITED);
      await bob.accept();
      await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'bob');
      await bob.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'alice');
      const both = async () => ({ alice: await inbound(alice, 'bob'), bob: await bob.inbound('alice') });

      const start = await both();
      await eventually(async () => {
        const now = await both();
        return grew(start.alice, now.alice, 10) && grew(start.bob, now.bob, 10);
      }, 'media both ways before the cut', 15_000);
      const before = { alice: ice(alice, 'bob')!, bob: (await bob.ice('alice'))! };
      expect(before.alice.state).toMatch(/connected|completed/);

      const cutAt = Date.now();
      await bob.cutNetwork();
      // Nothing gets through while the link is down (checked from 3 s after the cut, once what was
      // in flight has arrived), and the ICE agent notices.
      await sleep(3_000);
      const stalled = await both();
      const statesSeen = new Set<string>();
      while (Date.now() - cutAt < OUTAGE_MS) {
        statesSeen.add(ice(alice, 'bob')?.state ?? 'gone');
        await sleep(250);
      }
      const cutEnd = await both();
      expect(cutEnd.alice.framesDecoded - stalled.alice.framesDecoded, 'alice frames during the outage').toBeLessThanOrEqual(1);
      expect(cutEnd.bob.framesDecoded - stalled.bob.framesDecoded, 'bob frames during the outage').toBeLessThanOrEqual(1);
      expect([...statesSeen].some((s) => s === 'disconnected' || s === 'failed' || s === 'checking'), `states seen: ${[...statesSeen]}`).toBe(true);
      // The public sign of the outage: network quality 'Down' for bob (then something better again).
      const qualityOfBob = (from: number) =>
        alice.events.filter((e) => e.event === 'onUserNetworkQualityChanged' && e.at >= from).map((e) => e.payload.networkQualityMap.bob);
      expect(qualityOfBob(cutAt + 3_000)).toContain('Down');

      await bob.restoreNetwork();
      const restoredAt = Date.now();
      await eventually(async () => {
        const now = await both();
        return grew(cutEnd.alice, now.alice, 10) && grew(cutEnd.bob, now.bob, 10);
      }, 'audio, video and decoded frames growing again on both sides after the restore', 30_000, 200);
      const recoveredMs = Date.now() - restoredAt;
      await eventually(() => qualityOfBob(Date.now() - 2_500).some((q) => q !== 'Down' && q !== 'Unknown'), 'network quality of bob no longer Down', 6_000);

      // It was an ICE restart: new credentials on both sides, started by alice only.
      const after = { alice: ice(alice, 'bob')!, bob: (await bob.ice('alice'))! };
      expect(after.alice.ufrag).not.toBe(before.alice.ufrag);
      expect(after.bob.ufrag).not.toBe(before.bob.ufrag);
      expect(after.alice.restarts).toBeGreaterThanOrEqual(1);
      expect(after.bob.restarts).toBe(0);
      expect(after.alice.state).toMatch(/connected|completed/);

      // Same call: nobody left or re-entered, no call end, signaling never dropped.
      for (const c of [alice, bob]) {
        expect(c.count(EVENT.USER_ENTER), `${c.userID} USER_ENTER`).toBe(1);
        expect(c.count(EVENT.USER_LEAVE) + c.count(EVENT.CALL_END) + c.count('onConnectionStateChanged'), `${c.userID}: ${c.names()}`).toBe(0);
      }
      expect(bed.server.stats().calls).toBe(1);
      console.info(
        `ice-restart: outage ${OUTAGE_MS} ms (alice's ICE states: ${[...statesSeen].join(', ')}), ` +
          `${after.alice.restarts} restart(s), media both ways ${recoveredMs} ms after the restore`,
      );

      // Hang-up ends the call (and the repair loop with the link) normally.
      await alice.sdk.hangup();
      await bob.waitFor(EVENT.CALL_END);
      expect(ice(alice, 'bob')).toBeNull();
    } finally {
      await bob.stop();
    }
  }, 90_000);
});
