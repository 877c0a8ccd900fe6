#!/usr/bin/env node
/**
 * The baseline of the signaling benchmark: a bare `ws` relay that does the same message pattern
 * as the OpenCall server and nothing else — no UserSig check, no schema validation, no rate
 * limit, no call state machine beyond a map, no records, no logging.
 *
 *   login  → res                       (userID taken on trust)
 *   invite → res {inviteID, roomID} to the caller, invited to the callee
 *   accept → res to the callee, accepted to the caller
 *   hangup → res {ended, duration} to the caller, ended to the callee
 *
 * Frames are the same JSON as OpenCall's (docs/protocol.md), so the same load client drives
 * both servers. Listens on 127.0.0.1:$PORT, WebSocket at /ws, GET /healthz.
 *
 * Fault injection, to check the load generator's counters (off by default): every Nth `invited`
 * is dropped with BARE_DROP_INVITED_EVERY=N, sent twice with BARE_DUP_INVITED_EVERY=N.
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 0);
const users = new Map(); // userID → ws
const calls = new Map(); // inviteID → { caller, callee, roomID }
let nextCall = 1;
const dropEvery = Number(process.env.BARE_DROP_INVITED_EVERY ?? 0);
const dupEvery = Number(process.env.BARE_DUP_INVITED_EVERY ?? 0);
let invitedCount = 0;

const http = createServer((req, res) => {
  if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  else res.writeHead(404).end();
});
const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false, maxPayload: 1024 * 1024 });

const send = (ws, frame) => ws && ws.readyState === 1 && ws.send(JSON.stringify(frame));
const reply = (ws, rid, data) => send(ws, data === undefined ? { t: 'res', rid, ok: true } : { t: 'res', rid, ok: true, data });
const fail = (ws, rid, code, message) => send(ws, { t: 'res', rid, ok: false, code, message });

wss.on('connection', (ws) => {
  let me = null;
  ws.on('message', (data) => {
    let m;
    try {
      m = JSON.parse(data.toString());
    } catch {
      return send(ws, { t: 'error', code: 40001, message: 'not JSON' });
    }
    switch (m.t) {
      case 'login':
        me = String(m.userID);
        users.set(me, ws);
        return reply(ws, m.rid, { userID: me, serverTime: Date.now(), iceServers: [] });
      case 'invite': {
        const callee = m.invitees?.[0];
        const inviteID = `c${nextCall++}`;
        const roomID = nextCall;
        calls.set(inviteID, { caller: me, callee, roomID });
        reply(ws, m.rid, { inviteID, roomID });
        const invited = { t: 'invited', inviteID, roomID, sponsor: me, userIDList: [callee], isFromGroup: false, callType: m.callType, timeout: m.timeout, media: { audio: false, video: false }, joined: [me] };
        invitedCount++;
        if (dropEvery && invitedCount % dropEvery === 0) return;
        if (dupEvery && invitedCount % dupEvery === 0) send(users.get(callee), invited);
        return send(users.get(callee), invited);
      }
      case 'accept': {
        const c = calls.get(m.inviteID);
        if (!c) return fail(ws, m.rid, 40401, 'no such call');
        reply(ws, m.rid, { inviteID: m.inviteID, roomID: c.roomID, participants: [{ userID: c.caller, media: { audio: false, video: false } }] });
        return send(users.get(c.caller), { t: 'accepted', inviteID: m.inviteID, userID: me, media: { audio: false, video: false } });
      }
      case 'hangup': {
        const c = calls.get(m.inviteID);
        if (!c) return fail(ws, m.rid, 40401, 'no such call');
        calls.delete(m.inviteID);
        reply(ws, m.rid, { ended: true, duration: 0 });
        return send(users.get(me === c.caller ? c.callee : c.caller), { t: 'ended', inviteID: m.inviteID, roomID: c.roomID, connected: true, duration: 0, reason: 'hangup' });
      }
      default:
        return fail(ws, m.rid, 40004, 'unknown message');
    }
  });
  ws.on('close', () => {
    if (me !== null && users.get(me) === ws) users.delete(me);
  });
});

http.listen(port, '127.0.0.1');
process.once('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate();
  http.close(() => process.exit(0));
});
