import { misuse } from '../errors.js';

/** Marks the `<video>` elements the SDK creates, so they can be found and reused. */
const VIEW_ATTRIBUTE = 'data-opencall-view';
/** How often active views check that they still show the current stream (see {@link VideoViews}). */
const WATCH_INTERVAL_MS = 1000;
const GESTURES = ['pointerdown', 'keydown', 'touchend'] as const;

/** The page's document, or a clear error where there is none (Node, workers). */
function pageDocument(): Document {
  const doc = (globalThis as { document?: Document }).document;
  if (!doc || typeof doc.getElementById !== 'function') throw misuse.badArgument('views need a browser page: there is no document here');
  return doc;
}

/** The ids of a stream's tracks: a changed signature means the element must be re-attached. */
function signature(stream: MediaStream | null): string {
  return stream ? stream.getTracks().map((t) => t.id).join(',') : '';
}

/**
 * One `<video>` element showing a MediaStream inside the app's DOM node (found by id).
 *
 * - The element is created inside the node (or an earlier SDK-created one there is reused)
 *   with `autoplay`, `playsInline`, `object-fit: cover` and 100% width and height. If the id
 *   names a `<video>` element itself, that element is used as is.
 * - The local view is muted (no echo of one's own microphone) and mirrored like a selfie
 *   view, as trtc-js-sdk does by default.
 * - Autoplay: browsers may refuse to play a remote view with sound before the user has
 *   interacted with the page. Then the view is played muted at once (so the picture shows)
 *   and unmuted at the next click, tap or key press anywhere on the page; should unmuting be
 *   refused again, it stays muted and tries at the following gesture.
 * - {@link stop} removes the element the SDK created; the app's node is never removed.
 */
export class VideoView {
  readonly video: HTMLVideoElement;
  private readonly created: boolean;
  private stream: MediaStream | null = null;
  private tracks = '';
  /** The remote view was muted only because autoplay with sound was refused. */
  private mutedForAutoplay = false;
  private disarmGesture: (() => void) | null = null;
  private stopped = false;

  /** Throws INVALID_ARGUMENT when there is no document or no element with that id. */
  constructor(
    readonly domID: string,
    readonly local: boolean,
  ) {
    const doc = pageDocument();
    const node = doc.getElementById(domID);
    if (!node) throw misuse.badArgument(`there is no element with id "${domID}" in the page`);
    if (node.tagName === 'VIDEO') {
      this.video = node as HTMLVideoElement;
      this.created = false;
    } else {
      const existing = node.querySelector<HTMLVideoElement>(`video[${VIEW_ATTRIBUTE}]`);
      this.video = existing ?? doc.createElement('video');
      this.created = true;
      this.video.setAttribute(VIEW_ATTRIBUTE, local ? 'local' : 'remote');
      const s = this.video.style;
      s.width = '100%';
      s.height = '100%';
      s.objectFit = 'cover';
      s.display = 'block';
      s.transform = local ? 'scaleX(-1)' : '';
      if (!existing) node.appendChild(this.video);
    }
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = local;
  }

  /** Whether the element is still in the page (an app re-render may have replaced the node). */
  get inPage(): boolean {
    return this.video.isConnected;
  }

  /**
   * Puts the element back into the node with this view's id if the app re-created it; true
   * when the element is in the page afterwards.
   */
  remount(): boolean {
    if (this.video.isConnected) return true;
    if (!this.created) return false;
    const node = pageDocument().getElementById(this.domID);
    if (!node) return false;
    node.appendChild(this.video);
    return true;
  }

  /** Shows `stream` (null: shows nothing). Re-attaches when the stream or its tracks changed. */
  attach(stream: MediaStream | null): void {
    if (this.stopped) return;
    const tracks = signature(stream);
    if (stream === this.stream && tracks === this.tracks) return;
    this.stream = stream;
    this.tracks = tracks;
    this.video.srcObject = stream;
    if (stream && tracks) this.play();
  }

  /** Stops showing anything; the element stays where it is. */
  detach(): void {
    this.disarm();
    if (!this.stream && !this.video.srcObject) return;
    this.stream = null;
    this.tracks = '';
    this.video.pause();
    this.video.srcObject = null;
  }

  /** Stops and removes the element the SDK created (an app's own `<video>` is only emptied). */
  stop(): void {
    if (this.stopped) return;
    this.detach();
    this.stopped = true;
    if (this.created) this.video.remove();
  }

