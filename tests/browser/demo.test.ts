/**
 * The demo app (apps/demo) in real headless Chromium, driven as a person would: three people
 * sign in through the login screen of the built app served by the OpenCall server itself
 * (dev UserSigs, SDKAppID from /v1/config), then call, decline, cancel, get a busy line,
 * accept, mute, turn the camera off, switch devices, switch audio↔video, make a group call
 * of three and hang up. Videos must really play (decoded frames, time moving on) in every
 * page; what the others see (mute, camera off) is read from the remote tiles.
 *
 * Chromium runs with two fake cameras (device-count=2) so switching cameras changes device.
 * Screenshots of the main screens go to test-results/demo-*.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import type { RunningServer } from '@opencall/server';
import { launchChromium } from '../support/chromium.js';
import { sig, startTestServer } from '../support/harness.js';
import {
  DEMO_DIST,
  DESKTOP,
  PHONE,
  dial,
  ensureDemoBuilt,
  expectPlaying,
  openDemo,
  ringtoneOf,
  screenOf,
  signIn,
  tile,
  tileVideo,
  waitScreen,
  waitToast,
  type DemoUser,
} from '../support/demo-app.js';

const RESULTS = fileURLToPath(new URL('../../test-results', import.meta.url));
const shot = (u: DemoUser, name: string) => u.page.screenshot({ path: `${RESULTS}/demo-${name}.png` });

describe('demo app in headless Chromium', () => {
  let server: RunningServer;
  let browser: Browser;
  let alice: DemoUser; // desktop
  let bob: DemoUser; // phone
  let carol: DemoUser; // desktop
  const users: DemoUser[] = [];

  beforeAll(async () => {
    const [buildMs] = await Promise.all([ensureDemoBuilt(), mkdir(RESULTS, { recursive: true })]);
    if (buildMs) console.log(`demo built in ${buildMs} ms`);
    [server, browser] = await Promise.all([
      startTestServer({ devUserSig: true, staticDir: DEMO_DIST }),
      launchChromium(['--use-fake-device-for-media-stream=device-count=2']),
    ]);
    const url = `${server.url}/`;
    [alice, bob, carol] = await Promise.all([openDemo(browser, url, 'alice', DESKTOP), openDemo(browser, url, 'bob', PHONE), openDemo(browser, url, 'carol', DESKTOP)]);
    users.push(alice, bob, carol);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(users.map((u) => u.context.close().catch(() => {})));
    await browser?.close();
    await server?.close();
  });

  it('signs in through the login screen with a dev UserSig, refusing a bad user ID', async () => {
    expect(await alice.page.textContent('.footnote')).toContain('SDKAppID 1400012345');
    await shot(alice, 'login');
    await alice.page.fill('[data-testid="login-user"]', 'not valid!');
    await alice.page.click('[data-testid="login-submit"]');
    expect(await alice.page.textContent('[data-testid="login-error"]')).toMatch(/letters, digits/);
    expect(await screenOf(alice.page)).toBe('login');
    await Promise.all([signIn(alice), signIn(bob), signIn(carol)]);
    expect(await bob.page.textContent('[data-testid="me"]')).toBe('bob');
    await shot(alice, 'home');
  });

  it('rings with a ringtone, and the caller hears that the call was declined', async () => {
    await dial(alice.page, 'bob');
    await Promise.all([waitScreen(alice.page, 'outgoing'), waitScreen(bob.page, 'incoming')]);
    expect(await bob.page.textContent('[data-testid="incoming-from"]')).toBe('alice');
    expect(await bob.page.textContent('[data-testid="incoming-what"]')).toContain('video call');
    expect(await ringtoneOf(bob.page)).toBe('incoming');
    expect(await ringtoneOf(alice.page)).toBe('outgoing');
    // The ringtone really sounds: the WebAudio context was unlocked by the sign-in click.
    expect(await bob.page.evaluate(() => (window as any).opencallDemo.ringtone.audioState)).toBe('running');
    await Promise.all([shot(bob, 'incoming-phone'), shot(alice, 'outgoing-desktop')]);
    await bob.page.click('[data-testid="reject"]');
    expect(await waitToast(alice.page, 'reject')).toBe('bob declined the call.');
    await Promise.all([waitScreen(alice.page, 'home'), waitScreen(bob.page, 'home')]);
    expect(await ringtoneOf(bob.page)).toBe('off');
    expect(await ringtoneOf(alice.page)).toBe('off');
  });

  it('cancels a ringing call: the callee is told and stops ringing', async () => {
    await dial(alice.page, 'bob', 'audio');
    await waitScreen(bob.page, 'incoming');
    expect(await bob.page.textContent('[data-testid="incoming-what"]')).toContain('audio call');
    await waitScreen(alice.page, 'outgoing');
    await alice.page.click('[data-testid="cancel"]');
    expect(await waitToast(bob.page, 'cancelled')).toBe('alice cancelled the call.');
    await Promise.all([waitScreen(alice.page, 'home'), waitScreen(bob.page, 'home')]);
    expect(await ringtoneOf(bob.page)).toBe('off');
  });

  it('connects a 1:1 video call with moving video both ways, a running timer, volume and network quality', async () => {
    await dial(alice.page, 'bob');
    await waitScreen(bob.page, 'incoming');
    await bob.page.click('[data-testid="accept"]');
    await Promise.all([waitScreen(alice.page, 'incall'), waitScreen(bob.page, 'incall')]);
    expect(await ringtoneOf(bob.page)).toBe('off');
    await Promise.all([expectPlaying(alice.page, 'bob'), expectPlaying(bob.page, 'alice')]);
    for (const [u, other] of [[alice, 'bob'], [bob, 'alice']] as const) {
      expect(await tile(u.page, other)).toMatchObject({ status: 'joined', audio: 'on', video: 'on' });
      expect((await tileVideo(u.page, 'local')).width).toBeGreaterThan(0);
    }
    // Volume (fake mic beeps) and network quality reach the tiles; the timer runs.
    await alice.page.waitForSelector('[data-testid="tile"][data-user="bob"] [data-testid="quality-badge"]', { timeout: 8_000 });
    await alice.page.waitForFunction(() => Number(document.querySelector<HTMLElement>('[data-testid="tile"][data-user="bob"]')?.dataset.volume) > 0, undefined, { timeout: 8_000 });
    await alice.page.waitForFunction(() => document.querySelector('[data-testid="timer"]')?.textContent !== '0:00', undefined, { timeout: 3_000 });
    await Promise.all([shot(alice, 'incall-desktop'), shot(bob, 'incall-phone')]);
  });

  it('tells a third caller that the line is busy', async () => {
    await dial(carol.page, 'bob');
    expect(await waitToast(carol.page, 'busy')).toBe('bob is busy on another call.');
    await waitScreen(carol.page, 'home');
    expect(await screenOf(bob.page)).toBe('incall');
  });

  it('shows mute and camera-off on the other side, and the picture again after', async () => {
    const bobSees = (): Promise<Record<string, string> | null> => tile(bob.page, 'alice');
    await alice.page.click('[data-testid="toggle-mic"]');
    await bob.page.waitForSelector('[data-user="alice"] [data-testid="mic-off-indicator"]', { timeout: 5_000 });
    expect(await bobSees()).toMatchObject({ audio: 'off', video: 'on' });
    await alice.page.click('[data-testid="toggle-camera"]');
    await bob.page.waitForSelector('[data-user="alice"] [data-testid="cam-off-indicator"]', { timeout: 5_000 });
    expect(await bobSees()).toMatchObject({ audio: 'off', video: 'off' });
    expect(await bob.page.isVisible('[data-user="alice"] .tile-cover')).toBe(true);
    expect(await alice.page.getAttribute('[data-testid="toggle-camera"]', 'aria-pressed')).toBe('true');

    await alice.page.click('[data-testid="toggle-mic"]');
    await alice.page.click('[data-testid="toggle-camera"]');
    await bob.page.waitForFunction(() => {
      const t = document.querySelector('[data-testid="tile"][data-user="alice"]');
      return t?.getAttribute('data-audio') === 'on' && t.getAttribute('data-video') === 'on' && !t.querySelector('[data-testid$="-off-indicator"]');
    }, undefined, { timeout: 5_000 });
    await expectPlaying(bob.page, 'alice');
  });

  it('switches camera and microphone from the device panel while the other side keeps seeing video', async () => {
    await alice.page.click('[data-testid="devices"]');
    await alice.page.waitForSelector('[data-testid="camera-select"]');
    const cams = await alice.page.$$eval('[data-testid="camera-select"] option:not([disabled])', (os) => os.map((o) => (o as HTMLOptionElement).value));
    const current = await alice.page.$eval('[data-testid="camera-select"]', (s) => (s as HTMLSelectElement).value);
    // With Chromium's device-count=2 there are two fake cameras; with one, switching to the same id must work too.
    expect(cams.length).toBeGreaterThanOrEqual(1);
    const next = cams.find((id) => id !== current) ?? current;
    const trackBefore = await alice.page.evaluate(() => (window as any).opencallDemo.calling.getLocalStream()?.getVideoTracks()[0]?.getSettings().deviceId);
    await alice.page.selectOption('[data-testid="camera-select"]', next);
    await alice.page.waitForSelector('[data-testid="device-note"]', { timeout: 5_000 });
    const trackAfter = await alice.page.evaluate(() => (window as any).opencallDemo.calling.getLocalStream()?.getVideoTracks()[0]?.getSettings().deviceId);
    expect(trackAfter).toBe(next);
    if (cams.length > 1) expect(trackAfter).not.toBe(trackBefore);
    expect(await alice.page.$eval('[data-testid="camera-select"]', (s) => (s as HTMLSelectElement).value)).toBe(next);

    const mics = await alice.page.$$eval('[data-testid="mic-select"] option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    const mic = mics.find((id) => id !== 'default') ?? mics[0]!;
    await alice.page.selectOption('[data-testid="mic-select"]', mic);
    await alice.page.waitForFunction((id) => (window as any).opencallDemo.calling.getLocalStream()?.getAudioTracks()[0]?.getSettings().deviceId === id, mic, { timeout: 5_000 });
    await alice.page.click('[data-testid="devices-close"]');

    await expectPlaying(bob.page, 'alice');
    expect(await tile(bob.page, 'alice')).toMatchObject({ audio: 'on', video: 'on' });
  });

  it('switches the call to audio only and back to video on both sides', async () => {
    await alice.page.click('[data-testid="switch-type"]');
    await Promise.all([
      alice.page.waitForSelector('[data-screen="incall"][data-call-type="audio"]', { timeout: 5_000 }),
      bob.page.waitForSelector('[data-screen="incall"][data-call-type="audio"]', { timeout: 5_000 }),
    ]);
    expect(await waitToast(bob.page, 'media-type')).toBe('Switched to an audio call.');
    expect(await alice.page.isVisible('[data-testid="toggle-camera"]')).toBe(false);
    await bob.page.waitForFunction(() => document.querySelector('[data-testid="tile"][data-user="alice"]')?.getAttribute('data-video') === 'off', undefined, { timeout: 5_000 });
    await shot(bob, 'audio-phone');

    await bob.page.click('[data-testid="switch-type"]');
    await Promise.all([
      alice.page.waitForSelector('[data-screen="incall"][data-call-type="video"]', { timeout: 5_000 }),
      bob.page.waitForSelector('[data-screen="incall"][data-call-type="video"]', { timeout: 5_000 }),
    ]);
    await Promise.all([expectPlaying(alice.page, 'bob'), expectPlaying(bob.page, 'alice')]);
  });

  it('hangs up: both sides are back on the dial screen and hear how long the call was', async () => {
    await bob.page.click('[data-testid="hangup"]');
    expect(await waitToast(alice.page, 'ended')).toMatch(/^Call ended · \d+:\d\d$/);
    await Promise.all([waitScreen(alice.page, 'home'), waitScreen(bob.page, 'home')]);
    expect(await alice.page.$('video')).toBeNull();
  });

  it('makes a group call of three with every tile playing', async () => {
    await dial(alice.page, 'bob, carol');
    await Promise.all([waitScreen(bob.page, 'incoming'), waitScreen(carol.page, 'incoming')]);
    expect(await carol.page.textContent('[data-testid="incoming-what"]')).toBe('invites you to a group video call with bob');
    await Promise.all([bob.page.click('[data-testid="accept"]'), carol.page.click('[data-testid="accept"]')]);
    await Promise.all(users.map((u) => waitScreen(u.page, 'incall')));
    await Promise.all(users.flatMap((u) => users.filter((o) => o !== u).map((o) => expectPlaying(u.page, o.userID, 20_000))));
    await alice.page.waitForSelector('[data-user="bob"] [data-testid="quality-badge"]', { timeout: 5_000 });
    await Promise.all([shot(alice, 'group-desktop'), shot(bob, 'group-phone')]);

    await carol.page.click('[data-testid="hangup"]');
    expect(await waitToast(alice.page, 'leave', 'carol')).toBe('carol left the call.');
    await waitScreen(carol.page, 'home');
    expect(await screenOf(alice.page)).toBe('incall');
    expect(await tile(alice.page, 'carol')).toBeNull();
    await expectPlaying(alice.page, 'bob');
    await alice.page.click('[data-testid="hangup"]');
    await Promise.all([waitScreen(alice.page, 'home'), waitScreen(bob.page, 'home')]);
  });

  it('says in words what went wrong: camera/microphone permission denied', async () => {
    // Dave's browser refuses camera and microphone, as after "Block" in the permission prompt.
    const dave = await openDemo(browser, `${server.url}/`, 'dave', PHONE, () => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
    });
    users.push(dave);
    await signIn(dave);
    await dial(dave.page, 'alice');
    expect(await waitToast(dave.page, 'error:60005')).toBe('Camera/microphone permission was denied. Allow it in the browser’s site settings and try again.');
    await waitScreen(dave.page, 'home');
    expect(await screenOf(alice.page)).toBe('home'); // nobody was rung
    await dial(dave.page, 'dave');
    expect(await waitToast(dave.page, 'input')).toMatch(/cannot call yourself/);
  });

  it('asks for a UserSig when the server hands out none, and explains a bad one', async () => {
    const strict = await startTestServer({ devUserSig: false, staticDir: DEMO_DIST });
    try {
      const erin = await openDemo(browser, `${strict.url}/`, 'erin', PHONE);
      users.push(erin);
      await erin.page.waitForSelector('[data-testid="login-sig"]');
      await erin.page.fill('[data-testid="login-user"]', 'erin');
      await erin.page.fill('[data-testid="login-sig"]', sig('someone-else'));
      await erin.page.click('[data-testid="login-submit"]');
      expect(await erin.page.textContent('[data-testid="login-error"]')).toBe('The UserSig belongs to another user ID.');
      await erin.page.fill('[data-testid="login-sig"]', sig('erin'));
      await erin.page.click('[data-testid="login-submit"]');
      await waitScreen(erin.page, 'home');
      await erin.context.close();
    } finally {
      await strict.close();
    }
  });

  it('signs out the first window when the same user signs in elsewhere', async () => {
    const again = await openDemo(browser, `${server.url}/`, 'carol', PHONE);
    users.push(again);
    await signIn(again);
    await waitScreen(carol.page, 'login');
    expect(await carol.page.textContent('[data-testid="login-notice"]')).toContain('signed in somewhere else');
    for (const u of users) expect(u.errors).toEqual([]);
  });
});
