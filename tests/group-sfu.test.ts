import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '@opencall/server';
import { EVENT } from '@opencall/client/node';
import { startJanus, type JanusInstance } from './support/janus.js';
import { cleanup, eventually, inbound, startTestServer, TestClient } from './support/harness.js';

/** Small video keeps 9 participants' decoders within a 2-core machine. */
const SMALL = { syntheticMedia: { width: 160, height: 120, frameRate: 10 } };

async function expectEveryoneReceivesEveryone(clients: TestClient[]) {
  for (const me of clients) {
    for (const peer of clients) {
      if (peer === me) continue;
      await eventually(async () => (await inbound(me, peer.userID)).framesDecoded > 2, `${me.userID} decodes ${peer.userID}`, 20_000);
    }
  }
  // ...and keeps receiving: every stream grows between two samples.
  const before = await Promise.all(clients.map((me) => Promise.all(clients.filter((p) => p !== me).map((p) => inbound(me, p.userID)))));
  await new Promise((r) => setTimeout(r, 1200));
  for (const [i, me] of clients.entries()) {
    const others = clients.filter((p) => p !== me);
    const after = await Promise.all(others.map((p) => inbound(me, p.userID)));
    for (const [j, p] of others.entries()) {
      expect(after[j]!.framesDecoded, `${me.userID} frames from ${p.userID}`).toBeGreaterThan(before[i]![j]!.framesDecoded);
      expect(after[j]!.audioBytes, `${me.userID} audio from ${p.userID}`).toBeGreaterThan(before[i]![j]!.audioBytes);
    }
  }
}

describe('group calls through the Janus SFU', () => {
  let janus: JanusInstance;
  let server: RunningServer;
  let clients: TestClient[] = [];
  const client = async (userID: string) => {
    const c = new TestClient(userID, server, SMALL);
    clients.push(c);
    await c.login();
    return c;
  };
  beforeAll(async () => {
    janus = await startJanus();
  }, 30_000);
  afterAll(async () => {
    await janus?.stop();
  });
  afterEach(async () => {
    await cleanup(server, clients);
    clients = [];
  });

  it('3 parties, a late joiner by inviteUser, and a leaver: media follows', async () => {
    server = await startTestServer({ janusUrl: janus.wsUrl, janusApiSecret: janus.apiSecret });
    const [alice, bob, carol, dave] = [await client('alice'), await client('bob'), await client('carol'), await client('dave')];
    const { mediaPath } = (await alice.sdk.groupCall({ userIDList: ['bob', 'carol'], type: 2 })) as { mediaPath: string };
    expect(mediaPath).toBe('sfu');
    for (const c of [bob, carol]) {
      await c.waitFor(EVENT.INVITED);
      await c.sdk.accept();
    }
    for (const c of [alice, bob, carol]) for (const o of [alice, bob, carol]) if (o !== c) await c.waitFor(EVENT.USER_ENTER, (p) => p.userID === o.userID, 20_000);
    await expectEveryoneReceivesEveryone([alice, bob, carol]);

    await carol.sdk.inviteUser({ userIDList: ['dave'] });
    await dave.waitFor(EVENT.INVITED);
    await dave.sdk.accept();
    for (const o of ['alice', 'bob', 'carol']) await dave.waitFor(EVENT.USER_ENTER, (p) => p.userID === o, 20_000);
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'dave', 20_000);
    await expectEveryoneReceivesEveryone([alice, bob, carol, dave]);

    await bob.sdk.hangup();
    for (const c of [alice, carol, dave]) await c.waitFor(EVENT.USER_LEAVE, (p) => p.userID === 'bob');
    await expectEveryoneReceivesEveryone([alice, carol, dave]);
    expect(server.stats().calls).toBe(1);
  });

  it('9 participants, each receiving every other one', async () => {
    server = await startTestServer({ janusUrl: janus.wsUrl, janusApiSecret: janus.apiSecret });
    const names = Array.from({ length: 9 }, (_, i) => `p${i}`);
    const all: TestClient[] = [];
    for (const n of names) all.push(await client(n));
    const [host, ...rest] = all;
    await host!.sdk.groupCall({ userIDList: rest.map((c) => c.userID), type: 2 });
    for (const c of rest) {
      await c.waitFor(EVENT.INVITED);
      await c.sdk.accept();
    }
    await expectEveryoneReceivesEveryone(all);
    await host!.sdk.hangup();
    await eventually(() => server.stats().calls === 1, 'call goes on without the host');
  }, 120_000);

  it('SFU trickles count against the per-member ICE cap (OPENCALL_CALL_MAX_ICE): the one over it is refused, the call goes on', async () => {
    const cap = 40;
    server = await startTestServer({ janusUrl: janus.wsUrl, janusApiSecret: janus.apiSecret, callMaxIce: cap });
    const [alice, bob] = [await client('alice'), await client('bob')];
    const { inviteID } = await alice.sdk.groupCall({ userIDList: ['bob', 'erin'], type: 1 });
    await bob.waitFor(EVENT.INVITED);
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER);
    const signal = (bob.sdk as any).signal;
    // Bob's SDK trickles its own candidates too: the cap is reached at most `cap` frames from now.
    let refused: any;
    for (let i = 0; i <= cap && !refused; i++) {
      await signal.request({ t: 'sfu', inviteID, op: 'trickle', target: 'publisher', candidate: null }).catch((err: any) => {
        if (err.code === 42901) refused = err;
      });
    }
    expect(refused?.message).toMatch(/at most 40 ICE candidates per member per call/);
    expect(server.stats().calls).toBe(1);
    expect(alice.count(EVENT.CALL_END) + bob.count(EVENT.CALL_END)).toBe(0);
  }, 60_000);

  it('only participants can use the SFU: a ringing invitee and an outsider are refused', async () => {
    server = await startTestServer({ janusUrl: janus.wsUrl, janusApiSecret: janus.apiSecret });
    const [alice, bob, carol] = [await client('alice'), await client('bob'), await client('carol')];
    const { inviteID } = await alice.sdk.groupCall({ userIDList: ['bob', 'erin'], type: 1 });
    await bob.waitFor(EVENT.INVITED);
    const signal = (c: TestClient) => (c.sdk as any).signal;
    await expect(signal(bob).request({ t: 'sfu', inviteID, op: 'publish', sdp: 'v=0' })).rejects.toMatchObject({ code: 40901 });
    // An outsider is told the call does not exist (issue 11: privacy).
    await expect(signal(carol).request({ t: 'sfu', inviteID, op: 'publish', sdp: 'v=0' })).rejects.toMatchObject({ code: 40401 });
    // Asking for a (new) subscription is the same: participants only.
    await expect(signal(bob).request({ t: 'sfu', inviteID, op: 'subscribe' })).rejects.toMatchObject({ code: 40901 });
    await expect(signal(carol).request({ t: 'sfu', inviteID, op: 'subscribe' })).rejects.toMatchObject({ code: 40401 });
  });
});
