/**
 * Several devices of one user (issue 5, "Multi-device"): with OPENCALL_MULTI_DEVICE=ring-all
 * every device rings, the first to answer takes the call with real media, and the others stop
 * ringing with a reason; the call cannot be touched from another device. The default ('kick',
 * the spec's behaviour) is covered in one-to-one-flows. Runs against a cluster too (vitest.config.ts).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, EVENT, TUICallEvent } from '@opencall/client/node';
import { eventually, inbound, sig, startTestServer, testBed, SDK_APP_ID } from './support/harness.js';
import { RawClient } from './model/raw-client.js';

describe('OPENCALL_MULTI_DEVICE=ring-all', () => {
  const bed = testBed();
  const start = async () => {
    bed.server = await startTestServer({ multiDevice: 'ring-all' });
  };

  it('every device rings; the first to answer takes the call, the others stop with "answered elsewhere"', async () => {
    await start();
    const alice = await bed.client('alice');
    const phone = await bed.client('bob');
    const laptop = await bed.client('bob');
    // Nobody was kicked.
    expect(phone.count(EVENT.KICKED_OUT) + laptop.count(EVENT.KICKED_OUT)).toBe(0);

    await alice.sdk.call({ userID: 'bob', type: 2 });
    const invited = await phone.waitFor(EVENT.INVITED);
    await laptop.waitFor(EVENT.INVITED, (p) => p.inviteID === invited.inviteID);

    await laptop.sdk.accept();
    const cancel = await phone.waitFor(EVENT.CALLING_CANCEL);
    expect(cancel.reason).toBe('answered_elsewhere');
    expect((await phone.waitFor(TUICallEvent.onCallCancelled)).reason).toBe('answered_elsewhere');
    await alice.waitFor(EVENT.USER_ENTER);
    await laptop.waitFor(EVENT.USER_ENTER);

    // Media flows between alice and the device that answered, and only that one.
    await eventually(async () => {
      const [a, b] = [await inbound(alice, 'bob'), await inbound(laptop, 'alice')];
      return a.videoBytes > 0 && a.framesDecoded > 0 && b.videoBytes > 0 && b.framesDecoded > 0;
    }, 'video both ways between alice and the laptop');
    expect(phone.count(EVENT.USER_ENTER)).toBe(0);
    expect(await phone.sdk.getStats('alice').catch(() => undefined)).toBeFalsy();

    // A third device of bob's cannot answer, relay into or end the call.
    const raw = await RawClient.open(bed.server!.url, 'bob-tablet');
    raw.send({ t: 'login', rid: 1, sdkAppId: SDK_APP_ID, userID: 'bob', userSig: sig('bob') });
    expect((await raw.waitRes(1)).ok).toBe(true);
    for (const [rid, msg] of [
      [2, { t: 'accept', inviteID: invited.inviteID }],
      [3, { t: 'hangup', inviteID: invited.inviteID }],
      [4, { t: 'relay', rid: 4, inviteID: invited.inviteID, to: 'alice', payload: { kind: 'ready' } }],
    ] as const) {
      raw.send({ rid, ...msg });
      const res = await raw.waitRes(rid);
      expect(res, JSON.stringify(msg)).toMatchObject({ ok: false, code: ErrorCode.NOT_A_PARTICIPANT });
      expect(res.message).toMatch(/another of your devices/);
    }
    // It logging out, and the phone logging out, leave the call alone.
    raw.send({ t: 'logout', rid: 5 });
    await raw.waitRes(5);
    raw.close();
    await phone.sdk.logout();
    await new Promise((r) => setTimeout(r, 300));
    expect(alice.count(EVENT.CALL_END) + alice.count(EVENT.USER_LEAVE)).toBe(0);

    await laptop.sdk.hangup();
    await alice.waitFor(EVENT.CALL_END);
  });

  it('one device declining declines for all: the caller gets REJECT, the others stop with "declined elsewhere"', async () => {
    await start();
    const alice = await bed.client('alice');
    const phone = await bed.client('bob');
    const laptop = await bed.client('bob');
    await alice.sdk.call({ userID: 'bob', type: 1 });
    await phone.waitFor(EVENT.INVITED);
    await laptop.waitFor(EVENT.INVITED);
    await phone.sdk.reject();
    await alice.waitFor(EVENT.REJECT);
    expect((await laptop.waitFor(EVENT.CALLING_CANCEL)).reason).toBe('declined_elsewhere');
    expect(laptop.count(EVENT.INVITED)).toBe(1);
  });

  it('a device that logs in while the phone rings rings too (once); a timeout reaches every device', async () => {
    await start();
    const alice = await bed.client('alice');
    const phone = await bed.client('bob');
    await alice.sdk.call({ userID: 'bob', type: 1, timeout: 2 });
    await phone.waitFor(EVENT.INVITED);
    const laptop = await bed.client('bob');
    await laptop.waitFor(EVENT.INVITED);
    await alice.waitFor(EVENT.NO_RESP, () => true, 10_000);
    await phone.waitFor(EVENT.CALLING_TIMEOUT);
    await laptop.waitFor(EVENT.CALLING_TIMEOUT);
    expect([phone.count(EVENT.INVITED), laptop.count(EVENT.INVITED)]).toEqual([1, 1]);
  });
});
