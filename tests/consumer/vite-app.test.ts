/**
 * Consumer test 3(b) of issue 12: a fresh Vite app, in a temp dir outside the repository, that
 * depends only on the packed @opencall/client (plus the packed @opencall/protocol, since the
 * packages are not on the registry) with vite from the registry as its devDependency. Its
 * index.html + main.js (tests/consumer/vite-app/) `import TRTCCalling from '@opencall/client'`;
 * `vite build` must resolve the client's browser entry (not the Node one, not `ws`), and the
 * built files, served by an OpenCall server's staticDir, make a 1:1 video call between two
 * Chromium pages with fake cameras: both sides decode the other's video.
 */
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { RunningServer } from '@opencall/server';
import { launchChromium } from '../support/chromium.js';
import { SDK_APP_ID, sig, startTestServer } from '../support/harness.js';
import { createConsumerProject, packWorkspaces, REPO_ROOT, type ConsumerProject, type PackedPackages } from '../support/packed-packages.js';

const APP_FILES = fileURLToPath(new URL('./vite-app/', import.meta.url));
/** The Vite major the demo uses (apps/demo): in npm's cache already, so the install is quick. */
const VITE_RANGE = (JSON.parse(await readFile(join(REPO_ROOT, 'apps/demo/package.json'), 'utf8')) as { devDependencies: { vite: string } }).devDependencies.vite;

/** Decoded video frames from `peer`, by the SDK's own stats (inbound-rtp). */
function framesFrom(page: Page, peer: string): Promise<number> {
  return page.evaluate(async (p) => {
    let decoded = 0;
    ((await (window as any).calling.getStats(p)) as RTCStatsReport | null)?.forEach((r: any) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') decoded += r.framesDecoded ?? 0;
    });
    return decoded;
  }, peer);
}

describe('consumer: a Vite app on the packed @opencall/client', () => {
  let packed: PackedPackages | undefined;
  let app: ConsumerProject | undefined;
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await Promise.all([app?.cleanup(), packed?.cleanup()]);
  });

  it('builds with vite and makes a video call between two Chromium pages', async () => {
    const t0 = Date.now();
    const took: Record<string, number> = {};
    const lap = (name: string) => (took[name] = Date.now() - t0 - Object.values(took).reduce((a, b) => a + b, 0));

    packed = await packWorkspaces();
    lap('pack');
    app = await createConsumerProject({
      packageJson: { scripts: { build: 'vite build' }, devDependencies: { vite: VITE_RANGE } },
      install: [packed.protocol, packed.client],
    });
    lap('install');
    const pkg = JSON.parse(await readFile(join(app.dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['@opencall/client', '@opencall/protocol']);
    for (const f of ['index.html', 'main.js']) await copyFile(join(APP_FILES, f), join(app.dir, f));

    const build = await app.npm(['run', 'build']);
    lap('vite build');
    // A Node entry or `ws` pulled into the browser bundle shows up as externalized built-ins (a
    // warning, then a runtime failure): the build must resolve the browser entry cleanly.
    const buildLog = build.stdout + build.stderr;
    expect(buildLog).not.toMatch(/externalized for browser compatibility|Could not resolve|failed to resolve/i);
    const assets = await readdir(join(app.dir, 'dist/assets'));
    const js = (await Promise.all(assets.filter((f) => f.endsWith('.js')).map((f) => readFile(join(app!.dir, 'dist/assets', f), 'utf8')))).join('\n');
    expect(js).toContain('TRTCCalling');
    expect(js).not.toMatch(/from\s*["'](ws|node:[a-z_]+)["']|require\(["'](ws|node:[a-z_]+)["']\)/);
    expect(js).not.toContain('ws does not work in the browser'); // ws's browser stub, bundled

    // The built app, served by the signaling server itself: the page's origin is the serverUrl.
    server = await startTestServer({ staticDir: join(app.dir, 'dist') });
    browser = await launchChromium();
    const uncaught: string[] = [];
    const open = async (userID: string) => {
      const page = await (await browser!.newContext()).newPage();
      page.on('pageerror', (e) => uncaught.push(`${userID}: ${e.message}`));
      await page.goto(`${server!.url}/?${new URLSearchParams({ userID, userSig: sig(userID), SDKAppID: String(SDK_APP_ID) })}`);
      expect(await page.evaluate(() => (window as any).loggedIn)).toBe(true);
      return page;
    };
    const [alice, bob] = [await open('vite-alice'), await open('vite-bob')];
    await alice.evaluate((peer) => (window as any).callUser(peer), 'vite-bob');

    // Both show the other's video (decoded frames give the element a size) ...
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => (document.querySelector('#remote video') as HTMLVideoElement | null)?.videoWidth! > 0, undefined, { timeout: 20_000 });
    }
    // ... and keep decoding it: the SDK's stats count frames from the other user, and they grow.
    for (const [page, peer] of [[alice, 'vite-bob'], [bob, 'vite-alice']] as const) {
      const first = await framesFrom(page, peer);
      expect(first, `${peer}'s frames decoded`).toBeGreaterThan(0);
      await page.waitForFunction(
        async ([p, n]) => {
          let decoded = 0;
          ((await (window as any).calling.getStats(p)) as RTCStatsReport | null)?.forEach((r: any) => {
            if (r.type === 'inbound-rtp' && r.kind === 'video') decoded += r.framesDecoded ?? 0;
          });
          return decoded > n;
        },
        [peer, first] as const,
        { timeout: 10_000, polling: 200 },
      );
    }
    lap('call');
    expect(await alice.evaluate(() => (window as any).errors)).toEqual([]);
    expect(await bob.evaluate(() => (window as any).errors)).toEqual([]);
    expect(uncaught).toEqual([]);
    console.info(`vite consumer test: ${JSON.stringify(took)} ms, ${Date.now() - t0} ms in all`);
  }, 300_000);
});
