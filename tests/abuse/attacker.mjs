#!/usr/bin/env node
/**
 * A hostile client fleet in its own process (so the honest clients a test or benchmark runs next
 * to it are not starved by it), for the abuse suite (tests/abuse/) and bench/.
 *
 *   node tests/abuse/attacker.mjs '<json spec>'
 *
 * Spec:
 *   url            server base (http://127.0.0.1:8080) or the WebSocket URL (ws://…/ws)
 *   attack         'junk'          anonymous sockets streaming junk frames of `frameBytes` as fast as the socket drains
 *                  'idle'          anonymous sockets that never send anything
 *                  'slow-reader'   logs in (userID + userSig [+ sdkAppId]), stops reading its socket and spams `history`
 *                  'connect-flood' opens `sockets` sockets (default 100000) as fast as the server lets it, and keeps them
 *                  'pong-only'     anonymous-or-logged-in sockets that never answer pings, and send unsolicited pongs
 *                  'invite-spam'   logs in and rings `victim` in an invite + hang-up loop, as fast as the server answers
 *                                  (the victim, logged in on a socket of its own with `victimSig`, counts how often it rang)
 *   sockets        how many sockets (default 1)
 *   localAddresses source addresses to spread the sockets over, round robin (e.g. ["127.0.0.2","127.0.0.3"])
 *   frameBytes     junk frame size (default 60000)
 *   durationMs     stops by itself after this long (default 10000), closing what is still open
 *   userID, userSig, sdkAppId   for logged-in attacks ('slow-reader', 'invite-spam', and 'pong-only' when given)
 *   users          [{userID, userSig}, …]: socket i of a logged-in attack logs in as users[i % length] (instead of userID/userSig)
 *   victim, victimSig           for 'invite-spam'
 *   concurrency    most upgrades in flight at once (default 200)
 *   quiet          true: no per-socket lines, only the summary
 *
 * Output: one JSON line per event that matters on stdout —
 *   {ev:'opened', i, from, ms}      (ms since the attempt started)
 *   {ev:'refused', i, from, status} (HTTP status of a refused upgrade; 0 = connection error)
 *   {ev:'closed', i, code, reason, ms, byServer}  (ms since the socket opened)
 *   {ev:'loggedIn', i} / {ev:'loginFailed', i, code}
 * then a final {ev:'summary', opened, refusedAtUpgrade, refusedStatus:{status:n}, closedByServer:{code:n},
 *   stillOpen, closeMs:{p50,p90,max}, closedWithin15s, sent:{frames, bytes}} (+ invites:{sent, ok, refused:{code:n},
 *   victimRang} for 'invite-spam').
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

const spec = JSON.parse(process.argv[2] ?? '{}');
const attack = spec.attack;
const total = spec.sockets ?? (attack === 'connect-flood' ? 100_000 : 1);
const addresses = spec.localAddresses?.length ? spec.localAddresses : [undefined];
const frameBytes = spec.frameBytes ?? 60_000;
const durationMs = spec.durationMs ?? 10_000;
const concurrency = spec.concurrency ?? 200;
const quiet = spec.quiet === true;
let url = String(spec.url ?? '');
if (url.startsWith('http')) url = url.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws';
if (!['junk', 'idle', 'slow-reader', 'connect-flood', 'pong-only', 'invite-spam'].includes(attack)) {
  console.error(`unknown attack ${JSON.stringify(attack)}`);
  process.exit(2);
}

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const emit = (o) => quiet || out(o);
const started = performance.now();
const stats = { opened: 0, refusedAtUpgrade: 0, refusedStatus: {}, closedByServer: {}, closeMs: [], sent: { frames: 0, bytes: 0 } };
const live = new Set();
let stopping = false;
// Junk: valid UTF-8 text that is not JSON.
const junk = Buffer.alloc(frameBytes, 'x').toString();

function open(i) {
  return new Promise((resolve) => {
    const from = addresses[i % addresses.length];
    const t0 = performance.now();
    const ws = new WebSocket(url, { ...(from && { localAddress: from }), handshakeTimeout: 10_000, perMessageDeflate: false });
    let openedAt = 0;
    let refused = false;
    const refuse = (status) => {
      if (refused) return;
      refused = true;
      stats.refusedAtUpgrade++;
      stats.refusedStatus[status] = (stats.refusedStatus[status] ?? 0) + 1;
      emit({ ev: 'refused', i, from, status });
    };
    ws.on('unexpected-response', (_req, res) => {
      refuse(res.statusCode);
      res.resume();
      ws.terminate();
    });
    ws.on('error', () => undefined); // reported by 'close'
    ws.on('open', () => {
      openedAt = performance.now();
      stats.opened++;
      live.add(ws);
      emit({ ev: 'opened', i, from, ms: Math.round(openedAt - t0) });
      resolve(true);
      start(ws, i);
    });
    ws.on('close', (code, reason) => {
      if (openedAt === 0) {
        if (!stopping) refuse(0); // no HTTP answer at all (reset, timeout): status 0
        return resolve(false);
      }
      live.delete(ws);
      if (stopping) return;
      const ms = Math.round(performance.now() - openedAt);
      stats.closedByServer[code] = (stats.closedByServer[code] ?? 0) + 1;
      stats.closeMs.push(ms);
      emit({ ev: 'closed', i, code, reason: reason.toString().slice(0, 100), ms, byServer: true });
    });
  });
}

function start(ws, i) {
  switch (attack) {
    case 'junk':
      return pumpJunk(ws);
    case 'slow-reader':
      return slowReader(ws, i);
    case 'pong-only':
      return pongOnly(ws, i);
    case 'invite-spam':
      return inviteSpam(ws, i);
    default:
      return; // idle, connect-flood: just hold the socket
  }
}

/** Sends junk frames whenever the socket has drained below 1 MiB. */
function pumpJunk(ws) {
  const pump = () => {
    // At most 64 frames a turn: a socket the server destroyed buffers nothing, so bufferedAmount alone would never stop us.
    for (let n = 0; n < 64 && ws.readyState === WebSocket.OPEN && !ws._socket?.destroyed && ws.bufferedAmount < 1 << 20; n++) {
      ws.send(junk);
      stats.sent.frames++;
      stats.sent.bytes += frameBytes;
    }
    if (ws.readyState === WebSocket.OPEN) setTimeout(pump, 1);
  };
  pump();
}

