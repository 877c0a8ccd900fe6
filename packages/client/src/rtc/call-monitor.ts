/**
 * Turns WebRTC statistics into the spec's volume and network-quality events.
 *
 * Volume comes from `audioLevel` (inbound-rtp, or the legacy track stats, for remote users;
 * media-source for the local microphone). Quality is judged per interval from packet loss,
 * round-trip time and jitter, with the thresholds real-time media engineers use for
 * "good enough for conversation".
 */

export type NetworkQuality = 'Unknown' | 'Excellent' | 'Good' | 'Poor' | 'Bad' | 'Vbad' | 'Down';

/** Counters taken from one stats report. */
export interface StatsSample {
  at: number;
  remoteAudioLevel: number | undefined;
  localAudioLevel: number | undefined;
  packetsReceived: number;
  packetsLost: number;
  /** Seconds, from the selected candidate pair or remote-inbound-rtp. */
  rtt: number | undefined;
  /** Seconds, inbound jitter (worst kind). */
  jitter: number | undefined;
  /** Loss the remote end reports for what we send (0..1). */
  remoteFractionLost: number | undefined;
}

export function sample(report: RTCStatsReport, at = Date.now()): StatsSample {
  const s: StatsSample = {
    at,
    remoteAudioLevel: undefined,
    localAudioLevel: undefined,
    packetsReceived: 0,
    packetsLost: 0,
    rtt: undefined,
    jitter: undefined,
    remoteFractionLost: undefined,
  };
  let trackLevel: number | undefined;
  report.forEach((r: any) => {
    switch (r.type) {
      case 'inbound-rtp':
        s.packetsReceived += r.packetsReceived ?? 0;
        s.packetsLost += Math.max(0, r.packetsLost ?? 0);
        if (typeof r.jitter === 'number') s.jitter = Math.max(s.jitter ?? 0, r.jitter);
        if (r.kind === 'audio' && typeof r.audioLevel === 'number') s.remoteAudioLevel = r.audioLevel;
        break;
      case 'track':
        if (r.kind === 'audio' && r.remoteSource && typeof r.audioLevel === 'number') trackLevel = r.audioLevel;
        break;
      case 'media-source':
        if (r.kind === 'audio' && typeof r.audioLevel === 'number') s.localAudioLevel = r.audioLevel;
        break;
      case 'candidate-pair':
        if (r.nominated && r.state === 'succeeded' && typeof r.currentRoundTripTime === 'number') s.rtt = r.currentRoundTripTime;
        break;
      case 'remote-inbound-rtp':
        if (typeof r.fractionLost === 'number') s.remoteFractionLost = Math.max(s.remoteFractionLost ?? 0, r.fractionLost);
        if (s.rtt === undefined && typeof r.roundTripTime === 'number') s.rtt = r.roundTripTime;
        break;
    }
  });
  s.remoteAudioLevel ??= trackLevel;
  return s;
}

/** 0..1 audio level → the spec's 0..100 volume (perceptual: a square root lifts quiet speech). */
export function toVolume(level: number | undefined): number {
  if (level === undefined || !(level > 0)) return 0;
  return Math.min(100, Math.round(Math.sqrt(Math.min(1, level)) * 100));
}

/**
 * Quality over the interval between two samples. `connected` false (or no packet at all in a
 * whole interval of a call that should carry audio) is Down.
 */
export function judge(prev: StatsSample | undefined, cur: StatsSample, connected: boolean): NetworkQuality {
  if (!connected) return 'Down';
  if (!prev) return 'Unknown';
  const received = cur.packetsReceived - prev.packetsReceived;
  const lost = Math.max(0, cur.packetsLost - prev.packetsLost);
  if (received <= 0 && lost <= 0) return 'Down';
  const loss = Math.max(lost / Math.max(1, received + lost), cur.remoteFractionLost ?? 0);
  const rtt = cur.rtt ?? 0;
  const jitter = cur.jitter ?? 0;
  if (loss < 0.01 && rtt < 0.1 && jitter < 0.03) return 'Excellent';
  if (loss < 0.03 && rtt < 0.2 && jitter < 0.05) return 'Good';
  if (loss < 0.08 && rtt < 0.4 && jitter < 0.1) return 'Poor';
  if (loss < 0.15 && rtt < 0.8) return 'Bad';
  return 'Vbad';
}

const rank: Record<NetworkQuality, number> = { Unknown: 0, Excellent: 1, Good: 2, Poor: 3, Bad: 4, Vbad: 5, Down: 6 };

/** The worse of two judgements (our own quality is the worst over all our links). */
export function worse(a: NetworkQuality, b: NetworkQuality): NetworkQuality {
  return rank[a] >= rank[b] ? a : b;
}
