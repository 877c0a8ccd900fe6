/**
 * Minimal typed client for the Janus WebRTC Server's JSON API over WebSocket.
 *
 * Only the signaling server talks to Janus (clients never do), so this client
 * is deliberately small: one WebSocket, one Janus session, any number of plugin
 * handles on it. Written against Janus 1.1.x (multistream API) but uses nothing
 * that changed between 0.x and 1.x at the core-protocol level.
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

/** An SDP offer/answer as Janus carries it in the `jsep` field. */
export interface Jsep {
  type: 'offer' | 'answer';
  sdp: string;
  /** Set by Janus 1.x when the peer negotiated end-to-end encryption (insertable streams). */
  e2ee?: boolean;
  [extra: string]: unknown;
}

/** An ICE candidate in the shape browsers (and Janus) use for trickle. */
export interface JanusIceCandidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/** Result of a plugin request: the plugin's `data` object and, if any, the JSEP that came with it. */
export interface PluginResponse<T extends object = Record<string, unknown>> {
  data: T;
  jsep?: Jsep;
}

/** Asynchronous notifications Janus pushes for a handle (not replies to a pending request). */
export type JanusHandleEvent =
  /** An asynchronous plugin event (e.g. VideoRoom `publishers`, `unpublished`, `leaving`). */
  | { type: 'event'; data: Record<string, unknown>; jsep?: Jsep }
  /** The PeerConnection for this handle is up (ICE + DTLS done). */
  | { type: 'webrtcup' }
  /** Janus started or stopped receiving media on one stream. */
  | { type: 'media'; mediaType: string; mid?: string; receiving: boolean }
  /** The PeerConnection for this handle went away. */
  | { type: 'hangup'; reason?: string }
  /** Janus detected packet loss in one direction. */
  | { type: 'slowlink'; uplink: boolean; mid?: string; mediaType?: string; lost?: number }
  /** The handle was detached (by us, by the plugin, or because the session died). */
  | { type: 'detached' }
  /** A Janus-side ICE candidate (only sent when Janus runs with full_trickle); null = gathering done. */
  | { type: 'trickle'; candidate: JanusIceCandidate | null };

export type JanusHandleEventType = JanusHandleEvent['type'];
type EventOf<K extends JanusHandleEventType> = Extract<JanusHandleEvent, { type: K }>;

/** Options for {@link JanusClient.connect}. */
export interface JanusConnectOptions {
  /** Must match `api_secret` in janus.jcfg when that is set. */
  apiSecret?: string;
  /** Per-request token when Janus runs with `token_auth`. */
  token?: string;
  /** How long a request may wait for its final reply (default 10 s). */
  requestTimeoutMs?: number;
  /** How long the WebSocket handshake may take (default 5 s). */
  connectTimeoutMs?: number;
  /** Session keepalive period; must stay below Janus's `session_timeout` (default 25 s vs 60 s). */
  keepaliveIntervalMs?: number;
}

/** Per-call overrides for a single request. */
export interface RequestOptions {
  timeoutMs?: number;
}

/** A failure reported by the Janus core (`{"janus":"error"}`) or by the transport. */
export class JanusError extends Error {
  override name = 'JanusError';
  constructor(
    message: string,
    /** Janus API error code (see Janus `apierror.h`), or 0 for client-side failures such as timeouts. */
    readonly code = 0,
  ) {
    super(message);
  }
}

/** A plugin replied, but with `error_code`/`error` in its data (e.g. VideoRoom 426 "No such room"). */
export class JanusPluginError extends JanusError {
  override name = 'JanusPluginError';
  constructor(
    message: string,
    code: number,
    /** The plugin's full `data` object, for callers that need more than the code. */
    readonly data: Record<string, unknown>,
  ) {
    super(message, code);
  }
}

