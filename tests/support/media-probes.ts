/** Probes that look inside received media (wrtc sinks): colour of video frames, level of audio. */
import wrtc from '@roamhq/wrtc';

/** Mean of the U plane of the latest I420 frame a sink saw (128 = no colour: black or grey). */
export function watchChroma(track: MediaStreamTrack) {
  const sink = new (wrtc as any).nonstandard.RTCVideoSink(track);
  const seen = { frames: 0, meanU: 128 };
  sink.onframe = ({ frame }: { frame: { width: number; height: number; data: Uint8Array } }) => {
    const ySize = frame.width * frame.height;
    const u = frame.data.subarray(ySize, ySize + ySize / 4);
    let sum = 0;
    for (let i = 0; i < u.length; i += 16) sum += u[i]!;
    seen.meanU = sum / Math.ceil(u.length / 16);
    seen.frames++;
  };
  return { seen, stop: () => sink.stop() };
}

/** Peak absolute sample of recent audio data from a remote track. */
export function watchAudio(track: MediaStreamTrack) {
  const sink = new (wrtc as any).nonstandard.RTCAudioSink(track);
  const seen = { chunks: 0, peak: 0 };
  sink.ondata = ({ samples }: { samples: Int16Array }) => {
    let peak = 0;
    for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]!));
    seen.peak = peak;
    seen.chunks++;
  };
  return { seen, stop: () => sink.stop() };
}
