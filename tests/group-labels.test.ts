/**
 * Groups as migrating apps have them (issue 13, item 2): a groupID from Tencent IM, unknown to
 * this server, passed straight to groupCall. With OPENCALL_GROUPS=labels (the default) it
 * labels the call; with OPENCALL_GROUPS=enforced it is refused as before. Real server, real
 * clients, real media.
 */
import { describe, expect, it } from 'vitest';
import { EVENT, ErrorCode } from '@opencall/client/node';
import { ADMIN_TOKEN, startTestServer, testBed } from './support/harness.js';
import { Call } from '../packages/server/src/calls/call.js';

describe('groupCall with a groupID the server never heard of', () => {
  const bed = testBed();
  const client = bed.client;
  const putGroup = (groupID: string, members: string[]) =>
    fetch(`${bed.server!.url}/v1/admin/groups/${groupID}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ members }),
    });

  it('labels (default): the call rings exactly the users named, carries the groupID, and nobody joins by it', async () => {
    bed.server = await startTestServer();
    expect((await putGroup('team', ['alice', 'bob', 'carol'])).status).toBe(200);
    const [alice, bob, carol, mallory] = [await client('alice'), await client('bob'), await client('carol'), await client('mallory')];

    // A Tencent IM group ID: a label. bob rings with it, carol (not named) does not.
    const { roomID } = await alice.sdk.groupCall({ userIDList: ['bob'], type: 2, groupID: '@TGS#2IM-GROUP' });
    expect(await bob.waitFor(EVENT.INVITED)).toMatchObject({ isFromGroup: true, groupID: '@TGS#2IM-GROUP', userIDList: ['bob'], sponsor: 'alice' });
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'bob');
    await bob.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'alice');
    // A label grants no way in: a stranger, and a member of some real group, are refused alike.
    await expect(mallory.sdk.joinInGroupCall({ roomID, groupID: '@TGS#2IM-GROUP' })).rejects.toMatchObject({ code: ErrorCode.CALL_NOT_FOUND });
    await expect(carol.sdk.joinInGroupCall({ roomID, groupID: '@TGS#2IM-GROUP' })).rejects.toMatchObject({ code: ErrorCode.CALL_NOT_FOUND });
    expect(carol.count(EVENT.INVITED) + mallory.count(EVENT.INVITED)).toBe(0);
    await alice.sdk.hangup();
    await bob.waitFor(EVENT.CALL_END);

    // An outsider naming a real group only labels its own call: the group's members cannot join it.
    const labelled = await mallory.sdk.groupCall({ userIDList: ['bob'], type: 1, groupID: 'team' });
    expect(await bob.waitFor(EVENT.INVITED, (p) => p.sponsor === 'mallory')).toMatchObject({ isFromGroup: true, groupID: 'team', userIDList: ['bob'] });
    await expect(carol.sdk.joinInGroupCall({ roomID: labelled.roomID, groupID: 'team' })).rejects.toMatchObject({ code: ErrorCode.CALL_NOT_FOUND });
    await mallory.sdk.hangup();
    await bob.waitFor(EVENT.CALLING_CANCEL);

    // A real group of the caller's is still a group: invitees must be members, members may join.
    await expect(alice.sdk.groupCall({ userIDList: ['bob', 'mallory'], type: 2, groupID: 'team' })).rejects.toMatchObject({ code: ErrorCode.NOT_A_GROUP_MEMBER });
    const team = await alice.sdk.groupCall({ userIDList: ['bob'], type: 2, groupID: 'team' });
    await bob.waitFor(EVENT.INVITED, (p) => p.inviteID === team.inviteID);
    await bob.sdk.accept();
    await carol.sdk.joinInGroupCall({ roomID: team.roomID, groupID: 'team', callMediaType: 1 });
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'carol');
  });

  it('labels: the per-caller invitation limits still count labelled calls', async () => {
    bed.server = await startTestServer({ inviteBurst: 2, inviteRate: 1 });
    const [alice] = [await client('alice'), await client('bob')];
    for (let i = 0; i < 2; i++) {
      await alice.sdk.groupCall({ userIDList: ['bob'], type: 1, groupID: `im-${i}` });
      await alice.sdk.hangup();
    }
    await expect(alice.sdk.groupCall({ userIDList: ['bob'], type: 1, groupID: 'im-2' })).rejects.toMatchObject({ code: ErrorCode.RATE_LIMITED });
  });

  it('a label survives the hand-over of a call to another node (the call snapshot, as JSON)', () => {
    const handOver = (label: boolean) => {
      const call = new Call('id', 7, 1, 'alice', 0, 30_000, 'team', undefined, undefined);
      call.groupLabel = label;
      return Call.fromSnapshot(JSON.parse(JSON.stringify(call.toSnapshot()))).groupLabel;
    };
    expect([handOver(true), handOver(false)]).toEqual([true, false]);
  });

  it('OPENCALL_GROUPS=enforced: an unknown groupID is refused and rings nobody', async () => {
    bed.server = await startTestServer({ groupMode: 'enforced' });
    const [alice, bob] = [await client('alice'), await client('bob')];
    await expect(alice.sdk.groupCall({ userIDList: ['bob'], type: 2, groupID: '@TGS#2IM-GROUP' })).rejects.toMatchObject({ code: ErrorCode.GROUP_NOT_FOUND });
    expect(bob.count(EVENT.INVITED)).toBe(0);
  });
});
