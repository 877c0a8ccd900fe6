#!/usr/bin/env node
/**
 * The honest users of the "under attack" benchmark (bench/under-attack.mjs), in their own
 * process so an attacker's process cannot starve them of CPU on the client side.
 *
 * `users` raw WebSocket clients log in from 127.0.0.1; `pairs` loops make paced call setups, one
 * every `every` ms per loop:
 *
 *   caller: invite → callee: invited → callee: accept → caller: accepted   (the setup, timed)
 *   caller: hangup → callee: ended
 *
 * Setup k pairs user 2k with user 2k+1+2r (mod users; r = how many times the list went round), so
 * everyone calls a different person each round: honest people, within the server's default
 * invitation and ring rates (with 200 users at 20 setups/s each calls 12 times a minute, and the
 * same person once in 8 minutes).
 *
 * Prints one JSON line per setup, {at, ms} (at: epoch ms when it started), or {at, error} when a
 * setup failed; users whose connection closed log in again. Stops after `seconds`, printing
 * {done: true, setups, errors}.
 *
 *   node bench/attack/honest.mjs --url ws://127.0.0.1:8080/ws [--users 200] [--pairs 4] [--every 200]
 *                                [--seconds 60] [--timeout-ms 10000]
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { genUserSig } from '../../packages/server/dist/auth/usersig.js';
import { parseArgs, SDK_APP_ID, SECRET, sleep } from '../lib.mjs';

const o = parseArgs(process.argv.slice(2), { url: '', users: 200, pairs: 4, every: 200, seconds: 60, timeoutMs: 10_000 });
if (!o.url) throw new Error('--url is required');
const until = Date.now() + o.seconds * 1000;
let setups = 0;
let errors = 0;

/** A logged-in connection: requests by rid, and one-shot waits for event frames by type. */
class Conn {
  constructor(userID) {
    this.userID = userID;
    this.rid = 0;
    this.pending = new Map();
    this.waiters = [];
  }

  async open() {
    const ws = (this.ws = new WebSocket(o.url, { perMessageDeflate: false }));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.on('error', () => {});
    ws.on('message', (data) => this.onFrame(JSON.parse(data.toString())));
    ws.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('connection closed'));
      this.pending.clear();
      for (const w of this.waiters.splice(0)) w.reject(new Error('connection closed'));
    });
    await this.request({ t: 'login', sdkAppId: SDK_APP_ID, userID: this.userID, userSig: genUserSig(SDK_APP_ID, SECRET, this.userID, 86400) });
  }

  get open_() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  onFrame(f) {
    if (f.t === 'res') {
      const p = this.pending.get(f.rid);
      this.pending.delete(f.rid);
      if (p && f.ok) p.resolve(f.data);
      else p?.reject(new Error(`${f.code} ${f.message}`));
      return;
    }
    const i = this.waiters.findIndex((w) => w.type === f.t);
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(f);
  }

  request(frame) {
    const rid = ++this.rid;
    return this.within(new Promise((resolve, reject) => {
      this.pending.set(rid, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, rid }));
    }), `${frame.t} answer`);
  }

  next(type) {
    return this.within(new Promise((resolve, reject) => this.waiters.push({ type, resolve, reject })), type);
  }

  /** Rejects when the server takes longer than timeoutMs (a stuck setup is an error, not a hang). */
  within(p, what) {
    let t;
    const timeout = new Promise((_, reject) => (t = setTimeout(() => reject(new Error(`no ${what} within ${o.timeoutMs} ms`)), o.timeoutMs)));
    return Promise.race([p, timeout]).finally(() => clearTimeout(t));
  }

  close() {
    this.ws?.terminate();
  }
}

async function setup(caller, callee) {
  const t0 = performance.now();
  const invited = callee.next('invited');
  const accepted = caller.next('accepted');
  const r = await caller.request({ t: 'invite', invitees: [callee.userID], callType: 2, timeout: 30 });
  const inv = await invited;
  const ended = callee.next('ended');
  await callee.request({ t: 'accept', inviteID: inv.inviteID });
  await accepted;
  const ms = performance.now() - t0;
  await caller.request({ t: 'hangup', inviteID: r.inviteID });
  await ended;
  return ms;
}

const users = Array.from({ length: o.users - (o.users % 2) }, (_, i) => new Conn(`honest${process.pid}_${i}`));
let nextSetup = 0;

/** The two users of setup k (see the header), logged in again if their connection was lost. */
async function pairFor(k) {
  const n = users.length;
  const round = Math.floor((2 * k) / n);
  const a = (2 * k) % n;
  const b = (2 * k + 1 + 2 * round) % n;
  for (const i of [a, b]) {
    if (!users[i].open_) {
      users[i].close();
      users[i] = new Conn(users[i].userID);
      await users[i].open();
    }
  }
  return [users[a], users[b]];
}

async function loop() {
  while (Date.now() < until) {
    const at = Date.now();
    let pair = [];
    try {
      pair = await pairFor(nextSetup++);
      const ms = await setup(pair[0], pair[1]);
      setups++;
      console.log(JSON.stringify({ at, ms }));
    } catch (err) {
      errors++;
      console.log(JSON.stringify({ at, error: err.message }));
      // Their state is unknown now: a fresh login (which ends whatever call was left) next time.
      for (const u of pair) u.close();
    }
    await sleep(Math.max(0, at + o.every - Date.now()));
  }
}

for (let i = 0; i < users.length; i += 50) await Promise.all(users.slice(i, i + 50).map((u) => u.open()));
await Promise.all(Array.from({ length: o.pairs }, (_, i) => sleep((i * o.every) / o.pairs).then(loop)));
for (const u of users) u.close();
console.log(JSON.stringify({ done: true, setups, errors }));
process.exit(0);
