/**
 * Remote audio without views, in headless Chromium: two pages in an audio call (type 1) whose
 * app never calls startRemoteView. Each page must still hear the other: the SDK adds a hidden
 * `<audio data-opencall-audio="<peer>">` playing the peer's live stream. A remote view plays the
 * sound itself, so starting one removes the hidden element (no double audio) and stopping it
 * brings the element back; hanging up leaves no audio element behind.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { EVENT } from '@opencall/client';
import { attempt, browserFixture, pageErrors, strictAutoplay, waitForEvent } from '../support/browser-page.js';

interface Player {
  tag: string;
  hidden: boolean;
  peerAttr: string | null;
  paused: boolean;
  muted: boolean;
  time: number;
  audioTracks: string[];
  videoTracks: number;
}

/** Every <audio> and <video> element in the page, with what it plays. */
function players(page: Page): Promise<Player[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLMediaElement>('audio, video')].map((el) => {
      const s = el.srcObject as MediaStream | null;
      return {
        tag: el.tagName.toLowerCase(),
        hidden: getComputedStyle(el).display === 'none',
        peerAttr: el.getAttribute('data-opencall-audio'),
        paused: el.paused,
        muted: el.muted,
        time: el.currentTime,
        audioTracks: s?.getAudioTracks().map((t) => t.readyState) ?? [],
        videoTracks: s?.getVideoTracks().length ?? 0,
      };
    }),
  );
}

/** Waits until `selector` plays a live audio track and its currentTime moves on by 0.3 s. */
async function playsLiveAudio(page: Page, selector: string): Promise<void> {
  await page.waitForFunction(
    (sel) => {
      const el = document.querySelector<HTMLMediaElement>(sel);
      const track = (el?.srcObject as MediaStream | null)?.getAudioTracks()[0];
      return !!el && !el.paused && track?.readyState === 'live' && el.currentTime > 0;
    },
    selector,
    { timeout: 10_000 },
  );
  const t0 = await page.evaluate((sel) => document.querySelector<HTMLMediaElement>(sel)!.currentTime, selector);
  await page.waitForFunction(([sel, t]) => (document.querySelector<HTMLMediaElement>(sel)?.currentTime ?? 0) > t + 0.3, [selector, t0] as const, { timeout: 5_000 });
}

/**
 * Sound in the element's stream: the largest sample deviation heard through Web Audio over
 * `ms` (Chromium's fake microphone beeps periodically, silence in between).
 */
function peakLevel(page: Page, selector: string, ms = 1500): Promise<number> {
  return page.evaluate(
    async ([sel, ms]) => {
      const el = document.querySelector<HTMLMediaElement>(sel)!;
      const ctx = new AudioContext();
      await ctx.resume();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 2048;
      ctx.createMediaStreamSource(el.srcObject as MediaStream).connect(analyser);
      const buf = new Float32Array(analyser.fftSize);
      let peak = 0;
      const until = performance.now() + ms;
      while (performance.now() < until) {
        analyser.getFloatTimeDomainData(buf);
        for (const v of buf) peak = Math.max(peak, Math.abs(v));
        await new Promise((r) => setTimeout(r, 20));
      }
      await ctx.close();
      return peak;
    },
    [selector, ms] as const,
  );
}

const audioFor = (peer: string) => `audio[data-opencall-audio="${peer}"]`;