/** Raw shape of anything Janus sends on the WebSocket; fields depend on `janus`. */
interface JanusInbound {
  janus: string;
  transaction?: string;
  session_id?: number;
  sender?: number;
  data?: { id?: number; [k: string]: unknown };
  error?: { code: number; reason: string };
  plugindata?: { plugin: string; data: Record<string, unknown> };
  jsep?: Jsep;
  // Async notification fields.
  type?: string;
  mid?: string;
  receiving?: boolean;
  reason?: string;
  uplink?: boolean;
  media?: string;
  lost?: number;
  candidate?: (JanusIceCandidate & { completed?: boolean }) | { completed: true };
}

/** Which reply ends a transaction. Async plugin requests get an `ack` first and finish with an `event`. */
type ReplyMode = 'success' | 'ack' | 'plugin';

interface Pending {
  mode: ReplyMode;
  resolve: (msg: JanusInbound) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_KEEPALIVE_MS = 25_000;

/**
 * One WebSocket connection to Janus carrying (at most) one Janus session.
 *
 * Lifecycle: `connect()` → `createSession()` → `attach()` … → `destroySession()` → `close()`.
 */
export class JanusClient {
  private readonly pending = new Map<string, Pending>();
  private readonly handles = new Map<number, JanusHandle>();
  private readonly closeListeners = new Set<(reason: Error) => void>();
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private sessionIdValue: number | undefined;
  private closed = false;
  private closeReason: Error | undefined;

  private constructor(
    private readonly ws: WebSocket,
    private readonly opts: Required<Pick<JanusConnectOptions, 'requestTimeoutMs' | 'keepaliveIntervalMs'>> &
      Pick<JanusConnectOptions, 'apiSecret' | 'token'>,
  ) {
    ws.on('message', (raw) => this.onMessage(raw.toString()));
    ws.on('close', (code, reason) =>
      this.shutdown(new JanusError(`Janus WebSocket closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`)),
    );
    // 'error' is always followed by 'close'; a listener is needed so ws does not throw.
    ws.on('error', () => {});
  }

