/**
 * The demo's state and everything it does with the SDK. Components read `state` and call the
 * actions; SDK events are turned into state changes and short toasts here, in one place.
 */
import { markRaw, nextTick, reactive, watch } from 'vue';
import TRTCCalling, { type CallingError, type EventMap, type NetworkQuality } from '@opencall/client';
import { USER_ID_PATTERN } from '@opencall/protocol/lite';
import { describeError } from './errors';
import { Ringtone } from './ringtone';

export type Screen = 'login' | 'home' | 'outgoing' | 'incoming' | 'incall';
export type CallType = 1 | 2;
export type Quality = NetworkQuality;

export interface Participant {
  userID: string;
  /** waiting: invited, not in yet; connecting: accepted, media coming up; joined: USER_ENTER seen. */
  status: 'waiting' | 'connecting' | 'joined';
  audio: boolean;
  video: boolean;
}

export interface Toast {
  id: number;
  kind: 'info' | 'warn' | 'error';
  text: string;
  /** What produced it, for tests and for styling: 'reject', 'busy', 'error:60003', ... */
  tag: string;
}

export interface Incoming {
  sponsor: string;
  others: string[];
  callType: CallType;
  inviteID: string;
}

export const USER_ID_RE = USER_ID_PATTERN;

export const LOCAL_VIEW_ID = 'local-view';
export const remoteViewID = (userID: string) => `remote-view-${userID}`;

export const state = reactive({
  screen: 'login' as Screen,
  /** Server facts from GET /v1/config (null until loaded). */
  sdkAppId: null as number | null,
  devUserSig: null as boolean | null,
  configError: '',
  me: '',
  loginError: '',
  loginNotice: '',
  busy: false,
  connection: 'connected' as 'connected' | 'reconnecting' | 'disconnected',

  callType: 2 as CallType,
  role: null as 'caller' | 'callee' | null,
  /** Who the caller invited (shown on the ringing screen). */
  invitees: [] as string[],
  incoming: null as Incoming | null,
  participants: [] as Participant[],
  startedAt: 0,
  now: Date.now(),
  micOn: true,
  cameraOn: true,
  /** Latest volume (0-100) and network quality per userID, the local user included. */
  volumes: {} as Record<string, number>,
  quality: {} as Record<string, Quality>,
  toasts: [] as Toast[],
  recent: loadRecent(),
});

let sdk: TRTCCalling | null = null;
export const ringtone = new Ringtone();
let toastSeq = 0;
let clock: ReturnType<typeof setInterval> | null = null;

/** Which optional SDK methods exist (the UI hides what the SDK cannot do). */
export const features = {
  get switchCallType(): boolean {
    return typeof (sdk as { switchToAudioCall?: unknown } | null)?.switchToAudioCall === 'function';
  },
  get switchDevice(): boolean {
    return typeof (sdk as { switchDevice?: unknown } | null)?.switchDevice === 'function';
  },
};

// ---- toasts ----

export function toast(text: string, tag: string, kind: Toast['kind'] = 'info'): void {
  const t: Toast = { id: ++toastSeq, kind, text, tag };
  state.toasts.push(t);
  if (state.toasts.length > 4) state.toasts.shift();
  setTimeout(() => dismiss(t.id), kind === 'error' ? 7000 : 4000);
}

export function dismiss(id: number): void {
  const i = state.toasts.findIndex((t) => t.id === id);
  if (i >= 0) state.toasts.splice(i, 1);
}

// ---- server config and login ----

export async function loadConfig(): Promise<void> {
  try {
    const res = await fetch('/v1/config');
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = (await res.json()) as { sdkAppId: number; devUserSig?: boolean };
    state.sdkAppId = body.sdkAppId;
    state.devUserSig = body.devUserSig === true;
    state.configError = '';
  } catch (err) {
    state.configError = `Cannot reach the call server at ${location.origin} (${(err as Error).message}).`;
  }
}

