import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFromEnv, type RunningServer } from '@opencall/server';
import { EVENT } from '@opencall/client/node';
import { createIceServerProvider } from '../packages/server/src/ice/ice-servers.js';
import { startCoturn, type CoturnInstance } from './support/coturn.js';
import { cleanup, eventually, inbound, sleep, startTestServer, TestClient } from './support/harness.js';

/** The nominated, succeeded candidate pair of a connection and its two candidates. */
async function selectedPair(client: TestClient, remote: string): Promise<{ local: any; remote: any } | null> {
  const report = await client.sdk.getStats(remote);
  if (!report) return null;
  const byId = new Map<string, any>();
  report.forEach((r: any) => byId.set(r.id, r));
  let pair: any;
  for (const r of byId.values()) {
    if (r.type === 'transport' && r.selectedCandidatePairId) pair = byId.get(r.selectedCandidatePairId);
  }
  pair ??= [...byId.values()].find((r) => r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded');
  if (!pair) return null;
  return { local: byId.get(pair.localCandidateId), remote: byId.get(pair.remoteCandidateId) };
}

describe('TURN credentials (OPENCALL_TURN_SECRET)', () => {
  it('gives every turn:/turns: server REST API credentials for the user, and leaves the rest alone', () => {
    const now = 1_700_000_000_000;
    const provide = createIceServerProvider({
      iceServers: [
        { urls: 'stun:stun.example.com:3478' },
        { urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349'] },
        { urls: 'turn:other.example.com', username: 'static', credential: 'pw' },
      ],
      turnSecret: 's3cret',
      turnTtl: 600,
      now: () => now,
    });
    const servers = provide('alice');
    const expiry = now / 1000 + 600;
    expect(servers[0]).toEqual({ urls: 'stun:stun.example.com:3478' });
    expect(servers[1]).toEqual({
      urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349'],
      username: `${expiry}:alice`,
      credential: createHmac('sha1', 's3cret').update(`${expiry}:alice`).digest('base64'),
    });
    expect(servers[2]).toEqual({ urls: 'turn:other.example.com', username: 'static', credential: 'pw' });
    expect(provide('bob')[1]!.username).toBe(`${expiry}:bob`);
  });

  it('refuses at start a TURN server it cannot make credentials for, and bad TTLs', () => {
    const env = { OPENCALL_SECRET: 'x', OPENCALL_DATA_DIR: '' };
    expect(() => loadConfigFromEnv({ ...env, OPENCALL_ICE_SERVERS: 'turn:turn.example.com:3478' })).toThrow(/OPENCALL_ICE_SERVERS: .*OPENCALL_TURN_SECRET/);
    expect(() => loadConfigFromEnv({ ...env, OPENCALL_ICE_SERVERS: 'http://x' })).toThrow(/not a stun:, stuns:, turn: or turns: URL/);
    expect(() => loadConfigFromEnv({ ...env, OPENCALL_TURN_SECRET: 'k', OPENCALL_TURN_TTL: '10' })).toThrow(/OPENCALL_TURN_TTL/);
    const ok = loadConfigFromEnv({ ...env, OPENCALL_ICE_SERVERS: 'stun:s.example.com,turn:t.example.com', OPENCALL_TURN_SECRET: 'k' });
    expect(ok.options).toMatchObject({ turnSecret: 'k', turnTtl: 3600, iceServers: [{ urls: 'stun:s.example.com' }, { urls: 'turn:t.example.com' }] });
    expect(loadConfigFromEnv({ ...env, OPENCALL_TURN_SECRET: 'k' }).warnings.join()).toMatch(/secret is unused/);
  });
});

describe('relay-only calls through coturn', () => {
  let turn: CoturnInstance | undefined;
  let server: RunningServer | undefined;
  let clients: TestClient[] = [];
  beforeAll(async () => {
    turn = await startCoturn();
  });
  afterAll(async () => {
    await turn?.stop();
  });
  afterEach(async () => {
    await cleanup(server, clients);
    server = undefined;
    clients = [];
  });

  it('carries a 1:1 video call over TURN relays on both sides', async () => {
    server = await startTestServer({ iceServers: [{ urls: turn!.url }], turnSecret: turn!.secret, turnTtl: 600 });
    const alice = new TestClient('alice', server, { iceTransportPolicy: 'relay' });
    const bob = new TestClient('bob', server, { iceTransportPolicy: 'relay' });
    clients = [alice, bob];
    await alice.login();
    await bob.login();

    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'bob');
    await bob.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'alice');

    for (const [me, peer] of [[alice, 'bob'], [bob, 'alice']] as const) {
      // The nominated pair runs relay to relay: nothing goes directly between the two.
      let pair: Awaited<ReturnType<typeof selectedPair>> = null;
      await eventually(async () => (pair = await selectedPair(me, peer)) !== null, `${me.userID}: a selected candidate pair`);
      expect(pair!.local?.candidateType, `${me.userID} local candidate`).toBe('relay');
      expect(pair!.remote?.candidateType, `${me.userID} remote candidate`).toBe('relay');
      const a = await inbound(me, peer);
      await sleep(1000);
      const b = await inbound(me, peer);
      expect(b.audioBytes, `${me.userID} audio from ${peer}`).toBeGreaterThan(a.audioBytes);
      expect(b.videoBytes, `${me.userID} video from ${peer}`).toBeGreaterThan(a.videoBytes);
      expect(b.framesDecoded - a.framesDecoded, `${me.userID} frames from ${peer}`).toBeGreaterThanOrEqual(5);
    }

    await alice.sdk.hangup();
    await bob.waitFor(EVENT.CALL_END);
  });

  it('does not connect when the server signs TURN credentials with the wrong secret', async () => {
    server = await startTestServer({ iceServers: [{ urls: turn!.url }], turnSecret: `${turn!.secret}-wrong` });
    const alice = new TestClient('alice', server, { iceTransportPolicy: 'relay' });
    const bob = new TestClient('bob', server, { iceTransportPolicy: 'relay' });
    clients = [alice, bob];
    await alice.login();
    await bob.login();

    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await bob.sdk.accept();
    // Bounded wait: with no relay allocation there is no candidate, so no media path at all.
    await expect(alice.waitFor(EVENT.USER_ENTER, () => true, 5000)).rejects.toThrow(/within 5000 ms/);
    expect(bob.count(EVENT.USER_ENTER)).toBe(0);
    expect((await inbound(bob, 'alice')).videoBytes).toBe(0);
    expect(await selectedPair(alice, 'bob')).toBeNull();
    // coturn saw the credentials and refused them.
    expect(await turn!.readLog()).toMatch(/check_stun_auth: Cannot find credentials of user <\d+:(alice|bob)>/);
  });
});
