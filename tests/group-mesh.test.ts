import { describe, expect, it } from 'vitest';
import { EVENT, ErrorCode, TUICallEvent } from '@opencall/client/node';
import { ADMIN_TOKEN, eventually, inbound, sig, sleep, startTestServer, testBed, TestClient } from './support/harness.js';

/** Every client receives growing audio and video from every other one. */
async function expectFullMesh(clients: TestClient[]) {
  for (const me of clients) {
    for (const peer of clients) {
      if (peer === me) continue;
      await eventually(async () => (await inbound(me, peer.userID)).framesDecoded > 2, `${me.userID} decodes video from ${peer.userID}`, 15_000);
      const a = await inbound(me, peer.userID);
      await eventually(async () => {
        const b = await inbound(me, peer.userID);
        return b.audioBytes > a.audioBytes && b.videoBytes > a.videoBytes && b.framesDecoded > a.framesDecoded;
      }, `${me.userID} keeps receiving from ${peer.userID}`);
    }
  }
}

describe('group calls over a mesh', () => {
  const bed = testBed();
  const client = bed.client;

  it('3-party video call without groupID: everyone receives everyone; last-but-one leaving ends it', async () => {
    bed.server = await startTestServer();
    const [alice, bob, carol] = [await client('alice'), await client('bob'), await client('carol')];
    await alice.sdk.groupCall({ userIDList: ['bob', 'carol'], type: 2 });
    for (const c of [bob, carol]) {
      expect(await c.waitFor(EVENT.INVITED)).toMatchObject({ sponsor: 'alice', userIDList: ['bob', 'carol'], isFromGroup: false });
    }
    await bob.sdk.accept();
    await carol.sdk.accept();
    for (const [me, others] of [[alice, ['bob', 'carol']], [bob, ['alice', 'carol']], [carol, ['alice', 'bob']]] as const) {
      for (const o of others) await me.waitFor(EVENT.USER_ENTER, (p) => p.userID === o);
    }
    await expectFullMesh([alice, bob, carol]);

    await bob.sdk.hangup();
    await alice.waitFor(EVENT.USER_LEAVE, (p) => p.userID === 'bob');
    await carol.waitFor(EVENT.USER_LEAVE, (p) => p.userID === 'bob');
    await bob.waitFor(EVENT.CALL_END);
    expect(alice.count(EVENT.CALL_END) + carol.count(EVENT.CALL_END)).toBe(0);
    // the call goes on between alice and carol
    const a = await inbound(alice, 'carol');
    await eventually(async () => (await inbound(alice, 'carol')).framesDecoded > a.framesDecoded + 3, 'alice still receives carol');
    await carol.sdk.hangup();
    const end = await alice.waitFor(EVENT.CALL_END);
    expect(end.totalTime).toBeGreaterThanOrEqual(0);
    await carol.waitFor(EVENT.CALL_END);
    expect(bed.server!.stats().calls).toBe(0);
  });

  it('invitees accepting at the same moment still connect to each other (no double offer)', async () => {
    bed.server = await startTestServer();
    const [alice, bob, carol] = [await client('alice'), await client('bob'), await client('carol')];
    await alice.sdk.groupCall({ userIDList: ['bob', 'carol'], type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await carol.waitFor(EVENT.INVITED);
    await Promise.all([bob.sdk.accept(), carol.sdk.accept()]);
    await expectFullMesh([alice, bob, carol]);
  });

  it('invite more into a running call: the newcomer learns who is in and gets their media', async () => {
    bed.server = await startTestServer();
    const [alice, bob, carol] = [await client('alice'), await client('bob'), await client('carol')];
    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER);
    // a participant who is not the sponsor invites
    await bob.sdk.inviteUser({ userIDList: ['carol'] });
    expect(await alice.waitFor(EVENT.GROUP_CALL_INVITEE_LIST_UPDATE)).toMatchObject({ userIDList: ['bob', 'carol'] });
    expect(await carol.waitFor(EVENT.INVITED)).toMatchObject({ sponsor: 'alice', userIDList: ['bob', 'carol'] });
    await carol.sdk.accept();
    await carol.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'alice');
    await carol.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'bob');
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'carol');
    await bob.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'carol');
    await expectFullMesh([alice, bob, carol]);
  });

  it('per-invitee outcomes: reject, busy and no answer while the call goes on', async () => {
    bed.server = await startTestServer();
    const [alice, bob, carol, erin, frank] = [await client('alice'), await client('bob'), await client('carol'), await client('erin'), await client('frank')];
    // carol is busy ringing for erin
    await erin.sdk.call({ userID: 'carol', type: 1 });
    await carol.waitFor(EVENT.INVITED);
    await alice.sdk.groupCall({ userIDList: ['bob', 'carol', 'dave'], type: 1, timeout: 2 });
    expect(await alice.waitFor(EVENT.LINE_BUSY)).toMatchObject({ userID: 'carol' });
    await bob.waitFor(EVENT.INVITED);
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'bob');
    // dave never comes online: NO_RESP to everyone in the call
    expect(await alice.waitFor(EVENT.NO_RESP, undefined, 5000)).toMatchObject({ userID: 'dave', userIDList: ['dave'] });
    await bob.waitFor(EVENT.NO_RESP, (p) => p.userID === 'dave');
    // the call continues with alice and bob; frank is invited and rejects
    await alice.sdk.inviteUser({ userIDList: ['frank'] });
    await frank.waitFor(EVENT.INVITED);
    await frank.sdk.reject();
    await alice.waitFor(EVENT.REJECT, (p) => p.userID === 'frank');
    await bob.waitFor(EVENT.REJECT, (p) => p.userID === 'frank');
    expect(alice.count(EVENT.CALL_END) + bob.count(EVENT.CALL_END)).toBe(0);
    expect(carol.names([EVENT.INVITED])).toEqual([EVENT.INVITED]); // only erin's call rang
    await alice.sdk.hangup();
    await bob.waitFor(EVENT.CALL_END);
  });

  it('the caller cancelling before anyone answered cancels every ringing invitee', async () => {
    bed.server = await startTestServer();
    const [alice, bob, carol] = [await client('alice'), await client('bob'), await client('carol')];
    await alice.sdk.groupCall({ userIDList: ['bob', 'carol'], type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await carol.waitFor(EVENT.INVITED);
    await alice.sdk.hangup();
    await bob.waitFor(EVENT.CALLING_CANCEL);
    await carol.waitFor(EVENT.CALLING_CANCEL);
    expect(bed.server!.stats().calls).toBe(0);
  });

  it('when everybody declines, the caller is told for each and the call is over', async () => {
    bed.server = await startTestServer();
    const [alice, bob, carol] = [await client('alice'), await client('bob'), await client('carol')];
    await alice.sdk.groupCall({ userIDList: ['bob', 'carol'], type: 1 });
    await bob.waitFor(EVENT.INVITED);
    await carol.waitFor(EVENT.INVITED);
    await bob.sdk.reject();
    await alice.waitFor(EVENT.REJECT, (p) => p.userID === 'bob');
    expect(alice.count(TUICallEvent.onCallCancelled)).toBe(0); // carol still rings
    await carol.sdk.reject({ isBusy: true });
    await alice.waitFor(EVENT.LINE_BUSY, (p) => p.userID === 'carol');
    await alice.waitFor(TUICallEvent.onCallCancelled);
    expect(alice.count(EVENT.CALL_END)).toBe(0);
    expect(bed.server!.stats().calls).toBe(0);
  });

  it('a mesh call over the participant limit is refused with a clear error', async () => {
    bed.server = await startTestServer({ meshMaxParticipants: 3 });
    const alice = await client('alice');
    await expect(alice.sdk.groupCall({ userIDList: ['b1', 'b2', 'b3'], type: 2 })).rejects.toMatchObject({ code: ErrorCode.TOO_MANY_PARTICIPANTS });
    expect((await alice.waitFor(EVENT.ERROR)).message).toMatch(/at most 3/);
    expect(alice.sdk.getLocalStream()).toBeNull();
    await expect(alice.sdk.groupCall({ userIDList: ['b1', 'b2'], type: 1 })).resolves.toMatchObject({ inviteID: expect.any(String) });
  });
});