async function devUserSig(userID: string): Promise<string | null> {
  const res = await fetch('/v1/dev/usersig', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userID }) });
  if (res.status === 404) return null; // dev UserSigs are off on this server
  const body = (await res.json().catch(() => ({}))) as { userSig?: string; message?: string };
  if (!res.ok || !body.userSig) throw new Error(body.message ?? `HTTP ${res.status}`);
  return body.userSig;
}

/** Signs in: a dev UserSig from the server unless one was pasted. */
export async function login(userID: string, pastedSig: string): Promise<void> {
  ringtone.unlock(); // this runs in the click: the page may make sound from now on
  state.loginError = '';
  state.loginNotice = '';
  userID = userID.trim();
  if (!USER_ID_RE.test(userID)) {
    state.loginError = 'A user ID is 1 to 64 letters, digits, “-” or “_”.';
    return;
  }
  state.busy = true;
  try {
    if (state.sdkAppId === null) await loadConfig();
    if (state.sdkAppId === null) {
      state.loginError = state.configError;
      return;
    }
    let userSig = pastedSig.trim();
    if (!userSig && state.devUserSig !== false) {
      const s = await devUserSig(userID).catch((err: Error) => {
        state.loginError = `Could not get a UserSig from the server: ${err.message}`;
        return undefined;
      });
      if (s === undefined) return;
      if (s === null) state.devUserSig = false;
      else userSig = s;
    }
    if (!userSig) {
      state.loginError = 'This server does not hand out development UserSigs: paste a UserSig made by your backend.';
      return;
    }
    // Early media (an opt-in): while the phone rings the call connects, so accepting shows the
    // caller at once; the price is that a caller learns this device's addresses before you answer.
    const calling = markRaw(new TRTCCalling({ SDKAppID: state.sdkAppId, serverUrl: location.origin, earlyMedia: true }));
    wire(calling);
    sdk = calling;
    try {
      await calling.login({ userID, userSig });
    } catch (err) {
      sdk = null;
      state.loginError = describeError((err as CallingError).code, (err as Error).message);
      return;
    }
    state.me = userID;
    state.connection = 'connected';
    state.screen = 'home';
    localStorage.setItem('opencall-demo:user', userID);
  } finally {
    state.busy = false;
  }
}

export async function logout(): Promise<void> {
  const calling = sdk;
  await calling?.logout().catch(() => {});
  signedOut('');
}

function signedOut(notice: string): void {
  sdk = null;
  resetCall();
  state.me = '';
  state.screen = 'login';
  state.loginNotice = notice;
}

// ---- calls ----

/** Calls one user (`call`) or several (`groupCall`). */
export async function startCall(targets: string[], type: CallType): Promise<void> {
  const calling = sdk;
  if (!calling || state.screen !== 'home') return;
  const list = [...new Set(targets.map((t) => t.trim()).filter(Boolean))];
  const bad = list.find((t) => !USER_ID_RE.test(t));
  if (list.length === 0) return toast('Type the user ID of the person to call.', 'input', 'warn');
  if (bad) return toast(`“${bad}” is not a valid user ID (letters, digits, - and _).`, 'input', 'warn');
  if (list.includes(state.me)) return toast('You cannot call yourself. Sign in as someone else in another window.', 'input', 'warn');
  resetCall();
  state.role = 'caller';
  state.callType = type;
  state.invitees = list;
  state.participants = list.map((userID) => ({ userID, status: 'waiting', audio: false, video: false }));
  state.screen = 'outgoing';
  rememberRecent(list.join(', '));
  try {
    if (list.length === 1) await calling.call({ userID: list[0]!, type });
    else await calling.groupCall({ userIDList: list, type });
    syncLocal();
  } catch {
    // ERROR has been shown as a toast already.
    if (sdk === calling && state.screen === 'outgoing') backHome();
  }
}

