/**
 * The spec's device and environment errors, provoked for real in headless Chromium (Debian's
 * chromium 156): getUserMedia is never patched, each browser is launched so that Chromium
 * itself fails the way a user's browser would.
 *
 *   60003 no microphone       no --use-fake-device-for-media-stream: headless Chromium has no
 *                             devices at all, getUserMedia fails with NotFoundError
 *   60004 no camera           --use-fake-device-for-media-stream=device-count=0: the fake audio
 *                             devices stay, no fake camera (video NotFoundError)
 *   60005 permission denied   fake devices, no --use-fake-ui-for-media-stream, and
 *                             --deny-permission-prompts: the prompt is denied (NotAllowedError);
 *                             with the microphone granted to the origin only the camera is denied
 *   60006 no WebRTC           RTCPeerConnection removed by an init script before the bundle loads;
 *                             and a page that is not a secure context (http://opencall.test mapped
 *                             to 127.0.0.1 with --host-resolver-rules): no navigator.mediaDevices
 *
 * Each case asserts the ERROR event (code and message) and how the method settled: call() and
 * accept() reject when the microphone cannot be had; a video call without a camera goes on as
 * audio, with ERROR and no video for the other side.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { RunningServer } from '@opencall/server';
import { EVENT, ErrorCode } from '@opencall/client';
import { startTestServer } from '../support/harness.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, launchChromium } from '../support/chromium.js';
import { attempt, buildBundle, openApp, pageErrors, pageEvents, serveApp, waitForEvent, type AppServer } from '../support/browser-page.js';

const FAKE_DEVICES = '--use-fake-device-for-media-stream';
const FAKE_UI = '--use-fake-ui-for-media-stream';
const INSECURE_HOST = 'opencall.test';

/** Launches Chromium with the shared arguments minus `drop`, plus `add`. */
function launchWith(drop: string[], add: string[]): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS.filter((a) => !drop.includes(a)), ...add],
    timeout: 20_000,
  });
}

/** What the page itself can see of its devices (labels are empty without permission). */
function devices(page: Page): Promise<string[]> {
  return page.evaluate(async () => (await navigator.mediaDevices.enumerateDevices()).map((d) => d.kind).filter((k) => k !== 'audiooutput'));
}

/** Inbound RTP from `peer` as the page's SDK reports it. */
function inbound(page: Page, peer: string): Promise<{ audioBytes: number; videoFrames: number }> {
  return page.evaluate(async (peer) => {
    const out = { audioBytes: 0, videoFrames: 0 };
    (await (window as any).calling.getStats(peer))?.forEach((r: any) => {
      if (r.type !== 'inbound-rtp') return;
      if (r.kind === 'audio') out.audioBytes += r.bytesReceived ?? 0;
      if (r.kind === 'video') out.videoFrames += r.framesDecoded ?? 0;
    });
    return out;
  }, peer);
}

