import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT } from '@opencall/client/node';
import { startJanus, type JanusInstance } from './support/janus.js';
import { eventually, inbound, sleep, startTestServer, testBed, type TestClient } from './support/harness.js';
import { FlakyPeer } from './support/flaky-link.js';
import { netnsSupported } from './support/netns.js';

/**
 * How long bob's network stays cut. Long enough for libwebrtc to give both of bob's connections
 * to Janus up: measured here with the repair switched off, `disconnected` 5-6 s after the cut and
 * `failed` at 15-16 s (publisher and subscriber alike), after which nothing came back in the 40 s
 * after the restore. So media after the restore proves the repair, not a lucky resume.
 *
 * Not much longer, though: each restart made while the network is still down gives Janus an ICE
 * generation that fails ~7 s later, and Janus hangs a PeerConnection up 5 s after its ICE failed
 * (measured: with a 50 s outage Janus dropped both of bob's handles ~26 s after the cut, and
 * there is no restarting those). See docs/client-api.md, "Media path repair".
 */
const OUTAGE_MS = 18_000;
/** Small video keeps three decoders per client (two here, one in bob's process) light on 2 cores. */
const SMALL = { syntheticMedia: { width: 320, height: 240, frameRate: 15 } };

type Media = { audioBytes: number; videoBytes: number; framesDecoded: number };
type Ice = { ufrag: string | null; state: string; restarts: number } | null;
type SfuIce = Record<'publisher' | 'subscriber', Ice>;

/** ICE ufrag, state and restarts of an in-process client's two SFU connections (SDK internals). */
function sfuIce(c: TestClient): SfuIce | null {
  const m = (c.sdk as any).controller?.current?.media;
  if (!m?.iceRestarts) return null;
  const one = (pc: RTCPeerConnection | null, restarts: number): Ice =>
    pc ? { ufrag: /a=ice-ufrag:(\S+)/.exec(pc.localDescription?.sdp ?? '')?.[1] ?? null, state: pc.iceConnectionState, restarts } : null;
  return { publisher: one(m.pub, m.iceRestarts.publisher), subscriber: one(m.sub, m.iceRestarts.subscriber) };
}

const grew = (a: Media, b: Media, frames: number) => b.audioBytes > a.audioBytes && b.videoBytes > a.videoBytes && b.framesDecoded >= a.framesDecoded + frames;

