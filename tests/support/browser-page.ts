/**
 * Browser-test helpers: the IIFE bundle built by packages/client/build.mjs, served with a
 * minimal app page from a loopback HTTP server, and pages that log in and record what the SDK
 * emits (so a test asserts events and rejections the way an app would see them).
 *
 * The app page never shows a view by itself: tests call the SDK through `attempt()`.
 *
 * `browserFixture()` starts a signaling server, the app and headless Chromium for a describe.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import type { RunningServer } from '@opencall/server';
import { EVENT, TUICallEvent } from '@opencall/client';
import { launchChromium } from './chromium.js';
import { SDK_APP_ID, sig, startTestServer } from './harness.js';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const BUILD_SCRIPT = root('packages/client/build.mjs');
const IIFE = root('packages/client/dist/browser/opencall.iife.js');
/** build.mjs appends this to the IIFE: a file that does not end with it is incomplete. */
const IIFE_FOOTER = 'TRTCCalling=TRTCCalling.default;';

/**
 * Builds the bundles from the current source and returns the IIFE's text. Other test files may
 * run the build at the same time (esbuild rewrites the file in place), so a read that is not a
 * complete bundle, or that changes between two reads, is retried.
 */
export async function buildBundle(): Promise<string> {
  await promisify(execFile)(process.execPath, [BUILD_SCRIPT]);
  for (let attempt = 0; ; attempt++) {
    const [a, b] = [await readFile(IIFE, 'utf8'), await new Promise((r) => setTimeout(r, 50)).then(() => readFile(IIFE, 'utf8'))];
    if (a === b && a.trimEnd().endsWith(IIFE_FOOTER)) return a;
    if (attempt >= 40) throw new Error(`${IIFE} is not a complete bundle`);
  }
}

/** Events recorded in the page (volume and network reports are left out: they are periodic noise). */
const RECORDED = [...new Set<string>([...Object.values(EVENT), ...Object.values(TUICallEvent)])].filter(
  (n) => n !== EVENT.USER_VOICE_VOLUME && n !== TUICallEvent.onUserVoiceVolumeChanged && n !== TUICallEvent.onUserNetworkQualityChanged,
);

/**
 * The app: loads the SDK with a <script> tag. `startApp` logs in and records every event
 * (window.events, ERROR payloads also in window.errors); with `autoAccept` the INVITED handler
 * accepts. `attempt(method, ...args)` calls an SDK method and returns how it settled.
 */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>OpenCall browser test</title>
<style>body{margin:0;background:#222}.view{width:320px;height:240px;background:#000}</style>
</head><body>
<div id="remote" class="view"></div>
<script src="/opencall.iife.js"></script>
<script>
  window.events = [];
  window.errors = [];
  window.acceptResults = [];
  const plain = (v) => { try { return v === undefined ? null : JSON.parse(JSON.stringify(v)); } catch (e) { return String(v); } };
  const settled = (e) => ({ ok: false, name: e && e.name, code: e && e.code, message: e && e.message });
  window.startApp = async function (o) {
    const calling = new TRTCCalling({ SDKAppID: o.SDKAppID, serverUrl: o.serverUrl, earlyMedia: o.earlyMedia });
    window.calling = calling;
    const E = TRTCCalling.EVENT;
    for (const name of o.events) calling.on(name, (p) => window.events.push({ name, payload: plain(p) }));
    calling.on(E.ERROR, (e) => window.errors.push({ code: e.code, message: e.message }));
    if (o.autoAccept) calling.on(E.INVITED, () => calling.accept().then(() => window.acceptResults.push({ ok: true }), (e) => window.acceptResults.push(settled(e))));
    await calling.login({ userID: o.userID, userSig: o.userSig });
  };
  window.attempt = async function (method, ...args) {
    try { return { ok: true, value: plain(await window.calling[method](...args)) }; } catch (e) { return settled(e); }
  };
</script>
</body></html>`;

export interface AppServer {
  server: Server;
  port: number;
  /** The app page on this server; `host` defaults to 127.0.0.1 (a secure context for getUserMedia). */
  url(host?: string): string;
  close(): Promise<void>;
}

/**
 * Serves the app page (or `o.page`) and the bundle on a free 127.0.0.1 port; `o.scripts` adds
 * more JavaScript files by path.
 */
export function serveApp(bundle: string, o: { page?: string; scripts?: Record<string, string> } = {}): Promise<AppServer> {
  const scripts = new Map(Object.entries({ '/opencall.iife.js': bundle, ...o.scripts }));
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const script = scripts.get(path);
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(o.page ?? PAGE);
    else if (script !== undefined) res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script);
    else res.writeHead(404).end();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        server,
        port,
        url: (host = '127.0.0.1') => `http://${host}:${port}/`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    }),
  );
}

export interface OpenAppOptions {
  userID: string;
  /** The signaling server's URL (RunningServer.url). */
  serverUrl: string;
  /** The page to open (AppServer.url()). */
  pageUrl: string;
  autoAccept?: boolean;
  /** The SDK's `earlyMedia` option: connect while ringing (default false). */
  earlyMedia?: boolean;
  /** Collects uncaught page errors, prefixed with the user ID. */
  pageErrors?: string[];
}

