/**
 * The browser bundle in a real browser: two headless Chromium pages load opencall.iife.js
 * with a <script> tag, as a trtc-calling.js app would, and make a 1:1 video call through a
 * real server with Chromium's fake camera and microphone. Both pages must show the other's
 * moving video in the views made by startRemoteView, and hang-up must remove them.
 *
 * Page B also pretends to be a browser that refuses autoplay with sound until a user gesture
 * (strictAutoplay in support/browser-page.ts), so the views' muted fallback and unmute-on-click
 * are exercised.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import TRTCCalling, { ErrorCode } from '@opencall/client';
import { SDK_APP_ID } from '../support/harness.js';
import { browserFixture, serveApp, strictAutoplay } from '../support/browser-page.js';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const ESM = root('packages/client/dist/browser/opencall.esm.js');
const RESULTS = root('test-results');

/** A minimal app: a local and a remote view, and the SDK from a <script> tag. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>OpenCall script-tag test</title>
<style>body{margin:0;display:flex;gap:8px;background:#222}.view{width:320px;height:240px;background:#000}</style>
</head><body>
<div id="local" class="view"></div><div id="remote" class="view"></div>
<script src="/opencall.iife.js"></script>
<script>
  window.seen = [];
  window.errors = [];
  /** Logs in; the callee accepts in its INVITED handler; both show local and remote views. */
  window.startApp = async function (o) {
    const calling = new TRTCCalling({ SDKAppID: o.SDKAppID, serverUrl: o.serverUrl });
    window.calling = calling;
    const E = TRTCCalling.EVENT;
    for (const name of new Set(Object.values(E))) calling.on(name, (p) => window.seen.push(name));
    calling.on(E.ERROR, (e) => window.errors.push(e.code + ' ' + e.message));
    calling.on(E.INVITED, async () => {
      await calling.accept();
      await calling.startLocalView({ userID: o.userID, videoViewDomID: 'local' });
    });
    calling.on(E.USER_ENTER, ({ userID }) => calling.startRemoteView({ userID, videoViewDomID: 'remote' }));
    await calling.login({ userID: o.userID, userSig: o.userSig });
  };
