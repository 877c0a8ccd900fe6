/**
 * Going live quickly after accept, in headless Chromium: with early media (the callee's
 * `earlyMedia: true`) a 1:1 video call connects while the phone rings and sends only black frames, too little for the sender to probe its path. So
 * the SDK puts `x-google-start-bitrate` in the SDP it sends (rtc/start-bitrate.ts): each side's
 * video sender must already target a 480p rate while ringing (Chromium's default start,
 * 300 kbit/s, leaves about 175 kbit/s for video, and the first live frame took ~150 ms instead
 * of ~55 ms, docs/benchmarks.md section b). After accept both sides see each other's live video.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { EVENT } from '@opencall/client';
import { attempt, browserFixture, waitForEvent } from '../support/browser-page.js';

/** The video sender's target bitrate (bit/s) of the link with `peer`, 0 while there is none. */
function videoTarget(page: Page, peer: string): Promise<number> {
  return page.evaluate(async (id) => {
    const report = (await (window as any).calling.getStats(id)) as RTCStatsReport | null;
    let target = 0;
    report?.forEach((r: any) => {
      if (r.type === 'outbound-rtp' && r.kind === 'video' && r.framesEncoded > 0) target = r.targetBitrate ?? 0;
    });
    return target;
  }, peer);
}

/** Mean brightness of the remote view's current frame (the fake camera's picture is well above 12). */
function remoteLevel(page: Page): Promise<number> {
  return page.evaluate(() => {
    const v = document.querySelector<HTMLVideoElement>('#remote video');
    if (!v || v.videoWidth === 0) return 0;
    const c = document.createElement('canvas');
    c.width = 32;
    c.height = 24;
    const g = c.getContext('2d')!;
    g.drawImage(v, 0, 0, 32, 24);
    const d = g.getImageData(0, 0, 32, 24).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum += d[i]! + d[i + 1]! + d[i + 2]!;
    return sum / (d.length / 4) / 3;
  });
}

describe('video start bitrate while ringing (headless Chromium)', () => {
  const fx = browserFixture();

  it('targets a 480p rate before accept on both sides, then shows live video both ways', { timeout: 40_000 }, async () => {
    // Early media is an opt-in; this is what it is for.
    const open = (userID: string) => fx.open(userID, { earlyMedia: true, context: { viewport: { width: 400, height: 300 } } });
    const [alice, bob] = await Promise.all([open('sb_alice'), open('sb_bob')]);
    expect(await attempt(alice, 'call', { userID: 'sb_bob', type: 2 })).toMatchObject({ ok: true });
    await waitForEvent(bob, EVENT.INVITED);

    // Ringing: black frames flow both ways, and each sender already targets well above 300 kbit/s.
    const targets: Record<string, number> = {};
    for (const [page, me, peer] of [[alice, 'alice', 'sb_bob'], [bob, 'bob', 'sb_alice']] as const) {
      const deadline = Date.now() + 8_000;
      let t = 0;
      while (Date.now() < deadline && (t = await videoTarget(page, peer)) < 500_000) await new Promise((r) => setTimeout(r, 200));
      targets[me] = t;
    }
    expect(targets.alice, JSON.stringify(targets)).toBeGreaterThanOrEqual(500_000);
    expect(targets.bob, JSON.stringify(targets)).toBeGreaterThanOrEqual(500_000);

    expect(await attempt(bob, 'accept')).toMatchObject({ ok: true });
    await waitForEvent(bob, EVENT.USER_ENTER, { userID: 'sb_alice' });
    await waitForEvent(alice, EVENT.USER_ENTER, { userID: 'sb_bob' });
    expect(await attempt(bob, 'startRemoteView', { userID: 'sb_alice', videoViewDomID: 'remote' })).toMatchObject({ ok: true });
    expect(await attempt(alice, 'startRemoteView', { userID: 'sb_bob', videoViewDomID: 'remote' })).toMatchObject({ ok: true });
    for (const page of [alice, bob]) {
      const deadline = Date.now() + 8_000;
      let level = 0;
      while (Date.now() < deadline && (level = await remoteLevel(page)) <= 12) await new Promise((r) => setTimeout(r, 100));
      expect(level).toBeGreaterThan(12);
    }

    expect(await attempt(alice, 'hangup')).toMatchObject({ ok: true });
    await waitForEvent(bob, EVENT.CALL_END);
    expect(fx.uncaught).toEqual([]);
  });
});
