/**
 * The WebRTC implementation the SDK uses: the browser's globals, or one passed in
 * (`@roamhq/wrtc` in Node). Structural types so no DOM lib is needed at run time.
 */
export interface MediaDevicesLike {
  getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream>;
  enumerateDevices(): Promise<MediaDeviceInfo[]>;
}

export interface RtcImplementation {
  RTCPeerConnection: new (config?: RTCConfiguration) => RTCPeerConnection;
  mediaDevices?: MediaDevicesLike;
  MediaStream?: new (tracks?: MediaStreamTrack[]) => MediaStream;
}

/** Reads the browser's WebRTC globals; null where there is no WebRTC (ERROR 60006 on use). */
export function browserRtc(): RtcImplementation | null {
  const g = globalThis as unknown as {
    RTCPeerConnection?: RtcImplementation['RTCPeerConnection'];
    MediaStream?: RtcImplementation['MediaStream'];
    navigator?: { mediaDevices?: MediaDevicesLike };
  };
  if (typeof g.RTCPeerConnection !== 'function') return null;
  return {
    RTCPeerConnection: g.RTCPeerConnection,
    ...(g.navigator?.mediaDevices && { mediaDevices: g.navigator.mediaDevices }),
    ...(g.MediaStream && { MediaStream: g.MediaStream }),
  };
}
