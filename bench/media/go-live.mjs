#!/usr/bin/env node
/**
 * Media diagnostic (run by `npm run bench` after the calls; also standalone): how fast Chromium
 * turns a connected-but-silent video sender live, by mechanism, without any SDK. One page, two RTCPeerConnections on loopback, the fake camera; the
 * receiver's <video> plays from the start. After 1.5 s of "ringing", t0 = go live; measured:
 * t0 → first non-black frame presented (requestVideoFrameCallback) at the receiver.
 *
 *   enabled       sends the camera track with enabled=false (black frames), then enabled=true
 *                 (what OpenCall's LocalMedia.setLive does today)
 *   replace-black sends a black canvas track, then sender.replaceTrack(camera)
 *   active        sends the camera with encodings[0].active=false (nothing sent), then active=true
 *
 * --new-element: the receiver's <video> is created at t0 (as startRemoteView does on USER_ENTER)
 * instead of playing since the track arrived.
 *
 * --two-pages: like a real call instead — two pages (two renderer processes), video both ways,
 * both senders going live at t0 (mechanism `enabled`); reports each direction.
 *
 *   node bench/media/go-live.mjs [--tries 10] [--fps 15,30] [--new-element] [--two-pages]
 */
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';
import { CHROMIUM_ARGS } from './media-bench.mjs';
import { parseArgs, summarize } from '../lib.mjs';

/**
 * Runs the diagnostics; returns [{ setup, fps, mode, ms: {n,p50,p95,...}, raw }].
 * `variants`: any of 'one-page', 'one-page-new-element', 'two-pages'.
 */
