import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFromEnv, type RunningServer, type ServerOptions } from '@opencall/server';
import { EVENT } from '@opencall/client/node';
import { createIceServerProvider, MIN_TURN_TTL_SECONDS } from '../packages/server/src/ice/ice-servers.js';
import { startCoturn, type CoturnInstance } from './support/coturn.js';
import { cleanup, connectCall, eventually, expectMediaFlowing, inbound, sleep, startTestServer, testBed, TestClient } from './support/harness.js';

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
    const env = { OPENCALL_SECRET: 'x'.repeat(32), OPENCALL_DATA_DIR: '' };
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
  const bed = testBed();
  beforeAll(async () => {
    turn = await startCoturn();
  });
  afterAll(async () => {
    await turn?.stop();
  });

  /** alice and bob, relay-only, on a server handing out coturn's URL with `options`: alice video-calls bob and he accepts. */
  async function relayOnlyCall(options: Partial<ServerOptions>): Promise<[TestClient, TestClient]> {
    bed.server = await startTestServer({ iceServers: [{ urls: turn!.url }], ...options });
    const alice = await bed.client('alice', { iceTransportPolicy: 'relay' });
    const bob = await bed.client('bob', { iceTransportPolicy: 'relay' });
    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await bob.sdk.accept();
    return [alice, bob];
  }

  it('carries a 1:1 video call over TURN relays on both sides', async () => {
    const [alice, bob] = await relayOnlyCall({ turnSecret: turn!.secret, turnTtl: 600 });
    await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'bob');
    await bob.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'alice');

    for (const [me, peer] of [[alice, 'bob'], [bob, 'alice']] as const) {
      // The nominated pair runs relay to relay: nothing goes directly between the two.
      let pair: Awaited<ReturnType<typeof selectedPair>> = null;
      await eventually(async () => (pair = await selectedPair(me, peer)) !== null, `${me.userID}: a selected candidate pair`);
      expect(pair!.local?.candidateType, `${me.userID} local candidate`).toBe('relay');
      expect(pair!.remote?.candidateType, `${me.userID} remote candidate`).toBe('relay');
      await expectMediaFlowing(me, peer);
    }

    await alice.sdk.hangup();
    await bob.waitFor(EVENT.CALL_END);
  });

  it('does not connect when the server signs TURN credentials with the wrong secret', async () => {
    const [alice, bob] = await relayOnlyCall({ turnSecret: `${turn!.secret}-wrong` });
    // Bounded wait: with no relay allocation there is no candidate, so no media path at all.
    await expect(alice.waitFor(EVENT.USER_ENTER, () => true, 5000)).rejects.toThrow(/within 5000 ms/);
    expect(bob.count(EVENT.USER_ENTER)).toBe(0);
    expect((await inbound(bob, 'alice')).videoBytes).toBe(0);
    expect(await selectedPair(alice, 'bob')).toBeNull();
    // coturn saw the credentials and refused them.
    expect(await turn!.readLog()).toMatch(/check_stun_auth: Cannot find credentials of user <\d+:(alice|bob)>/);
  });
});

/** Inbound totals of a client's media from `peer` over the next `ms`: did audio (and video) keep coming? */
async function flowing(me: TestClient, peer: string, ms: number, video: boolean): Promise<boolean> {
  const a = await inbound(me, peer);
  await sleep(ms);
  const b = await inbound(me, peer);
  return b.audioBytes > a.audioBytes && (!video || (b.videoBytes > a.videoBytes && b.framesDecoded >= a.framesDecoded + 5));
}

/** Expiry (unix seconds) in the TURN username a client is using now (SDK internals). */
function turnExpiry(c: TestClient): number {
  const servers = (c.sdk as any).controller.d.iceServers as { username?: string }[];
  return Number(servers.find((s) => s.username)!.username!.split(':')[0]);
}