export async function accept(): Promise<void> {
  const calling = sdk;
  if (!calling || state.screen !== 'incoming') return;
  ringtone.stop();
  state.busy = true;
  try {
    await calling.accept();
    // onCallBegin has switched to the call screen.
    syncLocal();
  } catch {
    if (sdk === calling && state.screen === 'incoming') backHome();
  } finally {
    state.busy = false;
  }
}

export async function reject(): Promise<void> {
  const calling = sdk;
  if (!calling || state.screen !== 'incoming') return;
  ringtone.stop();
  await calling.reject().catch(() => {});
  backHome();
}

/** Cancels a ringing call or leaves the one in progress. */
export async function hangup(): Promise<void> {
  const calling = sdk;
  if (!calling) return;
  const wasRinging = state.screen === 'outgoing';
  await calling.hangup().catch(() => {});
  if (sdk !== calling) return;
  if (state.screen === 'outgoing' || state.screen === 'incall' || state.screen === 'incoming') {
    if (wasRinging) toast('Call cancelled.', 'cancel-self');
    backHome();
  }
}

export async function toggleMic(): Promise<void> {
  if (!sdk) return;
  const mute = state.micOn;
  await sdk.setMicMute(mute).then(
    () => (state.micOn = !mute),
    () => {},
  );
}

export async function toggleCamera(): Promise<void> {
  const calling = sdk;
  if (!calling) return;
  if (state.cameraOn) await calling.closeCamera().catch(() => {});
  else await calling.openCamera().catch(() => {});
  syncLocal();
}

export async function switchCallType(): Promise<void> {
  const calling = sdk;
  if (!calling || !features.switchCallType) return;
  state.busy = true;
  try {
    if (state.callType === 2) await calling.switchToAudioCall();
    else await calling.switchToVideoCall();
  } catch {
    // shown by ERROR
  } finally {
    state.busy = false;
    syncLocal();
  }
}

export interface DeviceChoice { deviceId: string; label: string }

export async function listDevices(): Promise<{ cameras: DeviceChoice[]; microphones: DeviceChoice[]; camera: string; microphone: string }> {
  const calling = sdk;
  if (!calling) return { cameras: [], microphones: [], camera: '', microphone: '' };
  const name = (list: MediaDeviceInfo[], what: string) => list.map((d, i) => ({ deviceId: d.deviceId, label: d.label || `${what} ${i + 1}` }));
  const [cameras, microphones] = await Promise.all([calling.getCameras().catch(() => []), calling.getMicrophones().catch(() => [])]);
  const stream = calling.getLocalStream();
  const current = (t: MediaStreamTrack | undefined) => (t?.getSettings().deviceId as string | undefined) ?? '';
  return { cameras: name(cameras, 'Camera'), microphones: name(microphones, 'Microphone'), camera: current(stream?.getVideoTracks()[0]), microphone: current(stream?.getAudioTracks()[0]) };
}

export async function switchDevice(deviceType: 'video' | 'audio', deviceId: string): Promise<boolean> {
  const calling = sdk;
  if (!calling || !features.switchDevice) return false;
  try {
    await calling.switchDevice({ deviceType, deviceId });
    return true;
  } catch {
    return false;
  } finally {
    syncLocal();
  }
}

// ---- views ----

/** Shows the camera in the element with id LOCAL_VIEW_ID (called when such an element mounts). */
export function showLocalView(): void {
  const calling = sdk;
  if (!calling || !state.me) return;
  void nextTick(() => calling.startLocalView({ userID: state.me, videoViewDomID: LOCAL_VIEW_ID }).catch(() => {}));
}

export function showRemoteView(userID: string): void {
  const calling = sdk;
  if (!calling) return;
  void nextTick(() => calling.startRemoteView({ userID, videoViewDomID: remoteViewID(userID) }).catch(() => {}));
}

export function hideRemoteView(userID: string): void {
  void sdk?.stopRemoteView({ userID }).catch(() => {});
}

