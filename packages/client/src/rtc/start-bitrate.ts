/**
 * The bandwidth estimate a connection starts from, for its video (Chromium's
 * `x-google-start-bitrate`, kbit/s; other browsers ignore it).
 *
 * Why: a 1:1 call connects while the phone rings and sends only black frames and silence. Those
 * are tiny, so the sender does not probe the path and its estimate stays at Chromium's default
 * start, 300 kbit/s (about 175 kbit/s for video once audio has its share), until real media
 * flows. Going live at that rate, the first live frame reached the other side after p50 182 ms
 * in the media bench; starting from 1000 kbit/s 116 ms, from 2000 kbit/s 95 ms (the first frame
 * after the black ones is a big one; at a higher estimate it is paced out sooner; docs/benchmarks.md
 * section b). Before accept nothing but black frames and silence is sent whatever the estimate;
 * on a slower path the estimator backs off within the first round trips, as from any start.
 */
export const START_BITRATE_KBPS = 2000;

const RTPMAP = /^a=rtpmap:(\d+) (?:VP8|VP9|H264|H265|AV1)\//;

/**
 * Adds the start bitrate to every video codec of an SDP we send: Chromium applies codec
 * parameters of the remote description to what it sends, so the other side's video starts
 * from it (and ours, from the same line in the SDP the other side sends us).
 */
export function withStartBitrate(sdp: string, kbps = START_BITRATE_KBPS): string {
  if (sdp.includes('x-google-start-bitrate')) return sdp;
  const param = `x-google-start-bitrate=${kbps}`;
  const lines = sdp.split('\r\n');
  const fmtpOf = (l: string) => (l.startsWith('a=fmtp:') ? l.slice(7, l.indexOf(' ')) : '');
  const pts = new Set<string>();
  let video = false;
  for (const l of lines) {
    if (l.startsWith('m=')) video = l.startsWith('m=video');
    const m = video ? RTPMAP.exec(l) : null;
    if (m) pts.add(m[1]!);
  }
  const hasFmtp = new Set(lines.map(fmtpOf));
  const out: string[] = [];
  for (const l of lines) {
    out.push(pts.has(fmtpOf(l)) ? `${l};${param}` : l);
    const m = RTPMAP.exec(l);
    if (m && pts.has(m[1]!) && !hasFmtp.has(m[1]!)) out.push(`a=fmtp:${m[1]} ${param}`);
  }
  return out.join('\r\n');
}