describe('TURN credentials refreshed while logged in', () => {
  let turn: CoturnInstance | undefined;
  let server: RunningServer | undefined;
  let clients: TestClient[] = [];
  afterEach(async () => {
    await cleanup(server, clients);
    await turn?.stop();
    server = turn = undefined;
    clients = [];
  });

  // About 100 s: credentials can live no less than MIN_TURN_TTL_SECONDS (60 s), and the call
  // must outlast them. alice and bob take the server's refreshes; carol and dave, the control,
  // ignore them (their SDK drops the push) and keep the credentials they got at login.
  it('an ICE restart after the first credentials expired gets a relay with the pushed ones, and none without them', async () => {
    turn = await startCoturn();
    server = await startTestServer({ iceServers: [{ urls: turn.url }], turnSecret: turn.secret, turnTtl: MIN_TURN_TTL_SECONDS });
    const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((id) => new TestClient(id, server!, { iceTransportPolicy: 'relay' })) as [TestClient, TestClient, TestClient, TestClient];
    clients = [alice, bob, carol, dave];
    const pushes = new Map<string, { iceServers: { username?: string }[]; expiresAt?: number }[]>();
    for (const c of clients) {
      await c.login();
      pushes.set(c.userID, []);
      (c.sdk as any).signal.on('frame', (f: any) => f.t === 'iceServers' && pushes.get(c.userID)!.push(f));
    }
    for (const c of [carol, dave]) (c.sdk as any).controller.setIceServers = () => {};
    const loginExpiry = Math.max(...clients.map(turnExpiry));

    await connectCall(alice, bob, 2);
    await connectCall(carol, dave, 1);
    for (const [me, peer] of [[alice, 'bob'], [bob, 'alice'], [carol, 'dave'], [dave, 'carol']] as const) {
      expect((await selectedPair(me, peer))?.local?.candidateType, `${me.userID} sends through a relay`).toBe('relay');
    }

    // The server pushes new credentials at 3/4 of their lifetime (45 s), each later than the last.
    await eventually(() => clients.every((c) => pushes.get(c.userID)!.length > 0), 'a push to every client', 60_000, 500);
    for (const c of clients) {
      const f = pushes.get(c.userID)![0]!;
      expect(f.expiresAt, `${c.userID}: pushed expiry`).toBeGreaterThan(loginExpiry * 1000);
      expect(f.iceServers[0]!.username).toBe(`${f.expiresAt! / 1000}:${c.userID}`);
    }
    expect(turnExpiry(alice)).toBeGreaterThan(loginExpiry);
    expect(turnExpiry(carol)).toBeLessThanOrEqual(loginExpiry);

    // Past the login credentials' expiry (coturn compares whole seconds): the relays in use go on,
    // for both pairs: coturn checks the timestamp only when it looks the user up, not on every
    // request of an allocation it already authenticated.
    await sleep(Math.max(0, (loginExpiry + 2) * 1000 - Date.now()));
    expect(await flowing(bob, 'alice', 1500, true), 'alice → bob after the login credentials expired').toBe(true);
    expect(await flowing(dave, 'carol', 1500, false), 'carol → dave after the login credentials expired').toBe(true);

    // The TURN server restarts in place: every allocation is gone, the paths fail, and alice and
    // carol (the impolite sides) restart ICE, which needs new allocations, so valid credentials.
    const { port, secret } = turn;
    await turn.stop();
    turn = await startCoturn({ port, secret, extraConfig: ['verbose'] });

    await eventually(async () => (await flowing(alice, 'bob', 1000, true)) && (await flowing(bob, 'alice', 1000, true)), 'alice ↔ bob media back over new relays', 45_000, 500);
    expect((await selectedPair(alice, 'bob'))?.local?.candidateType).toBe('relay');
    expect((c => c.controller.current.media.links.get('bob').iceRestarts)(alice.sdk as any)).toBeGreaterThanOrEqual(1);
    expect(await flowing(dave, 'carol', 3000, false), 'carol → dave: no relay with expired credentials').toBe(false);
    expect(await flowing(carol, 'dave', 1000, false), 'dave → carol: no relay with expired credentials').toBe(false);
    const log = await turn.readLog();
    // coturn refused the control pair's stale credentials, allocated nothing for them, and gave
    // alice's new relays to her pushed ones. (Her old relays, made with the login credentials, are
    // refused too when they try to re-authenticate to the restarted server: libwebrtc keeps a
    // relay's credentials for its life; new ones only go to relays gathered later.)
    expect(log).toMatch(new RegExp(`Cannot find credentials of user <${loginExpiry}:(carol|dave)>`));
    expect(log).not.toMatch(new RegExp(`new, realm=<[^>]*>, username=<${loginExpiry}:`));
    expect(log).toMatch(new RegExp(`username=<(${pushes.get('alice')!.map((f) => f.expiresAt! / 1000).join('|')}):alice>`));
  }, 180_000);
});
