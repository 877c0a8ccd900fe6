/**
 * The two test apps of the media benchmark, as HTML strings: an OpenCall app (the IIFE bundle
 * from a <script> tag, views from startRemoteView) and a PeerJS app (peerjs.min.js from
 * node_modules, a <video> it makes itself). Both take the same camera constraints as OpenCall's
 * default 480p profile (640×480, 15 fps ideal) and no ICE servers (host candidates on loopback).
 *
 * Every timestamp is Date.now() taken in the page: all pages run on this machine's one clock,
 * so times from the caller's and the callee's pages can be subtracted.
 *
 * `watchFrames(video)` hooks requestVideoFrameCallback on the remote <video>: `remoteFrame` is
 * the first frame presented, `remoteLive` the first one that is not black (mean RGB above
 * LIVE_LEVEL, read back through a 32×24 canvas). OpenCall connects while the phone rings and
 * sends black frames until accept(), so only `remoteLive` is "seeing the other person"; PeerJS
 * has no black phase, its first frame is live.
 */
export const LIVE_LEVEL = 12;

const COMMON = `
<style>body{margin:0;display:flex;gap:8px;background:#222}.view{width:320px;height:240px;background:#000}</style>
<div id="local" class="view"></div><div id="remote" class="view"></div>
<script>
  window.marks = {};
  window.errors = [];
  window.ringMs = 0;
  const now = () => Date.now();
  window.mark = (k) => { if (window.marks[k] === undefined) window.marks[k] = now(); };
  window.reset = (ringMs) => { window.marks = {}; window.ringMs = ringMs; window.trace = []; };
  window.CAMERA = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15 } };
  /**
   * Diagnostics (--trace): polls getStats() every 10 ms and keeps the video counters each time
   * one changes: what this page encodes and sends, and what it receives, decodes and renders.
   */
  window.trace = [];
  window.traceStats = (getReport, forMs) => {
    const until = now() + forMs;
    let last = '';
    const tick = async () => {
      if (now() > until) return;
      try {
        const report = await getReport();
        const row = {};
        report?.forEach((r) => {
          if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') Object.assign(row, { bwe: r.availableOutgoingBitrate });
          if (r.kind !== 'video' && r.mediaType !== 'video') return;
          if (r.type === 'outbound-rtp') Object.assign(row, { enc: r.framesEncoded, key: r.keyFramesEncoded, sent: r.framesSent, w: r.frameWidth, qp: r.qpSum, tgt: r.targetBitrate, bytes: r.bytesSent });
          if (r.type === 'inbound-rtp') Object.assign(row, { rcv: r.framesReceived, dec: r.framesDecoded, kdec: r.keyFramesDecoded, rw: r.frameWidth, jb: r.jitterBufferEmittedCount ? Math.round((r.jitterBufferDelay / r.jitterBufferEmittedCount) * 1000) : undefined, drop: r.framesDropped });
          if (r.type === 'media-source') Object.assign(row, { src: r.frames });
        });
        const key = JSON.stringify(row);
        if (key !== last) window.trace.push({ at: now(), ...row });
        last = key;
      } catch (e) {}
      setTimeout(tick, 10);
    };
    tick();
  };
  window.watchFrames = (video) => {
    const c = document.createElement('canvas');
    c.width = 32; c.height = 24;
    const g = c.getContext('2d', { willReadFrequently: true });
    let frames = 0;
    const onFrame = () => {
      const at = now();
      if (!video.isConnected) return;
      frames++;
      if (window.marks.remoteFrame === undefined) window.marks.remoteFrame = at;
      g.drawImage(video, 0, 0, 32, 24);
      const d = g.getImageData(0, 0, 32, 24).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
      const level = sum / (d.length / 4) / 3;
      if (level > ${LIVE_LEVEL}) {
        window.marks.remoteLive = at;
        window.marks.liveLevel = Math.round(level);
        window.marks.blackFrames = frames - 1;
        return;
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };
</script>`;

/**
 * OpenCall app: the callee answers `ringMs` after INVITED; both show the other in #remote. It opts
 * into early media (off by default), so "with the phone ringing first" measures media connected
 * while ringing, as before.
 */