/** Opens the app in a new page of `context` and logs in. */
export async function openApp(context: BrowserContext, o: OpenAppOptions): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (e) => o.pageErrors?.push(`${o.userID}: ${e.message}`));
  await page.goto(o.pageUrl);
  await page.evaluate((a) => (window as any).startApp(a), {
    SDKAppID: SDK_APP_ID,
    serverUrl: o.serverUrl,
    userID: o.userID,
    userSig: sig(o.userID),
    autoAccept: o.autoAccept === true,
    earlyMedia: o.earlyMedia === true,
    events: RECORDED,
  });
  return page;
}

export interface BrowserFixture {
  /** The signaling server, the app server and Chromium: set once the describe's beforeAll has run. */
  server: RunningServer;
  app: AppServer;
  browser: Browser;
  /** Uncaught errors of the pages opened by `open`, prefixed with the user ID. */
  uncaught: string[];
  /** Opens the app for `userID` in a new context (closed after the describe) and logs in. */
  open(userID: string, o?: { autoAccept?: boolean; earlyMedia?: boolean; context?: BrowserContextOptions; initScript?: () => void }): Promise<Page>;
}

/**
 * A signaling server, the app served with a bundle built from the current source (`serve`
 * defaults to serveApp) and headless Chromium, started before the calling describe's tests and
 * closed after them, with every context `open` made.
 */
export function browserFixture(o: { serve?: (bundle: string) => Promise<AppServer> } = {}): BrowserFixture {
  const contexts: BrowserContext[] = [];
  const fx: BrowserFixture = {
    server: undefined as unknown as RunningServer,
    app: undefined as unknown as AppServer,
    browser: undefined as unknown as Browser,
    uncaught: [],
    async open(userID, p = {}) {
      const context = await fx.browser.newContext(p.context);
      contexts.push(context);
      if (p.initScript) await context.addInitScript(p.initScript);
      return openApp(context, { userID, serverUrl: fx.server.url, pageUrl: fx.app.url(), autoAccept: p.autoAccept, earlyMedia: p.earlyMedia, pageErrors: fx.uncaught });
    },
  };
  beforeAll(async () => {
    [fx.server, fx.app, fx.browser] = await Promise.all([startTestServer(), buildBundle().then(o.serve ?? ((b) => serveApp(b))), launchChromium()]);
  });
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => {})));
    await fx.browser?.close();
    await fx.app?.close();
    await fx.server?.close();
  });
  return fx;
}

/**
 * An init script (`open(..., { initScript: strictAutoplay })`) simulating a browser that refuses to
 * start unmuted media until the user has clicked or pressed a key: play() rejects with
 * NotAllowedError (window.refusedPlays counts the refusals), and the `autoplay` attribute does not
 * start unmuted playback either. Headless Chromium cannot be made to refuse for real: it played
 * media streams and files without a gesture under every --autoplay-policy value tried.
 */
export function strictAutoplay(): void {
  const w = window as unknown as { activated: boolean; refusedPlays: number };
  w.activated = false;
  w.refusedPlays = 0;
  for (const type of ['pointerdown', 'keydown']) window.addEventListener(type, () => (w.activated = true), { capture: true });
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function (this: HTMLMediaElement) {
    if (!this.muted && !w.activated) {
      w.refusedPlays++;
      return Promise.reject(new DOMException('play() failed because the user did not interact with the document first', 'NotAllowedError'));
    }
    return play.call(this);
  };
  const autoplay = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'autoplay')!;
  Object.defineProperty(HTMLMediaElement.prototype, 'autoplay', {
    configurable: true,
    get(this: HTMLMediaElement) {
      return autoplay.get!.call(this);
    },
    set(this: HTMLMediaElement, on: boolean) {
      // Unmuted autoplay before a gesture is refused: the attribute is dropped.
      autoplay.set!.call(this, on && (this.muted || w.activated));
    },
  });
}

export type Settled = { ok: true; value: unknown } | { ok: false; name: string; code: number; message: string };

/** Calls `calling[method](...args)` in the page; resolves to how it settled (never throws). */
export function attempt(page: Page, method: string, ...args: unknown[]): Promise<Settled> {
  return page.evaluate(([m, a]) => (window as any).attempt(m, ...(a as unknown[])), [method, args] as const);
}

export interface PageEvent {
  name: string;
  payload: any;
}

export function pageEvents(page: Page, name?: string): Promise<PageEvent[]> {
  return page.evaluate((n) => ((window as any).events as PageEvent[]).filter((e) => n === undefined || e.name === n), name);
}

export function pageErrors(page: Page): Promise<{ code: number; message: string }[]> {
  return page.evaluate(() => (window as any).errors);
}

/** Waits until the page has recorded an event `name` whose payload contains `match`. */
export async function waitForEvent(page: Page, name: string, match: Record<string, unknown> = {}, timeout = 10_000): Promise<void> {
  await page
    .waitForFunction(
      ([n, m]) => ((window as any).events as PageEvent[]).some((e) => e.name === n && Object.entries(m).every(([k, v]) => e.payload?.[k] === v)),
      [name, match] as const,
      { timeout },
    )
    .catch(async (err: Error) => {
      const seen = await page.evaluate(() => ((window as any).events as PageEvent[]).map((e) => e.name)).catch(() => []);
      throw new Error(`no ${name} ${JSON.stringify(match)} within ${timeout} ms; saw ${JSON.stringify(seen)} (${err.message.split('\n')[0]})`);
    });
}