  private play(): void {
    const video = this.video;
    const stream = this.stream;
    video.play().catch((err: unknown) => {
      if (this.stopped || this.stream !== stream) return;
      if ((err as { name?: string })?.name !== 'NotAllowedError') return; // AbortError: a newer attach took over
      if (video.muted || !stream?.getAudioTracks().length) return;
      // Autoplay with sound refused: show the picture muted now, unmute on the next gesture.
      this.mutedForAutoplay = true;
      video.muted = true;
      video.play().catch(() => {});
      this.armGesture();
    });
  }

  private armGesture(): void {
    if (this.disarmGesture) return;
    const doc = (globalThis as { document?: Document }).document;
    if (!doc) return;
    const onGesture = () => {
      this.disarm();
      if (this.stopped || !this.mutedForAutoplay) return;
      const video = this.video;
      video.muted = false;
      video.play().then(
        () => {
          this.mutedForAutoplay = false;
        },
        () => {
          if (this.stopped) return;
          video.muted = true;
          video.play().catch(() => {});
          this.armGesture();
        },
      );
    };
    for (const type of GESTURES) doc.addEventListener(type, onGesture, { capture: true, passive: true });
    this.disarmGesture = () => {
      for (const type of GESTURES) doc.removeEventListener(type, onGesture, { capture: true });
      this.disarmGesture = null;
    };
  }

  private disarm(): void {
    this.disarmGesture?.();
  }
}

type StreamSource = () => MediaStream | null;

interface ActiveView {
  view: VideoView;
  source: StreamSource;
}

/** Key of the local view in {@link VideoViews}. */
export const LOCAL_VIEW = 'local';

/**
 * The views an SDK instance shows, keyed by `'local'` or `remote:<userID>`. Each view knows
 * where its stream comes from, and {@link refresh} re-attaches any view whose stream changed
 * (camera reopened or switched, a remote track added, a peer connection restarted). The SDK
 * refreshes on every change it knows of; a light timer (once a second, only while views are
 * active) catches the rest, and also puts views back after a framework re-created the node.
 */
export class VideoViews {
  private readonly views = new Map<string, ActiveView>();
  private timer: ReturnType<typeof setInterval> | null = null;

  /**
   * Shows `source()` in the node with id `domID`, now and whenever it changes. Starting a key
   * again reuses its element for the same node and moves the view to a new node.
   * Throws INVALID_ARGUMENT when there is no document or no such node.
   */
  start(key: string, domID: string, source: StreamSource): void {
    if (typeof domID !== 'string' || domID.length === 0) throw misuse.badArgument('videoViewDomID must be the id of an element in the page');
    const local = key === LOCAL_VIEW;
    const old = this.views.get(key);
    if (old && old.view.domID === domID && old.view.inPage) {
      old.source = source;
      old.view.attach(source());
      return;
    }
    const view = new VideoView(domID, local); // throws before the old view is touched
    if (old && old.view.video !== view.video) old.view.stop();
    this.views.set(key, { view, source });
    view.attach(source());
    this.watch();
  }

  /** Stops a view and removes its element; false when there was none. */
  stop(key: string): boolean {
    const active = this.views.get(key);
    if (!active) return false;
    this.views.delete(key);
    active.view.stop();
    this.watch();
    return true;
  }

  has(key: string): boolean {
    return this.views.has(key);
  }

  /** Re-attaches every view whose stream or tracks changed. */
  refresh(): void {
    for (const { view, source } of this.views.values()) {
      if (!view.remount()) {
        view.detach();
        continue;
      }
      view.attach(source());
    }
  }

  /**
   * The call is over (hang-up, logout, lost connection): remote views are stopped and their
   * elements removed; the local view shows nothing (its element stays, and shows the camera
   * again when it is next opened, until stopLocalView()).
   */
  endCall(): void {
    for (const key of [...this.views.keys()]) {
      if (key !== LOCAL_VIEW) this.stop(key);
    }
    this.views.get(LOCAL_VIEW)?.view.detach();
    this.watch();
  }

  /** Runs the refresh timer only while there are views. */
  private watch(): void {
    if (this.views.size > 0 && !this.timer) {
      this.timer = setInterval(() => this.refresh(), WATCH_INTERVAL_MS);
      (this.timer as { unref?: () => void }).unref?.();
    } else if (this.views.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