describe('device and environment errors in headless Chromium', () => {
  let server: RunningServer;
  let app: AppServer;
  /** Fake camera and microphone, prompts accepted; also maps opencall.test to 127.0.0.1. */
  let normal: Browser;
  /** No media devices at all. */
  let noDevices: Browser;
  /** A fake microphone, no camera. */
  let noCamera: Browser;
  /** Fake devices, but permission prompts are denied. */
  let denying: Browser;
  const contexts: BrowserContext[] = [];
  const uncaught: string[] = [];

  beforeAll(async () => {
    [server, app, normal, noDevices, noCamera, denying] = await Promise.all([
      startTestServer(),
      buildBundle().then(serveApp),
      launchChromium([`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`]),
      launchWith([FAKE_DEVICES], []),
      launchWith([FAKE_DEVICES], [`${FAKE_DEVICES}=device-count=0`]),
      launchWith([FAKE_UI], ['--deny-permission-prompts']),
    ]);
  });

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => {})));
    await Promise.all([normal, noDevices, noCamera, denying].map((b) => b?.close().catch(() => {})));
    await app?.close();
    await server?.close();
  });

  async function context(browser: Browser, setup?: (c: BrowserContext) => Promise<unknown>): Promise<BrowserContext> {
    const c = await browser.newContext();
    contexts.push(c);
    await setup?.(c);
    return c;
  }

  async function open(browser: Browser, userID: string, o: { autoAccept?: boolean; earlyMedia?: boolean; host?: string; setup?: (c: BrowserContext) => Promise<unknown> } = {}): Promise<Page> {
    return openApp(await context(browser, o.setup), { userID, serverUrl: server.url, pageUrl: app.url(o.host), autoAccept: o.autoAccept, earlyMedia: o.earlyMedia, pageErrors: uncaught });
  }

  /** The callee was never invited: a failed call() must not ring anyone. */
  async function neverInvited(callee: Page): Promise<void> {
    await callee.waitForTimeout(300);
    expect(await pageEvents(callee, EVENT.INVITED)).toEqual([]);
  }

  it('60003: no microphone — call() and accept() reject, nobody rings', { timeout: 20_000 }, async () => {
    const [alice, bob, carol] = await Promise.all([open(noDevices, 'mic-alice'), open(normal, 'mic-bob', { autoAccept: true }), open(noDevices, 'mic-carol', { autoAccept: true })]);
    expect(await devices(alice)).toEqual([]);

    for (const type of [1, 2]) {
      const settled = await attempt(alice, 'call', { userID: 'mic-bob', type });
      expect(settled).toMatchObject({ ok: false, name: 'CallingError', code: ErrorCode.NO_MICROPHONE });
      expect((settled as { message: string }).message).toMatch(/^no microphone available: Requested device not found/);
      // The same error, once, as the ERROR event.
      expect(await pageErrors(alice)).toEqual([{ code: 60003, message: (settled as { message: string }).message }]);
      await alice.evaluate(() => ((window as any).errors.length = 0));
    }
    await neverInvited(bob);

    // The callee side: accepting without a microphone rejects with 60003; the call keeps ringing
    // until the caller gives up.
    expect(await attempt(bob, 'call', { userID: 'mic-carol', type: 1 })).toMatchObject({ ok: true });
    await carol.waitForFunction(() => (window as any).acceptResults.length > 0, undefined, { timeout: 10_000 });
    const [accepted] = await carol.evaluate(() => (window as any).acceptResults);
    expect(accepted).toMatchObject({ ok: false, code: 60003, message: expect.stringMatching(/^no microphone available: /) });
    expect(await pageErrors(carol)).toEqual([{ code: 60003, message: accepted.message }]);
    expect(await attempt(bob, 'hangup')).toMatchObject({ ok: true });
    await waitForEvent(carol, EVENT.CALLING_CANCEL);
    expect(await pageEvents(carol, EVENT.USER_ENTER)).toEqual([]);
    expect(await pageErrors(bob)).toEqual([]);
  });

  it('60004: no camera — a video call reports ERROR and goes on with audio only', { timeout: 30_000 }, async () => {
    const [alice, bob] = await Promise.all([open(noCamera, 'cam-alice'), open(normal, 'cam-bob', { autoAccept: true })]);
    expect(await devices(alice)).toEqual(['audioinput', 'audioinput', 'audioinput']);

    const settled = await attempt(alice, 'call', { userID: 'cam-bob', type: 2 });
    expect(settled).toMatchObject({ ok: true });
    const errors = await pageErrors(alice);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: ErrorCode.NO_CAMERA, message: expect.stringMatching(/^no camera available: Requested device not found/) });

    // Bob hears Alice but is never told she has video; Alice sees Bob's camera.
    await waitForEvent(bob, EVENT.USER_ENTER, { userID: 'cam-alice' }, 15_000);
    await waitForEvent(bob, EVENT.USER_AUDIO_AVAILABLE, { userID: 'cam-alice', isAudioAvailable: true });
    await waitForEvent(alice, EVENT.USER_VIDEO_AVAILABLE, { userID: 'cam-bob', isVideoAvailable: true });
    await bob.waitForFunction(
      async () => {
        let bytes = 0;
        (await (window as any).calling.getStats('cam-alice'))?.forEach((r: any) => r.type === 'inbound-rtp' && r.kind === 'audio' && (bytes += r.bytesReceived ?? 0));
        return bytes > 0;
      },
      undefined,
      { timeout: 10_000, polling: 200 },
    );
    await alice.waitForTimeout(700);
    expect((await pageEvents(bob, EVENT.USER_VIDEO_AVAILABLE)).filter((e) => e.payload.userID === 'cam-alice' && e.payload.isVideoAvailable)).toEqual([]);
    expect((await inbound(bob, 'cam-alice')).videoFrames).toBe(0);
    expect((await inbound(alice, 'cam-bob')).videoFrames).toBeGreaterThan(0);

    // openCamera() mid-call: rejects with 60004 and reports it, the call goes on.
    const reopen = await attempt(alice, 'openCamera');
    expect(reopen).toMatchObject({ ok: false, name: 'CallingError', code: ErrorCode.NO_CAMERA, message: expect.stringMatching(/^no camera available: /) });
    expect(await pageErrors(alice)).toEqual([errors[0], { code: 60004, message: (reopen as { message: string }).message }]);

    expect(await attempt(alice, 'hangup')).toMatchObject({ ok: true });
    await Promise.all([waitForEvent(alice, EVENT.CALL_END), waitForEvent(bob, EVENT.CALL_END)]);
    expect(await pageErrors(bob)).toEqual([]);
  });

  it('60004 on the callee side: accepting a video call without a camera joins with audio', { timeout: 30_000 }, async () => {
    // bob opted into early media: his camera is tried while ringing too, and that attempt must stay silent.
    const [alice, bob] = await Promise.all([open(normal, 'cam2-alice'), open(noCamera, 'cam2-bob', { earlyMedia: true })]);
    expect(await attempt(alice, 'call', { userID: 'cam2-bob', type: 2 })).toMatchObject({ ok: true });
    await waitForEvent(bob, EVENT.INVITED);
    await bob.waitForTimeout(500); // the user takes a moment to answer
    expect(await attempt(bob, 'accept')).toEqual({ ok: true, value: null });
    await waitForEvent(alice, EVENT.USER_AUDIO_AVAILABLE, { userID: 'cam2-bob', isAudioAvailable: true }, 15_000);
    await waitForEvent(bob, EVENT.USER_VIDEO_AVAILABLE, { userID: 'cam2-alice', isVideoAvailable: true });
    await alice.waitForTimeout(700);
    expect((await pageEvents(alice, EVENT.USER_VIDEO_AVAILABLE)).filter((e) => e.payload.userID === 'cam2-bob' && e.payload.isVideoAvailable)).toEqual([]);
    expect((await inbound(alice, 'cam2-bob')).videoFrames).toBe(0);
    expect((await inbound(bob, 'cam2-alice')).videoFrames).toBeGreaterThan(0);
    // Reported exactly once, at accept(): the attempt made while ringing stays silent.
    const errors = await pageErrors(bob);
    expect(errors).toEqual([{ code: 60004, message: expect.stringMatching(/^no camera available: Requested device not found/) }]);
    expect(await attempt(bob, 'hangup')).toMatchObject({ ok: true });
    await Promise.all([waitForEvent(alice, EVENT.CALL_END), waitForEvent(bob, EVENT.CALL_END)]);
    expect(await pageErrors(alice)).toEqual([]);
  });

  it('60005: permission denied — the microphone rejects the call, a denied camera degrades it', { timeout: 30_000 }, async () => {
    const [alice, bob, dave] = await Promise.all([open(denying, 'perm-alice'), open(normal, 'perm-bob', { autoAccept: true }), open(denying, 'perm-dave', { autoAccept: true })]);
    // Devices are there (unlabelled: no permission), access is what fails.
    expect((await devices(alice)).sort()).toEqual(['audioinput', 'videoinput']);

    for (const type of [1, 2]) {
      const settled = await attempt(alice, 'call', { userID: 'perm-bob', type });
      expect(settled).toMatchObject({ ok: false, name: 'CallingError', code: ErrorCode.DEVICE_PERMISSION_DENIED });
      expect((settled as { message: string }).message).toMatch(/^access to the microphone was denied: Permission denied/);
      expect(await pageErrors(alice)).toEqual([{ code: 60005, message: (settled as { message: string }).message }]);
      await alice.evaluate(() => ((window as any).errors.length = 0));
    }
    await neverInvited(bob);

    // The callee side: accept() rejects with 60005.
    expect(await attempt(bob, 'call', { userID: 'perm-dave', type: 1 })).toMatchObject({ ok: true });
    await dave.waitForFunction(() => (window as any).acceptResults.length > 0, undefined, { timeout: 10_000 });
    const [accepted] = await dave.evaluate(() => (window as any).acceptResults);
    expect(accepted).toMatchObject({ ok: false, code: 60005, message: expect.stringMatching(/^access to the microphone was denied: /) });
    expect(await pageErrors(dave)).toEqual([{ code: 60005, message: accepted.message }]);
    expect(await attempt(bob, 'hangup')).toMatchObject({ ok: true });
    await waitForEvent(dave, EVENT.CALLING_CANCEL);

    // Only the microphone granted to the page: the camera prompt is denied, the video call goes on as audio.
    const erin = await open(denying, 'perm-erin', { setup: (c) => c.grantPermissions(['microphone'], { origin: app.url().slice(0, -1) }) });
    const settled = await attempt(erin, 'call', { userID: 'perm-bob', type: 2 });
    expect(settled).toMatchObject({ ok: true });
    const errors = await pageErrors(erin);
    expect(errors).toEqual([{ code: 60005, message: expect.stringMatching(/^access to the camera was denied: Permission denied/) }]);
    await waitForEvent(bob, EVENT.USER_AUDIO_AVAILABLE, { userID: 'perm-erin', isAudioAvailable: true }, 15_000);
    await bob.waitForTimeout(500);
    expect((await pageEvents(bob, EVENT.USER_VIDEO_AVAILABLE)).filter((e) => e.payload.userID === 'perm-erin' && e.payload.isVideoAvailable)).toEqual([]);
    expect(await attempt(erin, 'hangup')).toMatchObject({ ok: true });
    await Promise.all([waitForEvent(erin, EVENT.CALL_END), waitForEvent(bob, EVENT.CALL_END)]);
    expect(await pageErrors(bob)).toEqual([]);
  });

  it('60006: no WebRTC — call() rejects without RTCPeerConnection or outside a secure context', { timeout: 20_000 }, async () => {
    const noRtc = (c: BrowserContext) =>
      c.addInitScript(() => {
        delete (window as any).RTCPeerConnection;
        delete (window as any).webkitRTCPeerConnection;
      });
    const [alice, bob, frank, gina] = await Promise.all([
      open(normal, 'rtc-alice', { setup: noRtc }),
      open(normal, 'rtc-bob', { autoAccept: true }),
      open(normal, 'rtc-frank', { host: INSECURE_HOST }),
      open(normal, 'rtc-gina', { setup: noRtc, autoAccept: true }),
    ]);
    expect(await alice.evaluate(() => typeof RTCPeerConnection)).toBe('undefined');
    const settled = await attempt(alice, 'call', { userID: 'rtc-bob', type: 1 });
    expect(settled).toEqual({ ok: false, name: 'CallingError', code: ErrorCode.WEBRTC_UNSUPPORTED, message: 'this environment has no WebRTC (RTCPeerConnection)' });
    expect(await pageErrors(alice)).toEqual([{ code: 60006, message: 'this environment has no WebRTC (RTCPeerConnection)' }]);

    // http://opencall.test is not a secure context: RTCPeerConnection exists, getUserMedia does not.
    expect(await frank.evaluate(() => ({ secure: isSecureContext, rtc: typeof RTCPeerConnection, devices: typeof navigator.mediaDevices }))).toEqual({
      secure: false,
      rtc: 'function',
      devices: 'undefined',
    });
    const insecure = await attempt(frank, 'call', { userID: 'rtc-bob', type: 2 });
    expect(insecure).toMatchObject({ ok: false, name: 'CallingError', code: ErrorCode.WEBRTC_UNSUPPORTED, message: expect.stringMatching(/no getUserMedia.*secure context/) });
    expect(await pageErrors(frank)).toEqual([{ code: 60006, message: (insecure as { message: string }).message }]);
    await neverInvited(bob);

    // The callee side: a page without WebRTC is told of the call, and accept() rejects with 60006.
    expect(await attempt(bob, 'call', { userID: 'rtc-gina', type: 1 })).toMatchObject({ ok: true });
    await gina.waitForFunction(() => (window as any).acceptResults.length > 0, undefined, { timeout: 10_000 });
    const [accepted] = await gina.evaluate(() => (window as any).acceptResults);
    expect(accepted).toEqual({ ok: false, name: 'CallingError', code: 60006, message: 'this environment has no WebRTC (RTCPeerConnection)' });
    expect(await pageErrors(gina)).toEqual([{ code: 60006, message: accepted.message }]);
    expect(await attempt(bob, 'hangup')).toMatchObject({ ok: true });
    await waitForEvent(gina, EVENT.CALLING_CANCEL);
    expect(await pageErrors(bob)).toEqual([]);
    expect(uncaught).toEqual([]);
  });
});