describe('groups', () => {
  const bed = testBed();
  const client = bed.client;
  const admin = (path: string, method: string, body?: unknown, auth = `Bearer ${ADMIN_TOKEN}`) =>
    fetch(`${bed.server!.url}${path}`, {
      method,
      headers: { ...(auth && { authorization: auth }), ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });

  it('admin REST API: authenticated by OPENCALL_ADMIN_TOKEN only (never a UserSig, never the query string)', async () => {
    bed.server = await startTestServer();
    expect((await admin('/v1/admin/groups/team', 'PUT', { members: ['a'] }, '')).status).toBe(401);
    // A UserSig of the admin identity grants nothing, as a header or in the query string.
    expect((await admin('/v1/admin/groups/team', 'PUT', { members: ['a'] }, `Bearer ${sig('administrator')}`)).status).toBe(401);
    expect((await admin(`/v1/admin/groups/team?identifier=administrator&usersig=${encodeURIComponent(sig('administrator'))}`, 'PUT', { members: ['a'] }, '')).status).toBe(401);
    expect((await admin(`/v1/admin/groups/team?token=${ADMIN_TOKEN}`, 'PUT', { members: ['a'] }, '')).status).toBe(401);
    expect((await admin('/v1/admin/groups/team', 'PUT', { members: ['a'] }, `Bearer ${sig('alice')}`)).status).toBe(401);
    expect((await admin('/v1/admin/groups/team', 'PUT', { members: ['a'] }, 'Bearer garbage')).status).toBe(401);
    const put = await admin('/v1/admin/groups/team', 'PUT', { members: ['alice', 'bob'] });
    expect(put.status).toBe(200);
    expect(await (await admin('/v1/admin/groups/team', 'PATCH', { add: ['carol'], remove: ['bob'] })).json()).toEqual({ groupID: 'team', members: ['alice', 'carol'] });
    expect(await (await admin('/v1/admin/groups/team', 'GET')).json()).toEqual({ groupID: 'team', members: ['alice', 'carol'] });
    expect((await admin('/v1/admin/groups/team', 'PUT', { members: ['bad id'] })).status).toBe(400);
    expect((await admin('/v1/admin/groups/nope', 'GET')).status).toBe(404);
    expect((await admin('/v1/admin/groups/team', 'DELETE')).status).toBe(200);
    expect((await admin('/v1/admin/groups/team', 'GET')).status).toBe(404);
  });

  it('admin REST API: off without OPENCALL_ADMIN_TOKEN (403 saying how to turn it on)', async () => {
    bed.server = await startTestServer({ adminToken: undefined });
    const r = await admin('/v1/admin/groups/team', 'PUT', { members: ['a'] });
    expect(r.status).toBe(403);
    expect(await r.json()).toEqual({ code: ErrorCode.ADMIN_UNAUTHORIZED, message: expect.stringMatching(/OPENCALL_ADMIN_TOKEN/) });
  });

  it('OPENCALL_GROUPS=enforced: a groupID call reaches members only; a member joins the running call by roomID', async () => {
    bed.server = await startTestServer({ groupMode: 'enforced' });
    expect((await admin('/v1/admin/groups/team', 'PUT', { members: ['alice', 'bob', 'carol'] })).status).toBe(200);
    const [alice, bob, carol, mallory] = [await client('alice'), await client('bob'), await client('carol'), await client('mallory')];
    await expect(alice.sdk.groupCall({ userIDList: ['bob', 'mallory'], type: 2, groupID: 'team' })).rejects.toMatchObject({ code: ErrorCode.NOT_A_GROUP_MEMBER });
    await expect(alice.sdk.groupCall({ userIDList: ['bob'], type: 2, groupID: 'nope' })).rejects.toMatchObject({ code: ErrorCode.GROUP_NOT_FOUND });
    // An outsider cannot tell the group from one that does not exist (issue 11: privacy).
    await expect(mallory.sdk.groupCall({ userIDList: ['bob'], type: 2, groupID: 'team' })).rejects.toMatchObject({ code: ErrorCode.GROUP_NOT_FOUND });
    expect(bob.count(EVENT.INVITED)).toBe(0);

    const { roomID } = await alice.sdk.groupCall({ userIDList: ['bob'], type: 2, groupID: 'team' });
    expect(await bob.waitFor(EVENT.INVITED)).toMatchObject({ isFromGroup: true, groupID: 'team', userIDList: ['bob'] });
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER);
    // carol was not invited but is in the group: she can join; mallory cannot
    await expect(mallory.sdk.joinInGroupCall({ roomID, groupID: 'team' })).rejects.toMatchObject({ code: ErrorCode.CALL_NOT_FOUND });
    await carol.sdk.joinInGroupCall({ roomID, groupID: 'team', callMediaType: 1 });
    for (const o of ['alice', 'bob']) await carol.waitFor(EVENT.USER_ENTER, (p) => p.userID === o);
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'carol');
    await expectFullMesh([alice, bob, carol]);
    await sleep(10);
  });
});