describe.skipIf(!netnsSupported())('SFU media path repair (ICE restart through Janus)', () => {
  const bed = testBed();
  let janus: JanusInstance;
  beforeAll(async () => {
    janus = await startJanus();
  }, 30_000);
  afterAll(async () => {
    await janus?.stop();
  });

  it('a 3-party SFU call in which one participant loses its network for 18 s gets all media back by ICE restarts, as the same call', async () => {
    if (!janus.netns) throw new Error('this test needs Janus in its own network namespace (root + iproute2)');
    bed.server = await startTestServer({ janusUrl: janus.wsUrl, janusApiSecret: janus.apiSecret });
    const alice = await bed.client('alice', SMALL);
    const carol = await bed.client('carol', SMALL);
    // bob runs alone in a network namespace; its media reaches Janus's namespace only over its veth.
    const bob = await FlakyPeer.start('bob', bed.server.port, { sdk: SMALL });
    try {
      await bob.reach(janus.netns);
      await bob.login();
      const { mediaPath } = (await alice.sdk.groupCall({ userIDList: ['bob', 'carol'], type: 2 })) as { mediaPath: string };
      expect(mediaPath).toBe('sfu');
      await bob.waitFor(EVENT.INVITED);
      await bob.accept();
      await carol.waitFor(EVENT.INVITED);
      await carol.sdk.accept();
      for (const [c, others] of [[alice, ['bob', 'carol']], [carol, ['alice', 'bob']]] as const) {
        for (const o of others) await c.waitFor(EVENT.USER_ENTER, (p) => p.userID === o, 20_000);
      }
      for (const o of ['alice', 'carol']) await bob.waitFor(EVENT.USER_ENTER, (p) => p.userID === o, 20_000);

      // What each of the three receives from each of the other two.
      const pairs = [
        ['alice', 'bob'], ['alice', 'carol'], ['bob', 'alice'], ['bob', 'carol'], ['carol', 'alice'], ['carol', 'bob'],
      ] as const;
      const byName: Record<string, TestClient> = { alice, carol };
      const snapshot = async (): Promise<Record<string, Media>> => {
        const out: Record<string, Media> = {};
        for (const [me, from] of pairs) out[`${me}<-${from}`] = me === 'bob' ? await bob.inbound(from) : await inbound(byName[me]!, from);
        return out;
      };
      const allGrew = (a: Record<string, Media>, b: Record<string, Media>, frames: number, only = pairs.map(([me, from]) => `${me}<-${from}`)) =>
        only.every((k) => grew(a[k]!, b[k]!, frames));

      const start = await snapshot();
      await eventually(async () => allGrew(start, await snapshot(), 10), 'everyone receives everyone before the cut', 30_000, 250);
      const before = { bob: (await bob.sfu())!, alice: sfuIce(alice)!, carol: sfuIce(carol)! };
      for (const t of ['publisher', 'subscriber'] as const) expect(before.bob[t]?.state, `bob's ${t} before the cut`).toMatch(/connected|completed/);

      const cutAt = Date.now();
      await bob.cutNetwork();
      // Nothing to or from bob gets through (checked from 3 s after the cut, once what was in
      // flight has arrived), while alice and carol go on receiving each other through Janus.
      await sleep(3_000);
      const stalled = await snapshot();
      /** When each state of bob's two connections was first seen, in ms after the cut. */
      const seen: Record<'publisher' | 'subscriber', Record<string, number>> = { publisher: {}, subscriber: {} };
      while (Date.now() - cutAt < OUTAGE_MS) {
        const now = await bob.sfu();
        for (const t of ['publisher', 'subscriber'] as const) {
          const s = now?.[t]?.state ?? 'gone';
          seen[t][s] ??= Date.now() - cutAt;
        }
        await sleep(250);
      }
      const cutEnd = await snapshot();
      console.info(`ice-restart-sfu: bob's ICE states during the outage (first seen, ms after the cut): ${JSON.stringify(seen)}`);
      for (const k of ['alice<-bob', 'carol<-bob', 'bob<-alice', 'bob<-carol']) {
        expect(cutEnd[k]!.framesDecoded - stalled[k]!.framesDecoded, `${k} frames during the outage`).toBeLessThanOrEqual(1);
      }
      expect(allGrew(stalled, cutEnd, 10, ['alice<-carol', 'carol<-alice']), 'alice and carol keep receiving each other during the outage').toBe(true);
      for (const t of ['publisher', 'subscriber'] as const) {
        expect(Object.keys(seen[t]).some((s) => s === 'disconnected' || s === 'failed'), `bob's ${t} states: ${Object.keys(seen[t])}`).toBe(true);
      }

      await bob.restoreNetwork();
      const restoredAt = Date.now();
      await eventually(async () => allGrew(cutEnd, await snapshot(), 10), 'audio, video and decoded frames growing again for every pair after the restore', 40_000, 250);
      const recoveredMs = Date.now() - restoredAt;

      // It was an ICE restart of both of bob's connections: new credentials, same connections.
      const after = { bob: (await bob.sfu())!, alice: sfuIce(alice)!, carol: sfuIce(carol)! };
      for (const t of ['publisher', 'subscriber'] as const) {
        expect(after.bob[t]!.ufrag, `bob's ${t} ufrag`).not.toBe(before.bob[t]!.ufrag);
        expect(after.bob[t]!.restarts, `bob's ${t} restarts`).toBeGreaterThanOrEqual(1);
        expect(after.bob[t]!.state, `bob's ${t} state`).toMatch(/connected|completed/);
        // alice's and carol's paths never broke: nothing restarted there.
        for (const c of ['alice', 'carol'] as const) {
          expect(after[c][t]!.restarts, `${c}'s ${t} restarts`).toBe(0);
          expect(after[c][t]!.ufrag, `${c}'s ${t} ufrag`).toBe(before[c][t]!.ufrag);
        }
      }

      // Same call: nobody left or re-entered, no call end, signaling never dropped.
      for (const c of [alice, carol, bob]) {
        expect(c.count(EVENT.USER_ENTER), `${c.userID} USER_ENTER: ${c.names()}`).toBe(2);
        expect(c.count(EVENT.USER_LEAVE) + c.count(EVENT.CALL_END) + c.count('onConnectionStateChanged'), `${c.userID}: ${c.names()}`).toBe(0);
      }
      expect(bed.server.stats().calls).toBe(1);
      console.info(
        `ice-restart-sfu: outage ${OUTAGE_MS} ms, bob's restarts: publisher ${after.bob.publisher!.restarts}, subscriber ${after.bob.subscriber!.restarts}; ` +
          `every pair receiving again ${recoveredMs} ms after the restore`,
      );

      // Leaving ends bob's part (and the repair with its connections); the call goes on for the others.
      await bob.hangup();
      for (const c of [alice, carol]) await c.waitFor(EVENT.USER_LEAVE, (p) => p.userID === 'bob');
      expect(await bob.sfu()).toBeNull();
    } finally {
      await bob.stop();
    }
  }, 150_000);
});
