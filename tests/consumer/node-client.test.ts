/**
 * The Node client as a user installs it (issue 12, 3c): a fresh project outside the repository
 * depends on the packed @opencall/client (and @opencall/protocol) plus `ws` and `@roamhq/wrtc`
 * from the registry, and a plain .mjs script imports `@opencall/client` — which must pick the
 * Node entry by itself — and makes a 1:1 video call between two clients against a real server
 * started here, with media flowing both ways (bytes received and frames decoded).
 *
 * TypeScript in that project sees the Node types under Node resolution. A second project without
 * the optional peers shows what a user who forgot them is told.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '@opencall/server';
import { SDK_APP_ID, sig, startTestServer } from '../support/harness.js';
import { REPO_ROOT, consumerEnv, createConsumerProject, packWorkspaces, type ConsumerProject, type PackedPackages } from '../support/packed-packages.js';

const run = promisify(execFile);

/**
 * The user's script: two clients, alice calls bob, bob accepts when invited; once both see the
 * other enter, it samples each side's inbound RTP twice, one second apart, hangs up and prints
 * one JSON line with what it saw.
 */
const CALL_SCRIPT = `
import TRTCCalling from '@opencall/client';

const { SERVER_URL, SDK_APP_ID, ALICE_SIG, BOB_SIG } = process.env;
const client = () => new TRTCCalling({ SDKAppID: Number(SDK_APP_ID), serverUrl: SERVER_URL });
const alice = client();
const bob = client();
const once = (c, event) => new Promise((resolve) => c.on(event, resolve));
const inbound = async (c, from) => {
  const out = { audioBytes: 0, videoBytes: 0, framesDecoded: 0 };
  (await c.getStats(from))?.forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    if (r.kind === 'audio') out.audioBytes += r.bytesReceived ?? 0;
    if (r.kind === 'video') { out.videoBytes += r.bytesReceived ?? 0; out.framesDecoded += r.framesDecoded ?? 0; }
  });
  return out;
};

bob.on(TRTCCalling.EVENT.INVITED, () => bob.accept());
await alice.login({ userID: 'alice', userSig: ALICE_SIG });
await bob.login({ userID: 'bob', userSig: BOB_SIG });
const entered = Promise.all([once(alice, TRTCCalling.EVENT.USER_ENTER), once(bob, TRTCCalling.EVENT.USER_ENTER)]);
await alice.call({ userID: 'bob', type: 2 });
await entered;
const first = { alice: await inbound(alice, 'bob'), bob: await inbound(bob, 'alice') };
await new Promise((r) => setTimeout(r, 1500));
const second = { alice: await inbound(alice, 'bob'), bob: await inbound(bob, 'alice') };
const ended = once(bob, TRTCCalling.EVENT.CALL_END);
await alice.hangup();
await ended;
await Promise.all([alice.logout(), bob.logout()]);
console.log(JSON.stringify({ entry: import.meta.resolve('@opencall/client'), first, second }));
process.exit(0);
`;

/** Without the optional peers: what login and, once logged in, a call say. */
const MISSING_SCRIPT = `
import TRTCCalling from '@opencall/client';

const { SERVER_URL, SDK_APP_ID, ALICE_SIG } = process.env;
const settle = (p) => p.then(() => 'ok', (e) => e.message);
const alice = new TRTCCalling({ SDKAppID: Number(SDK_APP_ID), serverUrl: SERVER_URL });
const login = await settle(alice.login({ userID: 'alice', userSig: ALICE_SIG }));
const call = login === 'ok' ? await settle(alice.call({ userID: 'bob', type: 2 })) : null;
if (login === 'ok') await alice.logout();
console.log(JSON.stringify({ login, call }));
process.exit(0);
`;