describe('remote audio without views (headless Chromium)', () => {
  const fx = browserFixture();

  /** `strict`: the page refuses unmuted playback until a click (strictAutoplay). */
  function open(userID: string, autoAccept = false, strict = false): Promise<Page> {
    return fx.open(userID, { autoAccept, ...(strict && { initScript: strictAutoplay }) });
  }

  it('plays each peer through a hidden <audio>, yields to a remote view and back, and cleans up', { timeout: 40_000 }, async () => {
    const [a, b] = await Promise.all([open('ra-alice'), open('ra-bob', true)]);
    expect(await attempt(a, 'call', { userID: 'ra-bob', type: 1 })).toMatchObject({ ok: true });
    await Promise.all([waitForEvent(a, EVENT.USER_ENTER, { userID: 'ra-bob' }, 15_000), waitForEvent(b, EVENT.USER_ENTER, { userID: 'ra-alice' }, 15_000)]);

    // 1. No views: each page plays the other through exactly one hidden audio element.
    for (const [page, peer] of [[a, 'ra-bob'], [b, 'ra-alice']] as const) {
      await playsLiveAudio(page, audioFor(peer));
      expect(await players(page)).toEqual([
        { tag: 'audio', hidden: true, peerAttr: peer, paused: false, muted: false, time: expect.any(Number), audioTracks: ['live'], videoTracks: 0 },
      ]);
      // The element's stream is the SDK's remote stream for that user, and it carries sound.
      expect(await page.evaluate(([sel, peer]) => document.querySelector<HTMLMediaElement>(sel)!.srcObject === (window as any).calling.getRemoteStream(peer), [audioFor(peer), peer] as const)).toBe(true);
      expect(await peakLevel(page, audioFor(peer))).toBeGreaterThan(0.01);
    }
    // ... and it is Bob's microphone that Alice hears: muted, the element goes silent.
    expect(await attempt(b, 'setMicMute', true)).toMatchObject({ ok: true });
    await a.waitForTimeout(300);
    expect(await peakLevel(a, audioFor('ra-bob'), 1000)).toBe(0);
    expect(await attempt(b, 'setMicMute', false)).toMatchObject({ ok: true });

    // 2. Alice shows Bob in a view: the hidden element goes, the view's <video> plays the sound.
    expect(await attempt(a, 'startRemoteView', { userID: 'ra-bob', videoViewDomID: 'remote' })).toEqual({ ok: true, value: null });
    expect(await a.locator('audio').count()).toBe(0);
    await playsLiveAudio(a, '#remote video');
    expect(await players(a)).toEqual([{ tag: 'video', hidden: false, peerAttr: null, paused: false, muted: false, time: expect.any(Number), audioTracks: ['live'], videoTracks: 0 }]);
    expect(await peakLevel(a, '#remote video')).toBeGreaterThan(0.01);
    // Bob has no view: he still hears Alice through his hidden element.
    await playsLiveAudio(b, audioFor('ra-alice'));

    // 3. The view stops: the hidden element comes back and plays.
    expect(await attempt(a, 'stopRemoteView', { userID: 'ra-bob' })).toEqual({ ok: true, value: null });
    expect(await a.locator('video').count()).toBe(0);
    await playsLiveAudio(a, audioFor('ra-bob'));
    expect(await players(a)).toEqual([
      { tag: 'audio', hidden: true, peerAttr: 'ra-bob', paused: false, muted: false, time: expect.any(Number), audioTracks: ['live'], videoTracks: 0 },
    ]);

    // 4. Hang-up: no audio (or video) element remains on either side.
    expect(await attempt(a, 'hangup')).toMatchObject({ ok: true });
    await Promise.all([waitForEvent(a, EVENT.CALL_END), waitForEvent(b, EVENT.CALL_END)]);
    expect(await players(a)).toEqual([]);
    expect(await players(b)).toEqual([]);

    expect(await pageErrors(a)).toEqual([]);
    expect(await pageErrors(b)).toEqual([]);
    expect(fx.uncaught).toEqual([]);
  });

  it('starts the hidden <audio> at the first click when the browser refuses autoplay', { timeout: 30_000 }, async () => {
    const [a, b] = await Promise.all([open('rb-alice'), open('rb-bob', true, true)]);
    expect(await attempt(a, 'call', { userID: 'rb-bob', type: 1 })).toMatchObject({ ok: true });
    await waitForEvent(b, EVENT.USER_ENTER, { userID: 'rb-alice' }, 15_000);
    await b.waitForFunction((sel) => document.querySelector(sel) !== null, audioFor('rb-alice'), { timeout: 5_000 });
    await b.waitForTimeout(300);
    // Refused: the element is there, with the stream, but silent until the user does something.
    expect(await b.evaluate(() => (window as any).refusedPlays)).toBeGreaterThan(0);
    expect(await players(b)).toEqual([
      { tag: 'audio', hidden: true, peerAttr: 'rb-alice', paused: true, muted: false, time: expect.any(Number), audioTracks: ['live'], videoTracks: 0 },
    ]);
    await b.mouse.click(5, 5);
    await playsLiveAudio(b, audioFor('rb-alice'));
    expect(await b.locator('audio').count()).toBe(1);

    expect(await attempt(b, 'hangup')).toMatchObject({ ok: true });
    await Promise.all([waitForEvent(a, EVENT.CALL_END), waitForEvent(b, EVENT.CALL_END)]);
    expect(await players(a)).toEqual([]);
    expect(await players(b)).toEqual([]);
    expect(await pageErrors(b)).toEqual([]);
    expect(fx.uncaught).toEqual([]);
  });
});