</script>
</body></html>`;

interface RemoteVideo { present: boolean; width: number; time: number; muted: boolean; paused: boolean }

function remoteVideo(page: Page): Promise<RemoteVideo> {
  return page.evaluate(() => {
    const v = document.querySelector<HTMLVideoElement>('#remote video');
    return v ? { present: true, width: v.videoWidth, time: v.currentTime, muted: v.muted, paused: v.paused } : { present: false, width: 0, time: 0, muted: false, paused: true };
  });
}

describe('views outside a browser page', () => {
  it('reject with INVALID_ARGUMENT when there is no document', async () => {
    const calling = new TRTCCalling({ SDKAppID: SDK_APP_ID, serverUrl: 'http://127.0.0.1:9' });
    calling.on(TRTCCalling.EVENT.ERROR, () => {});
    await expect(calling.startLocalView({ userID: 'alice', videoViewDomID: 'local' })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(calling.startRemoteView({ userID: 'bob', videoViewDomID: 'remote' })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(calling.stopRemoteView({ userID: 'bob' })).resolves.toBeUndefined();
    await expect(calling.stopLocalView({ userID: 'alice', videoViewDomID: 'local' })).resolves.toBeUndefined();
  });
});

describe('browser bundle from a <script> tag (headless Chromium)', () => {
  // Its own page, and the ES module build next to the IIFE (both built from the current source, so never stale).
  const fx = browserFixture({ serve: async (iife) => serveApp(iife, { page: PAGE, scripts: { '/opencall.esm.js': await readFile(ESM, 'utf8') } }) });
  beforeAll(() => mkdir(RESULTS, { recursive: true }));

  /** `strict`: the page refuses unmuted playback until a click (strictAutoplay). */
  function openApp(userID: string, strict = false): Promise<Page> {
    return fx.open(userID, { context: { viewport: { width: 660, height: 260 } }, ...(strict && { initScript: strictAutoplay }) });
  }

  it('calls, shows moving remote video in both pages, and removes the views on hang-up', { timeout: 40_000 }, async () => {
    const [a, b] = await Promise.all([openApp('alice'), openApp('bob', true)]);
    expect(await a.evaluate(() => typeof (window as any).TRTCCalling === 'function' && (window as any).TRTCCalling.EVENT.INVITED)).toBe('onInvited');
    // The ES module build loads too, with the class as its default export.
    await a.addScriptTag({ type: 'module', content: "import T, { EVENT } from '/opencall.esm.js'; window.esm = typeof T === 'function' && T.EVENT === EVENT && EVENT.INVITED;" });
    await a.waitForFunction(() => (window as any).esm !== undefined, undefined, { timeout: 5_000 });
    expect(await a.evaluate(() => (window as any).esm)).toBe('onInvited');

    // A view needs an existing element: INVALID_ARGUMENT (40005) otherwise.
    const missing = await a.evaluate(() =>
      (window as any).calling.startRemoteView({ userID: 'bob', videoViewDomID: 'no-such-node' }).then(
        () => 'resolved',
        (e: any) => `${e.name} ${e.code}`,
      ),
    );
    expect(missing).toBe('CallingError 40005');
    await a.evaluate(() => ((window as any).errors.length = 0));

    await a.evaluate(async () => {
      const calling = (window as any).calling;
      await calling.call({ userID: 'bob', type: 2 });
      await calling.startLocalView({ userID: 'alice', videoViewDomID: 'local' });
    });

    // Each page shows the other's video: decoded frames (videoWidth) and playback moving on.
    for (const page of [a, b]) {
      await page.waitForFunction(() => (document.querySelector('#remote video') as HTMLVideoElement | null)?.videoWidth! > 0, undefined, { timeout: 15_000 });
      await page.waitForFunction(() => (document.querySelector('#local video') as HTMLVideoElement | null)?.videoWidth! > 0, undefined, { timeout: 5_000 });
    }
    const [a1, b1] = await Promise.all([remoteVideo(a), remoteVideo(b)]);
    await a.waitForTimeout(700);
    const [a2, b2] = await Promise.all([remoteVideo(a), remoteVideo(b)]);
    expect(a2.time).toBeGreaterThan(a1.time);
    expect(b2.time).toBeGreaterThan(b1.time);
    expect(a2.paused || b2.paused).toBe(false);
    expect(a2.muted).toBe(false); // Chromium lets the remote view play with sound

    // Bob's "browser" refused sound: the view plays muted, and sound comes on with a click.
    expect(await b.evaluate(() => (window as any).refusedPlays)).toBeGreaterThan(0);
    expect(b2.muted).toBe(true);
    await b.mouse.click(10, 10);
    await b.waitForFunction(() => (document.querySelector('#remote video') as HTMLVideoElement).muted === false, undefined, { timeout: 5_000 });
    expect((await remoteVideo(b)).paused).toBe(false);

    // Real RTP both ways: the SDK's own stats count decoded frames from the other user.
    for (const [page, peer] of [[a, 'bob'], [b, 'alice']] as const) {
      const frames = await page.evaluate(async (peer) => {
        let decoded = 0;
        (await (window as any).calling.getStats(peer))?.forEach((r: any) => {
          if (r.type === 'inbound-rtp' && r.kind === 'video') decoded += r.framesDecoded ?? 0;
        });
        return decoded;
      }, peer);
      expect(frames).toBeGreaterThan(0);
    }

    await Promise.all([a.screenshot({ path: `${RESULTS}/script-tag-alice.png` }), b.screenshot({ path: `${RESULTS}/script-tag-bob.png` })]);

    // The local view follows the camera: closed, it shows no video; reopened, the new camera.
    const localTracks = () =>
      a.evaluate(() => {
        const src = (document.querySelector('#local video') as HTMLVideoElement).srcObject as MediaStream | null;
        const now = (window as any).calling.getLocalStream() as MediaStream | null;
        return { shown: src?.getVideoTracks().map((t) => t.id) ?? [], current: now?.getVideoTracks().map((t) => t.id) ?? [] };
      });
    const before = await localTracks();
    await a.evaluate(() => (window as any).calling.closeCamera());
    expect(await localTracks()).toEqual({ shown: [], current: [] });
    await a.evaluate(() => (window as any).calling.openCamera());
    const reopened = await localTracks();
    expect(reopened.shown).toHaveLength(1);
    expect(reopened.shown).toEqual(reopened.current);
    expect(reopened.shown).not.toEqual(before.shown);
    await a.waitForFunction(() => (document.querySelector('#local video') as HTMLVideoElement).videoWidth > 0, undefined, { timeout: 5_000 });
    // ... and Bob keeps seeing Alice (the new camera is swapped into the same connection).
    const b3 = await remoteVideo(b);
    await b.waitForFunction((t) => (document.querySelector('#remote video') as HTMLVideoElement).currentTime > t + 0.3, b3.time, { timeout: 5_000 });

    await a.evaluate(() => (window as any).calling.hangup());
    for (const page of [a, b]) {
      await page.waitForFunction(() => (window as any).seen.includes('onCallEnd'), undefined, { timeout: 10_000 });
      const after = await page.evaluate(() => ({
        remoteVideo: document.querySelector('#remote video') !== null,
        remoteNode: document.getElementById('remote') !== null,
        localNode: document.getElementById('local') !== null,
        localSrc: (document.querySelector('#local video') as HTMLVideoElement | null)?.srcObject ?? null,
      }));
      expect(after).toEqual({ remoteVideo: false, remoteNode: true, localNode: true, localSrc: null });
    }
    expect(await a.evaluate(() => (window as any).errors)).toEqual([]);
    expect(await b.evaluate(() => (window as any).errors)).toEqual([]);
    expect(fx.uncaught).toEqual([]);
  });
});