export const OPENCALL_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>OpenCall media bench</title></head><body>
${COMMON}
<script src="/opencall.iife.js"></script>
<script>
  window.setup = async (o) => {
    const calling = new TRTCCalling({ SDKAppID: o.SDKAppID, serverUrl: o.serverUrl, earlyMedia: true });
    window.calling = calling;
    const E = TRTCCalling.EVENT;
    calling.on(E.ERROR, (e) => window.errors.push(e.code + ' ' + e.message));
    calling.on(E.INVITED, () => {
      mark('invited');
      setTimeout(async () => {
        mark('t0');
        try {
          await calling.accept();
          mark('accepted');
        } catch (e) {
          window.errors.push('accept: ' + e.message);
        }
      }, window.ringMs);
    });
    calling.on(E.USER_ACCEPT, () => mark('userAccept'));
    calling.on(E.USER_ENTER, async ({ userID }) => {
      mark('enter');
      await calling.startRemoteView({ userID, videoViewDomID: 'remote' });
      mark('view');
      watchFrames(document.querySelector('#remote video'));
    });
    calling.on(E.CALL_END, () => mark('ended'));
    await calling.login({ userID: o.userID, userSig: o.userSig });
  };
  window.dial = async (userID) => {
    mark('dial');
    await calling.call({ userID, type: 2 });
    mark('dialed');
  };
  window.hangup = () => calling.hangup();
  window.startTrace = (peer, ms) => traceStats(() => calling.getStats(peer), ms);
</script></body></html>`;

/**
 * PeerJS app, written the way PeerJS's docs show it: the caller opens its camera and calls
 * peer.call(id, stream); the callee gets 'call', opens its camera (on arrival, or `gumBefore`:
 * already open) and, when the user picks up `ringMs` later, call.answer(stream).
 */
export const PEERJS_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>PeerJS media bench</title></head><body>
${COMMON}
<script src="/peerjs.min.js"></script>
<script>
  window.gumBefore = false;
  window.preStream = null;
  const gum = () => navigator.mediaDevices.getUserMedia({ audio: true, video: window.CAMERA });
  function watchCall(call) {
    window.call = call;
    let shown = false;
    call.on('stream', (remote) => {
      if (shown) return; // PeerJS may emit 'stream' once per track
      shown = true;
      mark('stream');
      const v = document.createElement('video');
      v.autoplay = true;
      v.playsInline = true;
      v.style.width = '100%';
      v.style.height = '100%';
      v.srcObject = remote;
      document.getElementById('remote').appendChild(v);
      v.play().catch(() => {});
      watchFrames(v);
    });
    call.on('error', (e) => window.errors.push('call: ' + e.message));
    const pc = call.peerConnection;
    if (pc) pc.addEventListener('iceconnectionstatechange', () => ['connected', 'completed'].includes(pc.iceConnectionState) && mark('ice'));
  }
  window.setup = async (o) => {
    const peer = new Peer(o.id, { host: '127.0.0.1', port: o.port, path: o.path, secure: false, config: { iceServers: [] }, debug: 0 });
    window.peer = peer;
    peer.on('error', (e) => window.errors.push('peer: ' + e.type + ' ' + e.message));
    await new Promise((resolve, reject) => { peer.once('open', resolve); peer.once('error', reject); });
    peer.on('call', (call) => {
      mark('invited');
      const stream = window.gumBefore && window.preStream ? Promise.resolve(window.preStream) : gum();
      stream.then((s) => { mark('gum'); window.localStream = s; }, (e) => window.errors.push('gum: ' + e.message));
      setTimeout(async () => {
        mark('click');
        const s = await stream;
        mark('t0');
        call.answer(s);
        watchCall(call);
      }, window.ringMs);
    });
  };
  window.startTrace = (peer, ms) => traceStats(async () => window.call?.peerConnection?.getStats(), ms);
  /** The variant where the callee's camera is open before the call arrives. */
  window.openBefore = async () => { window.gumBefore = true; window.preStream = await gum(); };
  window.dial = async (id) => {
    mark('dial');
    const s = await gum();
    window.localStream = s;
    watchCall(window.peer.call(id, s));
    mark('dialed');
  };
  window.hangup = () => {
    window.call?.close();
    for (const s of [window.localStream, window.preStream]) s?.getTracks().forEach((t) => t.stop());
    window.localStream = window.preStream = null;
    window.gumBefore = false;
    document.querySelectorAll('#remote video').forEach((v) => { v.srcObject = null; v.remove(); });
    window.call = null;
  };
</script></body></html>`;
