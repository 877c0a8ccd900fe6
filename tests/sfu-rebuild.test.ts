import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT } from '@opencall/client/node';
import { startJanus, type JanusInstance } from './support/janus.js';
import { janusHandles } from './support/janus-admin.js';
import { eventually, sleep, testBed } from './support/harness.js';
import { netnsSupported } from './support/netns.js';
import { allGrew, sfuConnections, startSfuTrio } from './support/sfu-trio.js';

/**
 * How long bob's network stays cut after Janus dropped both of his connections. Janus hangs a
 * PeerConnection up ~5 s after its ICE failed, which for bob's came ~26 s after the cut (see
 * tests/ice-restart-sfu.test.ts); the client rebuilds at once, while the network is still down,
 * so the rebuilt connections have to come up through the repair's backoff after the restore.
 */
const STILL_DOWN_MS = 5_000;

/** Every opencall handle Janus holds, as `<userID>:pub|sub`, sorted; plus how many others there are. */
async function callHandles(janus: JanusInstance, inviteID: string): Promise<{ ours: string[]; others: number }> {
  const all = await janusHandles(janus);
  const prefix = `opencall:${inviteID}:`;
  const ours = all.filter((h) => h.opaqueId?.startsWith(prefix)).map((h) => h.opaqueId!.slice(prefix.length));
  return { ours: ours.sort(), others: all.length - ours.length };
}

/** Janus's handle ids for one user's connections in the call. */
async function handleIds(janus: JanusInstance, inviteID: string, userID: string): Promise<number[]> {
  return (await janusHandles(janus)).filter((h) => h.opaqueId?.startsWith(`opencall:${inviteID}:${userID}:`)).map((h) => h.handle);
}

const EVERYONE = ['alice:pub', 'alice:sub', 'bob:pub', 'bob:sub', 'carol:pub', 'carol:sub'];

describe.skipIf(!netnsSupported())('SFU connections Janus dropped are rebuilt', () => {
  const bed = testBed();
  let janus: JanusInstance;
  beforeAll(async () => {
    janus = await startJanus({ admin: true });
  }, 30_000);
  afterAll(async () => {
    await janus?.stop();
  });

  it('a participant cut off until Janus hangs up both of its connections publishes and subscribes again: everyone receives everyone, same call, no leaked handle', async () => {
    const { alice, carol, bob, inviteID, snapshot } = await startSfuTrio(bed, janus);
    try {
      const start = await snapshot();
      await eventually(async () => allGrew(start, await snapshot(), 10), 'everyone receives everyone before the cut', 30_000, 250);
      // One publisher and one subscriber handle per participant, and the server's admin handle.
      await eventually(async () => JSON.stringify(await callHandles(janus, inviteID)) === JSON.stringify({ ours: EVERYONE, others: 1 }), 'Janus holds one pub + one sub handle each', 10_000, 250);

      const bobsFirst = await handleIds(janus, inviteID, 'bob');
      expect(bobsFirst).toHaveLength(2);
      const cutAt = Date.now();
      await bob.cutNetwork();
      await sleep(3_000);
      const stalled = await snapshot();
      // Janus hangs up both of bob's connections (told by Janus itself, not by bob's SDK).
      let droppedAt = 0;
      await eventually(
        async () => {
          const now = await handleIds(janus, inviteID, 'bob');
          droppedAt = Date.now() - cutAt;
          return bobsFirst.every((h) => !now.includes(h));
        },
        "Janus drops both of bob's connections",
        60_000,
        250,
      );
      await sleep(STILL_DOWN_MS);
      const cutEnd = await snapshot();
      expect(allGrew(stalled, cutEnd, 10, ['alice<-carol', 'carol<-alice']), 'alice and carol keep receiving each other during the outage').toBe(true);
      for (const k of ['alice<-bob', 'carol<-bob', 'bob<-alice', 'bob<-carol']) {
        expect(cutEnd[k]!.framesDecoded - stalled[k]!.framesDecoded, `${k} frames during the outage`).toBeLessThanOrEqual(1);
      }
      const duringOutage = (await bob.sfu())!;

      await bob.restoreNetwork();
      const restoredAt = Date.now();
      const outageMs = restoredAt - cutAt;
      await eventually(async () => allGrew(cutEnd, await snapshot(), 10), 'audio, video and decoded frames growing again for every pair after the restore', 45_000, 250);
      const recoveredMs = Date.now() - restoredAt;

      const after = (await bob.sfu())!;
      for (const t of ['publisher', 'subscriber'] as const) {
        expect(after[t]?.state, `bob's ${t} state`).toMatch(/connected|completed/);
        expect(after.rebuilds[t], `bob's ${t} rebuilds`).toBeGreaterThanOrEqual(1);
        // alice's and carol's own connections never broke: nothing restarted or rebuilt there.
        for (const c of [alice, carol]) {
          const mine = sfuConnections(c)!;
          expect(mine[t]!.restarts, `${c.userID}'s ${t} restarts`).toBe(0);
          expect(mine.rebuilds[t], `${c.userID}'s ${t} rebuilds`).toBe(0);
        }
      }

      // Same call: nobody left or re-entered, no call end, no error for an expected rebuild.
      for (const c of [alice, carol, bob]) {
        expect(c.count(EVENT.USER_ENTER), `${c.userID} USER_ENTER: ${c.names()}`).toBe(2);
        expect(c.count(EVENT.USER_LEAVE) + c.count(EVENT.CALL_END) + c.count(EVENT.ERROR) + c.count('onConnectionStateChanged'), `${c.userID}: ${c.names()}`).toBe(0);
      }
      expect(bed.server!.stats().calls).toBe(1);
      // Janus holds exactly one publisher and one subscriber handle per participant again: the
      // dropped ones are gone, and no rebuild made during the outage was left behind.
      await eventually(async () => JSON.stringify(await callHandles(janus, inviteID)) === JSON.stringify({ ours: EVERYONE, others: 1 }), 'no leaked Janus handle after the rebuild', 10_000, 250);
      console.info(
        `sfu-rebuild: Janus dropped bob's connections by ${droppedAt} ms after the cut; link restored ${outageMs} ms after the cut; ` +
          `rebuilds during the outage ${JSON.stringify(duringOutage.rebuilds)}, in all ${JSON.stringify(after.rebuilds)}; ` +
          `ICE restarts publisher ${after.publisher!.restarts}, subscriber ${after.subscriber!.restarts}; every pair receiving again ${recoveredMs} ms after the restore`,
      );

      // Leaving and ending destroy everything: bob's handles go with him, the rest with the call.
      await bob.hangup();
      for (const c of [alice, carol]) await c.waitFor(EVENT.USER_LEAVE, (p) => p.userID === 'bob');
      await eventually(async () => JSON.stringify((await callHandles(janus, inviteID)).ours) === JSON.stringify(EVERYONE.filter((h) => !h.startsWith('bob:'))), 'bob leaves no handle behind', 10_000, 250);
      await carol.sdk.hangup();
      await alice.waitFor(EVENT.CALL_END);
      await eventually(async () => JSON.stringify(await callHandles(janus, inviteID)) === JSON.stringify({ ours: [], others: 1 }), 'the ended call leaves no handle behind', 10_000, 250);
    } finally {
      await bob.stop();
    }
  }, 150_000);
});