export async function runGoLive({ tries = 8, fps = [15], variants = ['one-page', 'one-page-new-element', 'two-pages'] } = {}) {
  const out = [];
  const browser = await chromium.launch({ executablePath: process.env.OPENCALL_CHROMIUM ?? '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  // getUserMedia needs a secure context: a page from http://127.0.0.1.
  const web = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><video id="r" autoplay muted playsinline style="width:320px;height:240px"></video>'));
  await new Promise((r) => web.listen(0, '127.0.0.1', r));
  const page = await (await browser.newContext()).newPage();
  await page.goto(`http://127.0.0.1:${web.address().port}/`);

  async function once(mode, fps, newElement) {
    return page.evaluate(
      async ([mode, fps, newElement]) => {
        const cam = (await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: fps } } })).getVideoTracks()[0];
        const a = new RTCPeerConnection();
        const b = new RTCPeerConnection();
        a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
        b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
        let black = null;
        let sendTrack = cam;
        if (mode === 'enabled') {
          sendTrack = cam.clone();
          sendTrack.enabled = false;
        } else if (mode === 'replace-black') {
          const c = document.createElement('canvas');
          c.width = 640;
          c.height = 480;
          const g = c.getContext('2d');
          black = setInterval(() => {
            g.fillStyle = '#000';
            g.fillRect(0, 0, 640, 480);
          }, 1000 / fps);
          sendTrack = c.captureStream(fps).getVideoTracks()[0];
        }
        const tr = a.addTransceiver(sendTrack, { direction: 'sendonly' });
        if (mode === 'active') {
          const p = tr.sender.getParameters();
          p.encodings[0].active = false;
          await tr.sender.setParameters(p);
        }
        const got = new Promise((r) => (b.ontrack = (e) => r(e.streams[0] ?? new MediaStream([e.track]))));
        await a.setLocalDescription();
        await b.setRemoteDescription(a.localDescription);
        await b.setLocalDescription();
        await a.setRemoteDescription(b.localDescription);
        let v = document.getElementById('r');
        const remote = await got;
        if (!newElement) v.srcObject = remote;
        await new Promise((r) => setTimeout(r, 1500)); // ringing
        if (newElement) {
          v = document.createElement('video');
          v.autoplay = v.muted = v.playsInline = true;
          document.body.appendChild(v);
          v.srcObject = remote;
        }
        const cv = document.createElement('canvas');
        cv.width = 32;
        cv.height = 24;
        const g2 = cv.getContext('2d', { willReadFrequently: true });
        const t0 = Date.now();
        const live = new Promise((resolve) => {
          const cb = () => {
            const at = Date.now();
            g2.drawImage(v, 0, 0, 32, 24);
            const d = g2.getImageData(0, 0, 32, 24).data;
            let s = 0;
            for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
            if (s / (d.length / 4) / 3 > 12) resolve(at - t0);
            else v.requestVideoFrameCallback(cb);
          };
          v.requestVideoFrameCallback(cb);
        });
        if (mode === 'enabled') sendTrack.enabled = true;
        else if (mode === 'replace-black') await tr.sender.replaceTrack(cam);
        else if (mode === 'active') {
          const p = tr.sender.getParameters();
          p.encodings[0].active = true;
          await tr.sender.setParameters(p);
        }
        const ms = await Promise.race([live, new Promise((r) => setTimeout(() => r(NaN), 5000))]);
        clearInterval(black);
        a.close();
        b.close();
        cam.stop();
        sendTrack.stop();
        v.srcObject = null;
        if (newElement) v.remove();
        return ms;
      },
      [mode, fps, newElement],
    );
  }


  /** Two pages, one RTCPeerConnection each, video both ways; SDP and ICE passed through here. */
  async function twoPages(fps) {
    const pages = await Promise.all([0, 1].map(async () => {
      const p = await (await browser.newContext()).newPage();
      await p.goto(`http://127.0.0.1:${web.address().port}/`);
      return p;
    }));
    const setup = ([fps]) => {
      window.pc = new RTCPeerConnection();
      window.cands = [];
      pc.onicecandidate = (e) => e.candidate && cands.push(e.candidate.toJSON());
      return navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: fps } } }).then((s) => {
        window.cam = s.getVideoTracks()[0];
        window.send = cam.clone();
        send.enabled = false;
        pc.addTrack(send, new MediaStream([send]));
        window.got = new Promise((r) => (pc.ontrack = (e) => r(e.streams[0])));
      });
    };
    await Promise.all(pages.map((p) => p.evaluate(setup, [fps])));
    const [A, B] = pages;
    const offer = await A.evaluate(async () => (await pc.setLocalDescription(), pc.localDescription.toJSON()));
    const answer = await B.evaluate(async (d) => (await pc.setRemoteDescription(d), await pc.setLocalDescription(), pc.localDescription.toJSON()), offer);
    await A.evaluate((d) => pc.setRemoteDescription(d), answer);
    await new Promise((r) => setTimeout(r, 300));
    const [ca, cb] = await Promise.all(pages.map((p) => p.evaluate(() => cands)));
    await A.evaluate((c) => Promise.all(c.map((x) => pc.addIceCandidate(x))), cb);
    await B.evaluate((c) => Promise.all(c.map((x) => pc.addIceCandidate(x))), ca);
    await Promise.all(pages.map((p) => p.evaluate(async () => {
      const v = document.getElementById('r');
      v.srcObject = await got;
    })));
    await new Promise((r) => setTimeout(r, 1500)); // ringing: black frames both ways
    const t0 = Date.now() + 200;
    const res = await Promise.all(pages.map((p) => p.evaluate((t0) => new Promise((resolve) => {
      const v = document.getElementById('r');
      const c = document.createElement('canvas');
      c.width = 32;
      c.height = 24;
      const g = c.getContext('2d', { willReadFrequently: true });
      const cb = () => {
        const at = Date.now();
        g.drawImage(v, 0, 0, 32, 24);
        const d = g.getImageData(0, 0, 32, 24).data;
        let s = 0;
        for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
        if (at >= t0 && s / (d.length / 4) / 3 > 12) resolve(at - t0);
        else v.requestVideoFrameCallback(cb);
      };
      v.requestVideoFrameCallback(cb);
      setTimeout(() => (send.enabled = true), t0 - Date.now()); // both pages go live at t0
      setTimeout(() => resolve(NaN), 5000 + t0 - Date.now());
    }), t0)));
    await Promise.all(pages.map((p) => p.evaluate(() => { pc.close(); cam.stop(); send.stop(); }).then(() => p.context().close())));
    return res;
  }

  const modes = ['enabled', 'replace-black', 'active'];
  for (const variant of variants) {
    for (const f of fps) {
      if (variant === 'two-pages') {
        const a = [];
        const b = [];
        await twoPages(f);
        for (let i = 0; i < tries; i++) {
          const [x, y] = await twoPages(f);
          a.push(x);
          b.push(y);
        }
        out.push({ setup: 'two pages, video both ways', fps: f, mode: 'enabled (A sees B)', ms: summarize(a.filter(Number.isFinite)), raw: a });
        out.push({ setup: 'two pages, video both ways', fps: f, mode: 'enabled (B sees A)', ms: summarize(b.filter(Number.isFinite)), raw: b });
        continue;
      }
      const newElement = variant === 'one-page-new-element';
      const res = Object.fromEntries(modes.map((m) => [m, []]));
      await once('enabled', f, newElement); // warm-up
      for (let i = 0; i < tries; i++) for (const m of modes) res[m].push(await once(m, f, newElement));
      for (const m of modes) out.push({ setup: newElement ? 'one page, one way, new <video> at t0' : 'one page, one way', fps: f, mode: m, ms: summarize(res[m].filter(Number.isFinite)), raw: res[m] });
    }
  }
  await browser.close();
  web.close();
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const o = parseArgs(process.argv.slice(2), { tries: 8, fps: '15,30', newElement: false, twoPages: false });
  setTimeout(() => {
    console.error('go-live: still running after 15 min: giving up');
    process.exit(1);
  }, 15 * 60_000).unref();
  const variants = o.twoPages ? ['two-pages'] : [o.newElement ? 'one-page-new-element' : 'one-page'];
  for (const r of await runGoLive({ tries: o.tries, fps: String(o.fps).split(',').map(Number), variants })) {
    console.log(`${r.setup.padEnd(38)} ${String(r.fps).padStart(2)} fps  ${r.mode.padEnd(20)} t0 → first live frame: p50 ${r.ms.p50} ms, p95 ${r.ms.p95} ms  [${r.raw.join(' ')}]`);
  }
  process.exit(0);
}