/** The SDK object, for people poking around in the console (and for the tests). */
export function currentSdk(): TRTCCalling | null {
  return sdk;
}

// ---- events ----

function wire(calling: TRTCCalling): void {
  const E = TRTCCalling.EVENT;
  const T = TRTCCalling.TUICallEvent;
  // Payload types come from the SDK's EventMap: the demo declares none of its own.
  const on = <K extends keyof EventMap>(event: K, fn: (p: EventMap[K]) => void) =>
    calling.on(event, (p: EventMap[K]) => {
      if (sdk === calling) fn(p);
    });

  on(E.ERROR, (e) => {
    if (state.screen === 'login') return; // the login form shows it
    toast(describeError(e.code, e.message), `error:${e.code}`, 'error');
  });

  on(E.INVITED, (p) => {
    resetCall();
    const others = p.userIDList.filter((id) => id !== state.me && id !== p.sponsor);
    state.role = 'callee';
    state.callType = p.inviteData.callType;
    state.incoming = { sponsor: p.sponsor, others, callType: p.inviteData.callType, inviteID: p.inviteID };
    state.participants = [p.sponsor, ...others].map((userID) => ({ userID, status: userID === p.sponsor ? 'connecting' : 'waiting', audio: false, video: false }));
    state.screen = 'incoming';
  });

  on(T.onCallBegin, (p) => {
    state.callType = p.callMediaType === 1 ? 2 : 1;
    state.startedAt = Date.now();
    state.now = state.startedAt;
    state.screen = 'incall';
    syncLocal();
  });

  on(E.USER_ACCEPT, ({ userID }) => {
    const p = participant(userID);
    if (p && p.status === 'waiting') p.status = 'connecting';
  });

  on(E.USER_ENTER, ({ userID }) => {
    const p = participant(userID) ?? addParticipant(userID);
    const wasJoined = p.status === 'joined';
    p.status = 'joined';
    showRemoteView(userID);
    if (!wasJoined && state.participants.length > 1) toast(`${userID} joined the call.`, 'join');
  });

  on(E.USER_LEAVE, ({ userID }) => {
    removeParticipant(userID);
    if (state.screen === 'incall') toast(`${userID} left the call.`, 'leave');
  });

  on(E.USER_AUDIO_AVAILABLE, ({ userID, isAudioAvailable }) => {
    const p = participant(userID);
    if (p) p.audio = isAudioAvailable;
  });

  on(E.USER_VIDEO_AVAILABLE, ({ userID, isVideoAvailable }) => {
    const p = participant(userID);
    if (p) p.video = isVideoAvailable;
  });

  on(E.REJECT, ({ userID }) => {
    removeParticipant(userID);
    toast(`${userID} declined the call.`, 'reject', 'warn');
  });

  on(E.NO_RESP, ({ userID }) => {
    removeParticipant(userID);
    toast(`${userID} did not answer.`, 'no-answer', 'warn');
  });

  on(E.LINE_BUSY, ({ userID }) => {
    removeParticipant(userID);
    toast(`${userID} is busy on another call.`, 'busy', 'warn');
  });

  on(E.CALLING_CANCEL, ({ userID }) => {
    toast(`${userID || 'The caller'} cancelled the call.`, 'cancelled', 'warn');
    backHome();
  });

  on(E.CALLING_TIMEOUT, () => {
    const from = state.incoming?.sponsor;
    toast(from ? `Missed call from ${from}.` : 'Missed call.', 'missed', 'warn');
    backHome();
  });

  // An unconnected call is over (everyone declined, no answer, busy, cancelled, or we declined).
  on(T.onCallCancelled, () => {
    if (state.screen === 'outgoing' || state.screen === 'incoming') backHome();
  });

  on(E.CALL_END, (p) => {
    const wasInCall = state.screen === 'incall';
    backHome();
    if (wasInCall) toast(`Call ended · ${formatDuration(p.totalTime * 1000)}`, 'ended');
  });

  on(E.GROUP_CALL_INVITEE_LIST_UPDATE, ({ userIDList }) => {
    if (state.screen !== 'incall' && state.screen !== 'outgoing') return;
    for (const id of userIDList) if (id !== state.me && !participant(id)) addParticipant(id);
  });

  on(T.onCallMediaTypeChanged, ({ newCallMediaType }) => {
    const type: CallType = newCallMediaType === 1 ? 2 : 1;
    if (state.callType === type) return;
    state.callType = type;
    toast(type === 2 ? 'Switched to a video call.' : 'Switched to an audio call.', 'media-type');
    syncLocal();
    // The camera opens a moment later when the other side asked for video.
    if (type === 2) setTimeout(syncLocal, 800);
  });

  // TUICallKit's onUserVoiceVolumeChanged carries the same map: one of the two is enough.
  on(E.USER_VOICE_VOLUME, (p) => {
    if (state.screen !== 'incall') return;
    for (const [id, v] of Object.entries(p.volumeMap)) if (state.volumes[id] !== v) state.volumes[id] = v;
  });

  on(T.onUserNetworkQualityChanged, (p) => {
    if (state.screen !== 'incall') return;
    for (const [id, q] of p) state.quality[id] = q;
  });

  on(E.KICKED_OUT, () => signedOut(`You were signed out: “${state.me}” signed in somewhere else.`));
  on(T.onUserSigExpired, () => signedOut('Your UserSig expired. Sign in again.'));
  on('onConnectionStateChanged', ({ state: s }) => {
    state.connection = s;
    if (s === 'disconnected') signedOut('The connection to the call server was lost. Sign in again.');
  });
}