  /**
   * Opens a WebSocket to Janus (subprotocol `janus-protocol`, which Janus requires).
   * Rejects if the handshake fails or takes longer than `connectTimeoutMs`.
   */
  static connect(url: string, options: JanusConnectOptions = {}): Promise<JanusClient> {
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'janus-protocol');
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new JanusError(`Timed out connecting to Janus at ${url}`));
      }, connectTimeoutMs);
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(new JanusError(`Cannot connect to Janus at ${url}: ${err.message}`));
      };
      ws.once('error', onError);
      ws.once('open', () => {
        clearTimeout(timer);
        ws.off('error', onError);
        resolve(
          new JanusClient(ws, {
            apiSecret: options.apiSecret,
            token: options.token,
            requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
            keepaliveIntervalMs: options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_MS,
          }),
        );
      });
    });
  }

  /** The Janus session id, once {@link createSession} has succeeded. */
  get sessionId(): number | undefined {
    return this.sessionIdValue;
  }

  /** True once the WebSocket is gone (after {@link close} or a connection loss). */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Creates the Janus session and starts the keepalive timer (Janus destroys
   * sessions that stay silent for `session_timeout`, 60 s by default).
   */
  async createSession(options?: RequestOptions): Promise<number> {
    if (this.sessionIdValue !== undefined) throw new JanusError('Janus session already created');
    const reply = await this.request({ janus: 'create' }, 'success', options);
    const id = reply.data?.id;
    if (typeof id !== 'number') throw new JanusError('Janus "create" reply carried no session id');
    this.sessionIdValue = id;
    this.keepaliveTimer = setInterval(() => {
      // A failed keepalive needs no handling here: if the socket died, 'close' reports it;
      // if Janus dropped the session, it sends a 'timeout' that also ends up in shutdown().
      this.request({ janus: 'keepalive', session_id: id }, 'ack').catch(() => {});
    }, this.opts.keepaliveIntervalMs);
    // The keepalive alone must not keep a process (or a test worker) alive.
    this.keepaliveTimer.unref();
    return id;
  }

  /** Attaches to a plugin (e.g. `janus.plugin.videoroom`) and returns the new handle. */
  async attach(plugin: string, options?: RequestOptions & { opaqueId?: string }): Promise<JanusHandle> {
    const sessionId = this.requireSession();
    const body: Record<string, unknown> = { janus: 'attach', session_id: sessionId, plugin };
    if (options?.opaqueId) body.opaque_id = options.opaqueId;
    const reply = await this.request(body, 'success', options);
    const id = reply.data?.id;
    if (typeof id !== 'number') throw new JanusError('Janus "attach" reply carried no handle id');
    const handle = new JanusHandle(this, plugin, id);
    this.handles.set(id, handle);
    return handle;
  }

  /**
   * Destroys the session; Janus detaches (and hangs up) every handle on it.
   * Safe to call when no session exists.
   */
  async destroySession(options?: RequestOptions): Promise<void> {
    const sessionId = this.sessionIdValue;
    if (sessionId === undefined) return;
    this.stopKeepalive();
    this.sessionIdValue = undefined;
    try {
      await this.request({ janus: 'destroy', session_id: sessionId }, 'success', options);
    } finally {
      for (const handle of this.handles.values()) handle._markDetached();
      this.handles.clear();
    }
  }

  /**
   * Closes the WebSocket. Pending requests are rejected. Janus treats the
   * transport going away as the end of the session (reclaim_session_timeout = 0).
   */
  close(): Promise<void> {
    if (this.closed && this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => this.ws.terminate(), 2_000);
      force.unref();
      this.ws.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      this.shutdown(new JanusError('Janus client closed'));
      if (this.ws.readyState === WebSocket.CLOSED) {
        clearTimeout(force);
        resolve();
      } else {
        this.ws.close(1000);
      }
    });
  }

  /** Called once when the connection ends for any reason; returns an unsubscribe function. */
  onClose(listener: (reason: Error) => void): () => void {
    if (this.closed && this.closeReason) {
      listener(this.closeReason);
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** @internal Used by {@link JanusHandle}; sends a request bound to the session. */
  _sessionRequest(body: Record<string, unknown>, mode: ReplyMode, options?: RequestOptions): Promise<JanusInbound> {
    return this.request({ ...body, session_id: this.requireSession() }, mode, options);
  }

  /** @internal Forget a handle after it was detached. */
  _forgetHandle(id: number): void {
    this.handles.delete(id);
  }

  private requireSession(): number {
    if (this.sessionIdValue === undefined) throw new JanusError('No Janus session: call createSession() first');
    return this.sessionIdValue;
  }

  private request(body: Record<string, unknown>, mode: ReplyMode, options?: RequestOptions): Promise<JanusInbound> {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(this.closeReason ?? new JanusError('Janus WebSocket is not open'));
    }
    const transaction = randomBytes(12).toString('base64url');
    const msg: Record<string, unknown> = { ...body, transaction };
    if (this.opts.apiSecret !== undefined) msg.apisecret = this.opts.apiSecret;
    if (this.opts.token !== undefined) msg.token = this.opts.token;
    const timeoutMs = options?.timeoutMs ?? this.opts.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(transaction);
        reject(new JanusError(`Janus "${String(body.janus)}" request timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(transaction, { mode, resolve, reject, timer });
      this.ws.send(JSON.stringify(msg), (err) => {
        if (!err) return;
        const p = this.pending.get(transaction);
        if (!p) return;
        this.pending.delete(transaction);
        clearTimeout(p.timer);
        reject(new JanusError(`Failed to send Janus request: ${err.message}`));
      });
    });
  }

  private onMessage(text: string): void {
    let msg: JanusInbound;
    try {
      msg = JSON.parse(text) as JanusInbound;
    } catch {
      return; // Janus only sends JSON; anything else is not ours to interpret.
    }
    if (typeof msg !== 'object' || msg === null || typeof msg.janus !== 'string') return;

    if (msg.transaction !== undefined && this.settle(msg)) return;

    if (msg.janus === 'timeout' && msg.session_id === this.sessionIdValue) {
      // Janus already destroyed the session; nothing on it can be used any more.
      this.stopKeepalive();
      this.sessionIdValue = undefined;
      for (const handle of this.handles.values()) handle._markDetached();
      this.handles.clear();
      return;
    }

    if (msg.sender === undefined) return;
    const handle = this.handles.get(msg.sender);
    if (!handle) return;
    const event = toHandleEvent(msg);
    if (event) handle._emit(event);
    if (event?.type === 'detached') {
      handle._markDetached();
      this.handles.delete(msg.sender);
    }
  }

  /** Completes the pending request the message answers, if any. Returns true if consumed. */
  private settle(msg: JanusInbound): boolean {
    const transaction = msg.transaction as string;
    const p = this.pending.get(transaction);
    if (!p) return false;

    const done = (fn: () => void) => {
      this.pending.delete(transaction);
      clearTimeout(p.timer);
      fn();
    };

    switch (msg.janus) {
      case 'error': {
        const code = msg.error?.code ?? 0;
        done(() => p.reject(new JanusError(`Janus error ${code}: ${msg.error?.reason ?? 'unknown'}`, code)));
        return true;
      }
      case 'ack':
        // For async plugin requests the ack only says "queued"; the answer comes later as an event.
        if (p.mode === 'plugin') return true;
        done(() => p.resolve(msg));
        return true;
      case 'success':
      case 'event':
        if (msg.janus === 'event' && p.mode !== 'plugin') return false;
        done(() => p.resolve(msg));
        return true;
      default:
        // Other message types (webrtcup, media, …) never carry our transaction in practice;
        // let them fall through to handle event dispatch.
        return false;
    }
  }

  private stopKeepalive(): void {
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
  }

  private shutdown(reason: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.stopKeepalive();
    for (const [transaction, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(transaction);
      p.reject(reason);
    }
    for (const handle of this.handles.values()) handle._markDetached();
    this.handles.clear();
    for (const listener of this.closeListeners) listener(reason);
    this.closeListeners.clear();
  }
}

/** One attachment to a Janus plugin; for the VideoRoom, one per publisher / subscriber / admin role. */
export class JanusHandle {
  private readonly listeners = new Map<JanusHandleEventType, Set<(event: JanusHandleEvent) => void>>();
  private detachedFlag = false;

  /** @internal Created by {@link JanusClient.attach}. */
  constructor(
    private readonly client: JanusClient,
    /** Plugin package name, e.g. `janus.plugin.videoroom`. */
    readonly plugin: string,
    /** Janus handle id (the `sender` of events for this handle). */
    readonly id: number,
  ) {}

  /** True after {@link detach}, a `detached` event, session destruction or connection loss. */
  get detached(): boolean {
    return this.detachedFlag;
  }

  /**
   * Sends a plugin request (`{"janus":"message"}`), optionally with a JSEP offer/answer.
   *
   * Resolves with the plugin's reply whether the plugin answers synchronously
   * (`success`) or asynchronously (`ack`, then an `event` with the same
   * transaction). Rejects with {@link JanusPluginError} if the plugin reports
   * `error_code`, with {@link JanusError} for core errors and timeouts.
   */
  async message<T extends object = Record<string, unknown>>(
    body: Record<string, unknown>,
    jsep?: Jsep,
    options?: RequestOptions,
  ): Promise<PluginResponse<T>> {
    this.requireAttached();
    const req: Record<string, unknown> = { janus: 'message', handle_id: this.id, body };
    if (jsep) req.jsep = jsep;
    const reply = await this.client._sessionRequest(req, 'plugin', options);
    const data = reply.plugindata?.data;
    if (!data) throw new JanusError(`Janus "${reply.janus}" reply carried no plugin data`);
    if (typeof data.error_code === 'number' || typeof data.error === 'string') {
      const code = typeof data.error_code === 'number' ? data.error_code : 0;
      throw new JanusPluginError(`${this.plugin} error ${code}: ${String(data.error ?? 'unknown')}`, code, data);
    }
    const response: PluginResponse<T> = { data: data as T };
    if (reply.jsep) response.jsep = reply.jsep;
    return response;
  }

  /**
   * Trickles one ICE candidate from the peer to Janus; `null` signals
   * end-of-candidates. Resolves when Janus acknowledges.
   */
  async trickle(candidate: JanusIceCandidate | null, options?: RequestOptions): Promise<void> {
    this.requireAttached();
    await this.client._sessionRequest(
      { janus: 'trickle', handle_id: this.id, candidate: candidate ?? { completed: true } },
      'ack',
      options,
    );
  }

  /** Asks Janus to tear down this handle's PeerConnection but keep the handle. */
  async hangup(options?: RequestOptions): Promise<void> {
    this.requireAttached();
    await this.client._sessionRequest({ janus: 'hangup', handle_id: this.id }, 'success', options);
  }

  /** Detaches the handle (Janus also hangs up its PeerConnection). Safe to call twice. */
  async detach(options?: RequestOptions): Promise<void> {
    if (this.detachedFlag) return;
    try {
      await this.client._sessionRequest({ janus: 'detach', handle_id: this.id }, 'success', options);
    } finally {
      this._markDetached();
      this.client._forgetHandle(this.id);
    }
  }

  /**
   * Subscribes to an asynchronous notification for this handle. Replies to
   * pending {@link message} calls are not delivered here. Returns an
   * unsubscribe function.
   */
  on<K extends JanusHandleEventType>(type: K, listener: (event: EventOf<K>) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    const wrapped = listener as (event: JanusHandleEvent) => void;
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  /**
   * Resolves with the next notification of the given type (optionally one
   * matching `predicate`); rejects after `timeoutMs` (default 10 s).
   */
  waitFor<K extends JanusHandleEventType>(
    type: K,
    predicate: (event: EventOf<K>) => boolean = () => true,
    timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ): Promise<EventOf<K>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new JanusError(`Timed out waiting for "${type}" on handle ${this.id}`));
      }, timeoutMs);
      const off = this.on(type, (event) => {
        if (!predicate(event)) return;
        clearTimeout(timer);
        off();
        resolve(event);
      });
    });
  }

  /** @internal */
  _emit(event: JanusHandleEvent): void {
    const set = this.listeners.get(event.type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch {
        // One faulty listener must not stop the others or kill the socket handler.
      }
    }
  }

  /** @internal */
  _markDetached(): void {
    this.detachedFlag = true;
  }

  private requireAttached(): void {
    if (this.detachedFlag) throw new JanusError(`Janus handle ${this.id} is detached`);
  }
}

/** Maps a raw Janus notification to the typed event union; undefined for anything else. */
function toHandleEvent(msg: JanusInbound): JanusHandleEvent | undefined {
  switch (msg.janus) {
    case 'event': {
      const data = msg.plugindata?.data;
      if (!data) return undefined;
      return msg.jsep ? { type: 'event', data, jsep: msg.jsep } : { type: 'event', data };
    }
    case 'webrtcup':
      return { type: 'webrtcup' };
    case 'media': {
      const ev: JanusHandleEvent = { type: 'media', mediaType: msg.type ?? 'unknown', receiving: msg.receiving === true };
      if (msg.mid !== undefined) ev.mid = msg.mid;
      return ev;
    }
    case 'hangup':
      return msg.reason !== undefined ? { type: 'hangup', reason: msg.reason } : { type: 'hangup' };
    case 'slowlink': {
      const ev: JanusHandleEvent = { type: 'slowlink', uplink: msg.uplink === true };
      if (msg.mid !== undefined) ev.mid = msg.mid;
      if (msg.media !== undefined) ev.mediaType = msg.media;
      if (msg.lost !== undefined) ev.lost = msg.lost;
      return ev;
    }
    case 'detached':
      return { type: 'detached' };
    case 'trickle': {
      const c = msg.candidate;
      if (!c || ('completed' in c && c.completed)) return { type: 'trickle', candidate: null };
      return { type: 'trickle', candidate: c as JanusIceCandidate };
    }
    default:
      return undefined;
  }
}