function login(ws, i, userID = spec.userID, userSig = spec.userSig) {
  return new Promise((resolve) => {
    ws.send(JSON.stringify({ t: 'login', rid: 1, sdkAppId: spec.sdkAppId, userID, userSig }));
    const onMsg = (data) => {
      let f;
      try {
        f = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (f.t !== 'res' || f.rid !== 1) return;
      ws.off('message', onMsg);
      if (f.ok) emit({ ev: 'loggedIn', i });
      else emit({ ev: 'loginFailed', i, code: f.code });
      resolve(f.ok);
    };
    ws.on('message', onMsg);
  });
}

/** Logs in, then stops reading (the TCP window closes) and asks for history as fast as it may. */
async function slowReader(ws, i) {
  const who = spec.users?.[i % spec.users.length] ?? spec;
  if (!(await login(ws, i, who.userID, who.userSig))) return;
  ws._socket.pause();
  let rid = 2;
  const spam = () => {
    if (ws.readyState !== WebSocket.OPEN) return;
    // Stay under the server's rate limit (200/s, bursts of 400): every request is served.
    for (let k = 0; k < 20 && ws.bufferedAmount < 1 << 20; k++) {
      ws.send(JSON.stringify({ t: 'history', rid: rid++, limit: 100 }));
      stats.sent.frames++;
    }
    setTimeout(spam, 110);
  };
  spam();
}

const invites = { sent: 0, ok: 0, refused: {}, victimRang: 0 };

/**
 * Logs the victim in on a socket of its own (counting the invitations that reach it), then rings
 * the victim and hangs up, again and again, each request sent when the previous one is answered.
 */
async function inviteSpam(ws, i) {
  const victim = new WebSocket(url, { ...(addresses[0] && { localAddress: addresses[0] }), perMessageDeflate: false });
  await new Promise((resolve) => victim.once('open', resolve));
  victim.on('error', () => undefined);
  if (!(await login(victim, -1, spec.victim, spec.victimSig))) return;
  victim.on('message', (data) => {
    if (JSON.parse(data.toString()).t === 'invited') invites.victimRang++;
  });
  live.add(victim);
  if (!(await login(ws, i))) return;
  let rid = 2;
  const pending = new Map();
  ws.on('message', (data) => {
    const f = JSON.parse(data.toString());
    if (f.t === 'res') pending.get(f.rid)?.(f);
  });
  const request = (frame) =>
    new Promise((resolve) => {
      const r = rid++;
      pending.set(r, resolve);
      ws.send(JSON.stringify({ ...frame, rid: r }));
      stats.sent.frames++;
    });
  while (!stopping && ws.readyState === WebSocket.OPEN) {
    invites.sent++;
    const res = await request({ t: 'invite', invitees: [spec.victim], callType: 2, timeout: 30 });
    if (res.ok) {
      invites.ok++;
      await request({ t: 'hangup', inviteID: res.data.inviteID });
    } else {
      invites.refused[res.code] = (invites.refused[res.code] ?? 0) + 1;
      await new Promise((r) => setTimeout(r, 5)); // refused: still try again and again, a little slower than the rate limit
    }
  }
}

/** Never answers pings (the automatic pong is switched off) but sends pongs of its own. */
async function pongOnly(ws, i) {
  // ws answers pings by itself: replace that with nothing.
  ws._receiver.removeAllListeners('ping');
  ws._receiver.on('ping', () => undefined);
  if (spec.userSig && !(await login(ws, i))) return;
  const tick = () => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.pong(randomBytes(8));
    setTimeout(tick, 200);
  };
  tick();
}

async function main() {
  const deadline = setTimeout(stop, durationMs);
  let next = 0;
  const worker = async () => {
    while (!stopping && next < total) await open(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  // Everything tried: hold what is open until the deadline.
  void deadline;
}

function stop() {
  if (stopping) return;
  stopping = true;
  const still = live.size;
  for (const ws of live) ws.terminate();
  const sorted = stats.closeMs.sort((a, b) => a - b);
  const q = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null);
  out({
    ev: 'summary',
    opened: stats.opened,
    refusedAtUpgrade: stats.refusedAtUpgrade,
    refusedStatus: stats.refusedStatus,
    closedByServer: stats.closedByServer,
    stillOpen: still,
    closeMs: { p50: q(0.5), p90: q(0.9), max: sorted.length ? sorted[sorted.length - 1] : null },
    closedWithin15s: sorted.filter((ms) => ms <= 15_000).length,
    sent: stats.sent,
    ...(attack === 'invite-spam' && { invites }),
    ms: Math.round(performance.now() - started),
  });
  setTimeout(() => process.exit(0), 50).unref();
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
main().catch((err) => {
  console.error(err);
  stop();
});
