/**
 * Event payloads carry every field the published trtc-calling-js emits them with (issue 13,
 * item 1). The fields come from the fixtures (extract.mjs reads each version's
 * `emit(EVENT.X, {...})` calls); the payloads come from real calls on a real server, one
 * scenario that raises every one of those events at least once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENT } from '@opencall/client/node';
import { connectCall, startTestServer, testBed, type TestClient } from './support/harness.js';

interface Surface { version: string; statics: { EVENT: Record<string, string> }; eventPayloads: Record<string, string[]> }
const DIR = join(import.meta.dirname, 'fixtures/trtc-calling-js-surface');
const published: Surface[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Surface);

/**
 * 0.5.0 and 0.6.0 also emitted the volume levels as onUserAudioAvailable `{volumeMap}` (a slip:
 * later versions use USER_VOICE_VOLUME, as OpenCall does); that field is not carried over.
 */
const NOT_CARRIED = new Set(['USER_AUDIO_AVAILABLE.volumeMap']);

describe('event payloads as trtc-calling-js emits them', () => {
  const bed = testBed();

  it('every field of every published version is in what OpenCall emits', async () => {
    bed.server = await startTestServer();
    const c = async (id: string) => bed.client(id);
    const [alice, bob, carol, dave, eve] = [await c('alice'), await c('bob'), await c('carol'), await c('dave'), await c('eve')];

    await connectCall(alice, bob, 2); // INVITED, USER_ACCEPT, USER_ENTER, USER_*_AVAILABLE
    await alice.waitFor(EVENT.USER_VOICE_VOLUME);
    await carol.sdk.call({ userID: 'alice', type: 1 });
    await carol.waitFor(EVENT.LINE_BUSY);
    await carol.sdk.hangup();
    await bob.sdk.hangup();
    await alice.waitFor(EVENT.CALL_END); // USER_LEAVE, CALL_END

    await alice.sdk.call({ userID: 'carol', type: 1 });
    await carol.waitFor(EVENT.INVITED, (p) => p.sponsor === 'alice');
    await carol.sdk.reject();
    await alice.waitFor(EVENT.REJECT);

    await alice.sdk.call({ userID: 'dave', type: 1, timeout: 1 });
    await alice.waitFor(EVENT.NO_RESP);
    await dave.waitFor(EVENT.CALLING_TIMEOUT);

    await alice.sdk.call({ userID: 'eve', type: 1 });
    await eve.waitFor(EVENT.INVITED);
    await alice.sdk.hangup();
    await eve.waitFor(EVENT.CALLING_CANCEL);

    await alice.sdk.groupCall({ userIDList: ['bob', 'carol'], type: 1 });
    await bob.waitFor(EVENT.INVITED, (p) => p.userIDList.length === 2);
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'bob');
    await alice.sdk.inviteUser({ userIDList: ['dave'] });
    await bob.waitFor(EVENT.GROUP_CALL_INVITEE_LIST_UPDATE);
    await alice.sdk.hangup();

    await expect(alice.sdk.call({ userID: 'not valid!', type: 1 })).rejects.toThrow();
    await alice.waitFor(EVENT.ERROR);
    await bed.client('eve'); // a second login of eve: the first gets KICKED_OUT
    await eve.waitFor(EVENT.KICKED_OUT);

    const clients: TestClient[] = [alice, bob, carol, dave, eve];
    const missing: string[] = [];
    for (const s of published) {
      for (const [name, fields] of Object.entries(s.eventPayloads)) {
        const payloads = clients.flatMap((cl) => cl.events.filter((e) => e.event === s.statics.EVENT[name]).map((e) => e.payload));
        if (payloads.length === 0) missing.push(`${s.version}: ${name} never emitted in the scenario`);
        for (const field of fields) {
          if (NOT_CARRIED.has(`${name}.${field}`)) continue;
          if (!payloads.every((p) => p !== null && typeof p === 'object' && field in p)) missing.push(`${s.version}: ${name} without ${field}`);
        }
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });
});