// ---- helpers ----

function participant(userID: string): Participant | undefined {
  return state.participants.find((p) => p.userID === userID);
}

function addParticipant(userID: string): Participant {
  state.participants.push({ userID, status: 'waiting', audio: false, video: false });
  return state.participants[state.participants.length - 1]!;
}

function removeParticipant(userID: string): void {
  const i = state.participants.findIndex((p) => p.userID === userID);
  if (i >= 0) state.participants.splice(i, 1);
  delete state.volumes[userID];
  delete state.quality[userID];
}

/** Reads what the SDK is really sending: camera open or not. */
function syncLocal(): void {
  const stream = sdk?.getLocalStream();
  state.cameraOn = (stream?.getVideoTracks().length ?? 0) > 0;
}

function resetCall(): void {
  state.role = null;
  state.invitees = [];
  state.incoming = null;
  state.participants = [];
  state.startedAt = 0;
  state.micOn = true;
  state.cameraOn = true;
  state.volumes = {};
  state.quality = {};
}

function backHome(): void {
  resetCall();
  if (state.me) state.screen = 'home';
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function loadRecent(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem('opencall-demo:recent') ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').slice(0, 5) : [];
  } catch {
    return [];
  }
}

function rememberRecent(entry: string): void {
  state.recent = [entry, ...state.recent.filter((r) => r !== entry)].slice(0, 5);
  try {
    localStorage.setItem('opencall-demo:recent', JSON.stringify(state.recent));
  } catch {
    // storage may be off: recent calls are a convenience only
  }
}

// Ring while an invitation is ringing here, ring back while ours rings elsewhere; the call
// clock ticks (and the camera state is re-read) while a call is on.
watch(
  () => state.screen,
  (screen) => {
    // A new call starts: what was said about the last one is old news.
    if (screen === 'incoming' || screen === 'outgoing') state.toasts.splice(0);
    if (screen === 'incoming') ringtone.start('incoming');
    else if (screen === 'outgoing') ringtone.start('outgoing');
    else ringtone.stop();
    if (screen === 'incall' && !clock) {
      clock = setInterval(() => {
        state.now = Date.now();
        syncLocal();
      }, 1000);
    } else if (screen !== 'incall' && clock) {
      clearInterval(clock);
      clock = null;
    }
  },
);
