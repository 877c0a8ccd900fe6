/**
 * Test harness: a real server on a free loopback port and real SDK clients with real WebRTC
 * (@roamhq/wrtc + synthetic devices), plus an event recorder to assert what each side saw.
 */
import wrtc from '@roamhq/wrtc';
import { afterEach, expect } from 'vitest';
import { startServer, genUserSig, type RunningServer, type ServerOptions } from '@opencall/server';
import { startTestCluster } from './cluster.js';
import TRTCCalling, { EVENT, TUICallEvent, type NodeTRTCCallingOptions } from '@opencall/client/node';

export const SDK_APP_ID = 1400012345;
export const SECRET = 'test-secret-0123456789abcdef-0123456789abcdef';
/** OPENCALL_ADMIN_TOKEN of test servers (the admin REST API). */
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef-0123456789';

/**
 * A real server on a free port. With OPENCALL_TEST_CLUSTER=<n> set, a cluster of n nodes on a
 * real Redis behind a round-robin balancer instead (tests/support/cluster.ts).
 */
export async function startTestServer(extra: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const options: ServerOptions = { port: 0, host: '127.0.0.1', sdkAppId: SDK_APP_ID, secretKey: SECRET, adminToken: ADMIN_TOKEN, logLevel: process.env.OPENCALL_TEST_LOG ?? 'silent', ...extra };
  const nodes = Number(process.env.OPENCALL_TEST_CLUSTER ?? 0);
  if (nodes > 0) return startTestCluster(options, nodes);
  return startServer(options);
}

export function sig(userID: string, expire = 3600): string {
  return genUserSig(SDK_APP_ID, SECRET, userID, expire);
}

export interface Recorded { event: string; payload: any; at: number }

const ALL_EVENTS = [...new Set<string>([...Object.values(EVENT), ...Object.values(TUICallEvent), 'onConnectionStateChanged'])];

/** Events of one client, in order, with waiting for one (TestClient here, FlakyPeer in another process). */
export class EventRecorder {
  readonly events: Recorded[] = [];
  private waiters: { match: (r: Recorded) => boolean; resolve: (r: Recorded) => void }[] = [];

  /** Names the client in timeout messages. */
  constructor(protected readonly label: string) {}

  /** Event names in order, optionally only those in `only`. */
  names(only?: string[]): string[] {
    return this.events.map((e) => e.event).filter((n) => !only || only.includes(n));
  }

  /** First recorded event of that name (matching `predicate`), or waits for it. */
  waitFor(event: string, predicate: (payload: any) => boolean = () => true, timeoutMs = 10_000): Promise<any> {
    const hit = this.events.find((r) => r.event === event && predicate(r.payload));
    if (hit) return Promise.resolve(hit.payload);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.label}: no ${event} within ${timeoutMs} ms; saw ${JSON.stringify(this.names())}`));
      }, timeoutMs);
      const waiter = {
        match: (r: Recorded) => r.event === event && predicate(r.payload),
        resolve: (r: Recorded) => {
          clearTimeout(timer);
          resolve(r.payload);
        },
      };
      this.waiters.push(waiter);
    });
  }

  count(event: string): number {
    return this.events.filter((e) => e.event === event).length;
  }

  clear(): void {
    this.events.length = 0;
  }

  protected record(r: Recorded): void {
    this.events.push(r);
    for (const w of [...this.waiters]) {
      if (w.match(r)) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(r);
      }
    }
  }
}

/** A logged-in (or not yet) SDK instance that records every event it emits. */
export class TestClient extends EventRecorder {
  readonly sdk: TRTCCalling;

  constructor(
    readonly userID: string,
    server: Pick<RunningServer, 'url'>,
    options: Partial<NodeTRTCCallingOptions> = {},
  ) {
    super(userID);
    this.sdk = new TRTCCalling({ SDKAppID: SDK_APP_ID, serverUrl: server.url, rtc: wrtc as any, ...options });
    for (const event of ALL_EVENTS) {
      this.sdk.on(event, (payload: unknown) => this.record({ event, payload, at: Date.now() }));
    }
  }

  login(userSig = sig(this.userID)): Promise<unknown> {
    return this.sdk.login({ userID: this.userID, userSig });
  }
}

/** Inbound RTP totals per kind, from the SDK's stats for one remote user. */
export async function inbound(client: TestClient, remoteUserID: string): Promise<{ audioBytes: number; videoBytes: number; framesDecoded: number }> {
  const report = await client.sdk.getStats(remoteUserID);
  const out = { audioBytes: 0, videoBytes: 0, framesDecoded: 0 };
  report?.forEach((r: any) => {
    if (r.type !== 'inbound-rtp') return;
    if (r.kind === 'audio') out.audioBytes += r.bytesReceived ?? 0;
    if (r.kind === 'video') {
      out.videoBytes += r.bytesReceived ?? 0;
      out.framesDecoded += r.framesDecoded ?? 0;
    }
  });
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Asserts that audio and video from `peer` keep reaching `me`: over a second, both byte counts grow and at least 5 frames are decoded. */
export async function expectMediaFlowing(me: TestClient, peer: string): Promise<void> {
  const a = await inbound(me, peer);
  await sleep(1000);
  const b = await inbound(me, peer);
  expect(b.audioBytes, `${me.userID} audio from ${peer}`).toBeGreaterThan(a.audioBytes);
  expect(b.videoBytes, `${me.userID} video from ${peer}`).toBeGreaterThan(a.videoBytes);
  expect(b.framesDecoded - a.framesDecoded, `${me.userID} frames from ${peer}`).toBeGreaterThanOrEqual(5);
}

/** Polls until `check` returns true (media assertions need time, not a fixed sleep). */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000, everyMs = 100): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** `a` calls `b` (type 2 = video by default), `b` accepts, and both see USER_ENTER. */
export async function connectCall(a: TestClient, b: TestClient, type: 1 | 2 = 2): Promise<void> {
  await a.sdk.call({ userID: b.userID, type });
  await b.waitFor(EVENT.INVITED);
  await b.sdk.accept();
  await a.waitFor(EVENT.USER_ENTER);
  await b.waitFor(EVENT.USER_ENTER);
}

/** Logs every client out (ignoring failures) and stops the server. */
export async function cleanup(server: RunningServer | undefined, clients: TestClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.sdk.logout().catch(() => {})));
  await server?.close();
}

/**
 * Per-test server and clients, cleaned up after each test: assign `bed.server` in the test,
 * then `await bed.client('alice')` gives a logged-in client.
 */
export function testBed() {
  const bed = {
    server: undefined as RunningServer | undefined,
    clients: [] as TestClient[],
    async client(userID: string, options: Partial<NodeTRTCCallingOptions> = {}): Promise<TestClient> {
      const c = new TestClient(userID, bed.server!, options);
      bed.clients.push(c);
      await c.login();
      return c;
    },
  };
  afterEach(async () => {
    await cleanup(bed.server, bed.clients.splice(0));
    bed.server = undefined;
  });
  return bed;
}
