/**
 * Helpers for driving the demo app (apps/demo) in headless Chromium the way a person does:
 * type into its fields, click its buttons, and read what its screens show. The app marks its
 * screens and controls with `data-screen` / `data-testid` attributes, which these use.
 */
import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

export const DEMO_DIR = root('apps/demo');
export const DEMO_DIST = root('apps/demo/dist');
const VITE_BIN = root('node_modules/vite/bin/vite.js');

/** What the built demo depends on: its own sources and the SDK sources it bundles. */
const SOURCES = ['apps/demo/src', 'apps/demo/index.html', 'apps/demo/vite.config.ts', 'apps/demo/package.json', 'packages/client/src', 'packages/protocol/src'].map(root);

async function newestMtime(path: string): Promise<number> {
  const s = await stat(path).catch(() => null);
  if (!s) return 0;
  if (!s.isDirectory()) return s.mtimeMs;
  const entries = await readdir(path);
  const times = await Promise.all(entries.map((e) => newestMtime(join(path, e))));
  return Math.max(s.mtimeMs, ...times);
}

/**
 * Builds apps/demo/dist with Vite when it is missing or older than any source (the demo's or
 * the SDK's). Resolves to the build's duration in ms, or 0 when the build was fresh.
 */
export async function ensureDemoBuilt(): Promise<number> {
  const built = await stat(join(DEMO_DIST, 'index.html')).then((s) => s.mtimeMs, () => 0);
  const sources = Math.max(...(await Promise.all(SOURCES.map(newestMtime))));
  if (built > sources) return 0;
  const started = Date.now();
  await promisify(execFile)(process.execPath, [VITE_BIN, 'build', '--logLevel', 'warn'], { cwd: DEMO_DIR });
  return Date.now() - started;
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export interface DemoUser {
  userID: string;
  page: Page;
  context: BrowserContext;
  /** Uncaught page errors, which a test expects to stay empty. */
  errors: string[];
}

/** Opens the demo in a fresh browser context (its own storage, devices and permissions); `initScript` runs before the app. */
export async function openDemo(browser: Browser, url: string, userID: string, viewport = DESKTOP, initScript?: () => void): Promise<DemoUser> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, isMobile: false });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`${userID}: ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('[data-screen="login"]');
  return { userID, page, context, errors };
}

/** Types the userID into the login form and signs in; waits for the dial screen. */
export async function signIn(u: DemoUser, userID = u.userID): Promise<void> {
  await u.page.fill('[data-testid="login-user"]', userID);
  await u.page.click('[data-testid="login-submit"]');
  await waitScreen(u.page, 'home');
}

export function waitScreen(page: Page, screen: 'login' | 'home' | 'outgoing' | 'incoming' | 'incall', timeout = 10_000): Promise<unknown> {
  return page.waitForSelector(`.app[data-screen="${screen}"]`, { timeout });
}

export function screenOf(page: Page): Promise<string | null> {
  return page.getAttribute('.app', 'data-screen');
}

export function ringtoneOf(page: Page): Promise<string | null> {
  return page.getAttribute('.app', 'data-ringtone');
}

/** Types the callees ("bob" or "bob, carol"), picks video or audio, and presses Call. */
export async function dial(page: Page, targets: string, type: 'video' | 'audio' = 'video'): Promise<void> {
  await page.fill('[data-testid="dial-target"]', targets);
  await page.click(`[data-testid="type-${type}"]`);
  await page.click('[data-testid="call"]');
}

/**
 * Waits for a toast with that tag ('reject', 'busy', 'error:60003', ...), and containing
 * `text` if given (an older toast with the same tag may still be showing), and returns its text.
 */
export async function waitToast(page: Page, tag: string, text?: string, timeout = 10_000): Promise<string> {
  const handle = await page.waitForFunction(
    ({ tag, text }) =>
      [...document.querySelectorAll<HTMLElement>(`[data-testid="toast"][data-tag="${tag}"]`)]
        .map((el) => el.textContent?.trim() ?? '')
        .reverse()
        .find((t) => text === undefined || t.includes(text)),
    { tag, text },
    { timeout },
  );
  return (await handle.jsonValue()) as string;
}

export interface VideoState { present: boolean; width: number; time: number; paused: boolean }

/** The `<video>` the SDK put into a tile: remote user's by userID, or the local one. */
export function tileVideo(page: Page, userID: string | 'local'): Promise<VideoState> {
  const selector = userID === 'local' ? '#local-view video' : `#remote-view-${userID} video`;
  return page.evaluate((sel) => {
    const v = document.querySelector<HTMLVideoElement>(sel);
    return v ? { present: true, width: v.videoWidth, time: v.currentTime, paused: v.paused } : { present: false, width: 0, time: 0, paused: true };
  }, selector);
}

/**
 * Waits until the remote user's video in this page has decoded frames (videoWidth > 0) and
 * its playback position moves on: the picture is really playing, not just attached.
 */
export async function expectPlaying(page: Page, userID: string, timeout = 15_000): Promise<void> {
  const selector = `#remote-view-${userID} video`;
  await page.waitForFunction((sel) => (document.querySelector<HTMLVideoElement>(sel)?.videoWidth ?? 0) > 0, selector, { timeout }).catch(async (err) => {
    const state = await page.evaluate((sel) => {
      const v = document.querySelector<HTMLVideoElement>(sel);
      const c = (window as any).opencallDemo?.calling;
      const s = c?.getRemoteStream?.(sel.split('remote-view-')[1]!.split(' ')[0]);
      return { hasVideo: !!v, w: v?.videoWidth, tracks: s?.getTracks().map((t: MediaStreamTrack) => `${t.kind}:${t.readyState}:${t.muted}`) };
    }, selector);
    throw new Error(`${await page.evaluate(() => (window as any).opencallDemo?.state?.userID ?? '?')} sees no video from ${userID}: ${JSON.stringify(state)}: ${(err as Error).message}`);
  });
  const start = await tileVideo(page, userID);
  await page.waitForFunction(
    ({ sel, t }) => {
      const v = document.querySelector<HTMLVideoElement>(sel);
      return !!v && !v.paused && v.currentTime > t + 0.25;
    },
    { sel: selector, t: start.time },
    { timeout: 5_000 },
  );
}

/** The tile of a user as the page shows it (`data-*` attributes of the tile). */
export function tile(page: Page, userID: string): Promise<Record<string, string> | null> {
  return page.evaluate((id) => {
    const el = document.querySelector<HTMLElement>(`[data-testid="tile"][data-user="${id}"]`);
    return el ? { ...el.dataset } as Record<string, string> : null;
  }, userID);
}
