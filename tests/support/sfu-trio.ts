/**
 * Test helper: a 3-party video call through a real Janus in which bob runs in a network
 * namespace of his own ({@link FlakyPeer}), so his media path can be cut while his signaling
 * stays up; alice and carol run in the test process. Used by the SFU path repair tests.
 */
import { expect } from 'vitest';
import { EVENT } from '@opencall/client/node';
import type { JanusInstance } from './janus.js';
import { inbound, startTestServer, type testBed, type TestClient } from './harness.js';
import { FlakyPeer, type SfuConnections } from './flaky-link.js';

/** Small video keeps three decoders per client (two here, one in bob's process) light on 2 cores. */
const SMALL = { syntheticMedia: { width: 320, height: 240, frameRate: 15 } };

/** Inbound totals of one receiver from one sender. */
export type Media = { audioBytes: number; videoBytes: number; framesDecoded: number };

/** What each of the three receives from each of the other two, as `me<-from`. */
export const PAIRS = ['alice<-bob', 'alice<-carol', 'bob<-alice', 'bob<-carol', 'carol<-alice', 'carol<-bob'] as const;

export interface SfuTrio {
  alice: TestClient;
  carol: TestClient;
  bob: FlakyPeer;
  inviteID: string;
  /** Inbound totals of every pair. */
  snapshot(): Promise<Record<string, Media>>;
}

/** Audio, video and decoded frames (at least `frames` more) all grew from `a` to `b`, for every pair in `only`. */
export function allGrew(a: Record<string, Media>, b: Record<string, Media>, frames: number, only: readonly string[] = PAIRS): boolean {
  return only.every((k) => b[k]!.audioBytes > a[k]!.audioBytes && b[k]!.videoBytes > a[k]!.videoBytes && b[k]!.framesDecoded >= a[k]!.framesDecoded + frames);
}

/** ICE ufrag, state, restarts and rebuilds of an in-process client's two SFU connections (SDK internals). */
export function sfuConnections(c: TestClient): SfuConnections | null {
  const m = (c.sdk as any).controller?.current?.media;
  if (!m?.iceRestarts) return null;
  const one = (pc: RTCPeerConnection | null, restarts: number) =>
    pc ? { ufrag: /a=ice-ufrag:(\S+)/.exec(pc.localDescription?.sdp ?? '')?.[1] ?? null, state: pc.iceConnectionState, restarts } : null;
  return { publisher: one(m.pub, m.iceRestarts.publisher), subscriber: one(m.sub, m.iceRestarts.subscriber), rebuilds: m.rebuilds };
}

/**
 * Starts a server on `janus`, alice and carol in this process and bob in his namespace (able to
 * reach Janus's), makes alice's group call to both, and waits until everyone entered. The
 * caller stops bob (`bob.stop()`) in a finally.
 */
export async function startSfuTrio(bed: ReturnType<typeof testBed>, janus: JanusInstance): Promise<SfuTrio> {
  if (!janus.netns) throw new Error('this test needs Janus in its own network namespace (root + iproute2)');
  bed.server = await startTestServer({ janusUrl: janus.wsUrl, janusApiSecret: janus.apiSecret });
  const alice = await bed.client('alice', SMALL);
  const carol = await bed.client('carol', SMALL);
  // bob runs alone in a network namespace; its media reaches Janus's namespace only over its veth.
  const bob = await FlakyPeer.start('bob', bed.server.port, { sdk: SMALL });
  try {
    await bob.reach(janus.netns);
    await bob.login();
    const { mediaPath, inviteID } = (await alice.sdk.groupCall({ userIDList: ['bob', 'carol'], type: 2 })) as { mediaPath: string; inviteID: string };
    expect(mediaPath).toBe('sfu');
    await bob.waitFor(EVENT.INVITED);
    await bob.accept();
    await carol.waitFor(EVENT.INVITED);
    await carol.sdk.accept();
    for (const [c, others] of [[alice, ['bob', 'carol']], [carol, ['alice', 'bob']]] as const) {
      for (const o of others) await c.waitFor(EVENT.USER_ENTER, (p) => p.userID === o, 20_000);
    }
    for (const o of ['alice', 'carol']) await bob.waitFor(EVENT.USER_ENTER, (p) => p.userID === o, 20_000);
    const byName: Record<string, TestClient> = { alice, carol };
    const snapshot = async (): Promise<Record<string, Media>> => {
      const out: Record<string, Media> = {};
      for (const pair of PAIRS) {
        const [me, from] = pair.split('<-') as [string, string];
        out[pair] = me === 'bob' ? await bob.inbound(from) : await inbound(byName[me]!, from);
      }
      return out;
    };
    return { alice, carol, bob, inviteID, snapshot };
  } catch (err) {
    await bob.stop();
    throw err;
  }
}
