/**
 * Several nodes (issue 5): three real `opencall-server` processes on one real redis-server,
 * behind a round-robin TCP balancer, with SDK clients placed on chosen nodes. Calls cross
 * nodes; then the node running the call core is killed (SIGKILL) mid-call with an invitation
 * ringing, and another node is stopped with SIGTERM: calls and media go on, users on those
 * nodes resume on the others, and the ringing timeout fires exactly once.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '@opencall/server';
import { EVENT } from '@opencall/client/node';
import { connectCall, eventually, inbound, TestClient } from './support/harness.js';
import { startRedis, type RedisInstance } from './support/redis.js';
import { ensureServerBuilt, ServerProcess } from './support/server-binary.js';
import { startTcpBalancer, type TcpBalancer } from './support/tcp-balancer.js';

const LEASE_MS = 1500;

describe('several nodes on Redis (three server processes, real redis-server)', () => {
  let redis: RedisInstance;
  let probe: Redis;
  let balancer: TcpBalancer;
  let prefix: string;
  let nodes: ServerProcess[] = [];
  let clients: TestClient[] = [];

  const startNode = (name: string) =>
    ServerProcess.start(
      {
        OPENCALL_REDIS_URL: redis.url,
        OPENCALL_REDIS_PREFIX: prefix,
        OPENCALL_NODE_ID: name,
        OPENCALL_CLUSTER_LEASE_MS: String(LEASE_MS),
        OPENCALL_RECONNECT_GRACE_MS: '15000',
        OPENCALL_DATA_DIR: '',
        OPENCALL_LOG_LEVEL: 'info', // the tests read `server.listening` (with the node id) from the log
      },
      ['OPENCALL_DATABASE_URL', 'OPENCALL_TEST_CLUSTER'],
    );
  const live = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  /** The node running the call core, by asking Redis. */
  const leader = async () => {
    const id = await probe.get(`${prefix}leader`);
    return nodes.find((n) => n.logs.some((l) => l.nodeId === id));
  };
  /** A logged-in client whose socket is on `node` (the balancer is pointed there for the login). */
  const clientOn = async (node: ServerProcess, userID: string) => {
    balancer.backends = [node.port];
    const c = new TestClient(userID, { url: balancer.url } as RunningServer);
    clients.push(c);
    try {
      await c.login();
    } finally {
      balancer.backends = live().map((n) => n.port);
    }
    return c;
  };
  const mediaGrows = async (a: TestClient, b: TestClient, what: string) => {
    const before = [await inbound(a, b.userID), await inbound(b, a.userID)];
    await eventually(async () => {
      const now = [await inbound(a, b.userID), await inbound(b, a.userID)];
      return now.every((n, i) => n.videoBytes > before[i]!.videoBytes && n.audioBytes > before[i]!.audioBytes && n.framesDecoded > before[i]!.framesDecoded);
    }, what);
  };

  beforeAll(async () => {
    ensureServerBuilt({ tolerateTypeErrors: true });
    redis = await startRedis();
    probe = new Redis(redis.url);
  }, 120_000);

  afterAll(async () => {
    probe?.disconnect();
    await redis?.stop();
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.sdk.logout().catch(() => undefined)));
    clients = [];
    await balancer?.close();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    nodes = [];
  });

  const startCluster = async () => {
    prefix = `{oc-failover-${randomBytes(4).toString('hex')}}:`;
    nodes = [];
    for (const name of ['node1', 'node2', 'node3']) nodes.push(await startNode(name));
    balancer = await startTcpBalancer(nodes.map((n) => n.port));
    await eventually(async () => (await leader()) !== undefined, 'a node runs the call core');
  };

  it('users on three nodes call, ring, answer, are busy, get kicked and hang up across nodes', async () => {
    await startCluster();
    const [n1, n2, n3] = nodes as [ServerProcess, ServerProcess, ServerProcess];
    const alice = await clientOn(n1, 'alice');
    const bob = await clientOn(n2, 'bob');
    const carol = await clientOn(n3, 'carol');

    await connectCall(alice, bob);
    await mediaGrows(alice, bob, 'media both ways between node1 and node2 users');

    // carol (node3) calls bob, who is in a call: busy, and bob's call is untouched.
    await carol.sdk.call({ userID: 'bob', type: 1 });
    await carol.waitFor(EVENT.LINE_BUSY);
    expect(bob.count(EVENT.INVITED)).toBe(1);

    // bob logs in again on node3: the node2 session is kicked, and alice's call ends.
    const bob2 = await clientOn(n3, 'bob');
    await bob.waitFor(EVENT.KICKED_OUT);
    await alice.waitFor(EVENT.CALL_END);

    // The new bob takes a call from carol and hangs up: CALL_END on node3 for both.
    await connectCall(carol, bob2, 1);
    await bob2.sdk.hangup();
    await carol.waitFor(EVENT.CALL_END);
    expect(alice.count(EVENT.CALL_END)).toBe(1);
  });

  it('the node running the call core is killed: calls and media go on, its users resume elsewhere, a ringing timeout fires once', async () => {
    await startCluster();
    const doomed = (await leader())!;
    const others = nodes.filter((n) => n !== doomed) as [ServerProcess, ServerProcess];
    // alice (on the core's node) is in a video call with bob; frank (core's node) rings for erin's call.
    const alice = await clientOn(doomed, 'alice');
    const bob = await clientOn(others[0], 'bob');
    const erin = await clientOn(others[1], 'erin');
    const frank = await clientOn(doomed, 'frank');
    await connectCall(alice, bob);
    await mediaGrows(alice, bob, 'media before the kill');
    await erin.sdk.call({ userID: 'frank', type: 1, timeout: 5 });
    await frank.waitFor(EVENT.INVITED);

    balancer.backends = others.map((n) => n.port);
    expect(await doomed.stop('SIGKILL')).toBe('SIGKILL');

    // The clients of the dead node reconnect through the balancer and resume their sessions.
    await alice.waitFor('onConnectionStateChanged', (e) => e.state === 'connected', 20_000);
    await frank.waitFor('onConnectionStateChanged', (e) => e.state === 'connected', 20_000);
    expect(alice.events.filter((e) => e.event === 'onConnectionStateChanged' && e.payload.state === 'connected').map((e) => e.payload.resumed)).toEqual([true]);
    expect(frank.events.filter((e) => e.event === 'onConnectionStateChanged' && e.payload.state === 'connected').map((e) => e.payload.resumed)).toEqual([true]);
    const next = await leader();
    expect(next).toBeDefined();
    expect(next).not.toBe(doomed);

    // The ringing invitation times out on the new core: once on each side.
    await erin.waitFor(EVENT.NO_RESP, () => true, 20_000);
    await frank.waitFor(EVENT.CALLING_TIMEOUT, () => true, 20_000);
    // The call went on meanwhile, with media.
    await mediaGrows(alice, bob, 'media after the kill');
    await new Promise((r) => setTimeout(r, 1000));
    expect(erin.count(EVENT.NO_RESP)).toBe(1);
    expect(frank.count(EVENT.CALLING_TIMEOUT)).toBe(1);
    expect(frank.count(EVENT.INVITED)).toBe(1);
    for (const c of [alice, bob]) expect(c.count(EVENT.CALL_END)).toBe(0);

    // The call state was handed over: alice hanging up ends it for bob; new calls work.
    await alice.sdk.hangup();
    await bob.waitFor(EVENT.CALL_END);
    frank.clear(); // connectCall waits for a fresh INVITED
    await connectCall(erin, frank, 1);
    await frank.sdk.hangup();
    await erin.waitFor(EVENT.CALL_END);
  });

  it('a node that stalls past the node timeout is given up; when it wakes, its users reconnect and resume, and the call goes on', async () => {
    await startCluster();
    const core = (await leader())!;
    const [stalled, other] = nodes.filter((n) => n !== core) as [ServerProcess, ServerProcess];
    const alice = await clientOn(stalled, 'alice');
    const bob = await clientOn(other, 'bob');
    await connectCall(alice, bob);

    stalled.child.kill('SIGSTOP');
    // The core sees the node's heartbeat stop and gives its connections the reconnect grace period.
    await eventually(async () => (await probe.zscore(`${prefix}nodes`, 'node' + (nodes.indexOf(stalled) + 1))) === null, 'the stalled node dropped from the cluster', 10_000);
    await bob.sdk.setMicMute(true); // buffered for alice meanwhile
    stalled.child.kill('SIGCONT');
    // alice's next message reaches a core that gave her connection up: it is closed, and she resumes elsewhere.
    await alice.sdk.setMicMute(true);
    await alice.waitFor('onConnectionStateChanged', (e) => e.state === 'connected', 20_000);
    expect(alice.events.find((e) => e.event === 'onConnectionStateChanged' && e.payload.state === 'connected')?.payload.resumed).toBe(true);
    await alice.waitFor(EVENT.USER_AUDIO_AVAILABLE, (p) => p.userID === 'bob' && p.isAudioAvailable === false);
    await mediaGrows(alice, bob, 'media after the stall');
    expect(alice.count(EVENT.CALL_END) + bob.count(EVENT.CALL_END)).toBe(0);
    await alice.sdk.hangup();
    await bob.waitFor(EVENT.CALL_END);
  });

  it('a node stopped with SIGTERM hands over: its users resume on the others and the call goes on', async () => {
    await startCluster();
    const stopping = (await leader())!;
    const other = nodes.find((n) => n !== stopping)!;
    const alice = await clientOn(stopping, 'alice');
    const bob = await clientOn(other, 'bob');
    await connectCall(alice, bob);

    balancer.backends = nodes.filter((n) => n !== stopping).map((n) => n.port);
    expect(await stopping.stop('SIGTERM')).toBe(0);
    await alice.waitFor('onConnectionStateChanged', (e) => e.state === 'connected', 20_000);
    expect(alice.events.find((e) => e.event === 'onConnectionStateChanged' && e.payload.state === 'connected')?.payload.resumed).toBe(true);
    await mediaGrows(alice, bob, 'media after the node stopped');
    expect((await leader()) ?? null).not.toBe(stopping);
    await bob.sdk.hangup();
    await alice.waitFor(EVENT.CALL_END);
    expect(bob.count(EVENT.CALL_END)).toBe(1);
  });
});