/** TypeScript in the user's project: a Node-only option that only the Node entry's types have. */
const TYPED_SCRIPT = `
import TRTCCalling, { type NodeTRTCCallingOptions } from '@opencall/client';

const options: NodeTRTCCallingOptions = { SDKAppID: 1400012345, serverUrl: 'http://127.0.0.1:8080', syntheticMedia: { cameras: 1 } };
export const calling: TRTCCalling = new TRTCCalling(options);
`;
const TSC = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');

let packed: PackedPackages;
let server: RunningServer;
const projects: ConsumerProject[] = [];

beforeAll(async () => {
  packed = await packWorkspaces();
  server = await startTestServer();
}, 120_000);

afterAll(async () => {
  await server?.close();
  for (const p of projects) await p.cleanup();
  await packed?.cleanup();
});

/** Runs `node <script>` in the project against the test server; returns its last stdout line as JSON. */
async function runScript(project: ConsumerProject, name: string, source: string, nodeArgs: string[] = []): Promise<any> {
  await writeFile(join(project.dir, name), source);
  const env = consumerEnv({ SERVER_URL: server.url, SDK_APP_ID: String(SDK_APP_ID), ALICE_SIG: sig('alice'), BOB_SIG: sig('bob') });
  const { stdout } = await run(process.execPath, [...nodeArgs, name], { cwd: project.dir, env, timeout: 90_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe('@opencall/client from its tarball, in a Node script', () => {
  it('`import TRTCCalling from "@opencall/client"` gets the Node entry and makes a video call with media both ways', async () => {
    const project = await createConsumerProject({ install: [packed.protocol, packed.client, 'ws', '@roamhq/wrtc'] });
    projects.push(project);
    const out = await runScript(project, 'call.mjs', CALL_SCRIPT);
    expect(out.entry).toBe(`file://${join(project.dir, 'node_modules/@opencall/client/dist/node.js')}`);
    for (const side of ['alice', 'bob'] as const) {
      expect(out.second[side].audioBytes, `${side} receives audio`).toBeGreaterThan(out.first[side].audioBytes);
      expect(out.second[side].videoBytes, `${side} receives video`).toBeGreaterThan(out.first[side].videoBytes);
      expect(out.second[side].framesDecoded - out.first[side].framesDecoded, `${side} decodes frames`).toBeGreaterThanOrEqual(5);
    }
  }, 180_000);

  it("TypeScript sees the Node entry's types under Node resolution, the browser entry's under a bundler's", async () => {
    const project = projects[0]!; // the one of the call above: client, protocol, ws, wrtc
    await writeFile(join(project.dir, 'check.ts'), TYPED_SCRIPT);
    const tsc = (resolution: string[]) =>
      run(process.execPath, [TSC, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--lib', 'es2022,dom', ...resolution, 'check.ts'], { cwd: project.dir }).then(
        () => '',
        (err: { stdout?: string }) => err.stdout ?? String(err),
      );
    expect(await tsc(['--module', 'nodenext', '--moduleResolution', 'nodenext'])).toBe('');
    expect(await tsc(['--module', 'esnext', '--moduleResolution', 'bundler'])).toContain("has no exported member named 'NodeTRTCCallingOptions'");
  }, 60_000);

  it('without ws and @roamhq/wrtc, the errors name the package to install', async () => {
    const project = await createConsumerProject({ install: [packed.protocol, packed.client] });
    projects.push(project);
    const nodeHasWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function';
    if (!nodeHasWebSocket) {
      // Node 20: no WebSocket of its own, so without ws the login says what to install.
      const out = await runScript(project, 'missing.mjs', MISSING_SCRIPT);
      expect(out.login).toContain("the package 'ws' is not installed: npm install ws");
    }
    // With a WebSocket (Node 20's behind a flag) the login works, and the call names wrtc.
    const out = await runScript(project, 'missing.mjs', MISSING_SCRIPT, nodeHasWebSocket ? [] : ['--experimental-websocket']);
    expect(out.login).toBe('ok');
    expect(out.call).toContain("the package '@roamhq/wrtc' is not installed: npm install @roamhq/wrtc");
  }, 120_000);
});
