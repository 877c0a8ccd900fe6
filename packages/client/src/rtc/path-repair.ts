/** How long `disconnected` may last before we stop waiting for ICE to recover by itself. */
const DISCONNECTED_GRACE_MS = 3_000;
/** Backoff between ICE restarts while the path stays broken: 2 s, 4 s, 8 s, then every 15 s. */
const RESTART_RETRY_MS = 2_000;
const RESTART_RETRY_MAX_MS = 15_000;
/** After a rebuild, the new connection gets this long to come up before the next repair step. */
const REBUILD_CONNECT_MS = 8_000;

/**
 * Media path repair of one RTCPeerConnection (a mesh link, or one of the two SFU connections):
 * once it has connected, a path that goes `failed`, or stays `disconnected` for more than 3 s,
 * gets an ICE restart; while it stays broken, another after 2, 4 and 8 s, then every 15 s, until
 * the path is back or the repair is closed (leave, hang-up). Call {@link watch} on every ICE and
 * connection state change.
 *
 * A connection the far end dropped for good (the SFU hung it up) is rebuilt instead of restarted:
 * {@link lose} says so and asks for one prompt step, in which the callback builds a new
 * connection; {@link replace} puts that one under watch, and if it does not come up (the network
 * is still down) the same backoff goes on, with at least 8 s for a rebuilt connection to connect.
 */
export class PathRepair {
  /** ICE restarts started (diagnostics and tests); rebuilds are not counted. */
  restarts = 0;
  private wasConnected = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private due = 0;
  private attempts = 0;
  /** A restart's signaling is under way: a new one would cross it. */
  private busy = false;
  private closed = false;
  /** The far end dropped the connection: broken whatever its state says, until replaced. */
  private lost = false;

  constructor(
    private pc: RTCPeerConnection,
    /**
     * Starts an ICE restart: `false` if none can start now (the backoff tries again); a promise
     * keeps further restarts back until it settles.
     */
    private readonly restart: () => boolean | Promise<unknown>,
  ) {}

  watch(): void {
    if (this.closed) return;
    const state = this.lost ? 'failed' : pathState(this.pc);
    if (state === 'ok') {
      this.wasConnected = true;
      clearTimeout(this.timer);
      this.timer = undefined;
      this.attempts = 0;
      return;
    }
    if (!this.wasConnected) return;
    // A blip may heal by itself (ICE keeps checking): give `disconnected` a moment; `failed` is
    // final until restarted. Once restarts are under way the backoff timer alone decides, so
    // quick re-failures cannot turn into a restart storm.
    if (state === 'failed' && this.attempts === 0) this.schedule(0);
    else if (state === 'disconnected') this.schedule(DISCONNECTED_GRACE_MS);
  }

  /** The far end dropped the connection: repair it now (rebuild), or soon if repairs are under way. */
  lose(): void {
    if (this.closed) return;
    this.lost = true;
    this.wasConnected = true;
    // One prompt step (the network may be back: say, this news came with a resumed session);
    // Janus drops a connection at most every several seconds, so this cannot turn into a storm.
    this.schedule(0);
  }

  /** A rebuilt connection takes the dropped one's place; the backoff goes on if it does not come up. */
  replace(pc: RTCPeerConnection): void {
    this.pc = pc;
    this.lost = false;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** Arms the timer for `delayMs` from now unless it is already due sooner. */
  private schedule(delayMs: number): void {
    const due = Date.now() + delayMs;
    if (this.timer !== undefined && this.due <= due) return;
    clearTimeout(this.timer);
    this.due = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.repair();
    }, delayMs);
  }

  private repair(): void {
    const rebuild = this.lost;
    if (this.closed || (!rebuild && pathState(this.pc) === 'ok')) return;
    this.attempts++;
    if (!this.busy) {
      const started = this.restart();
      if (started !== false && !rebuild) this.restarts++;
      if (started instanceof Promise) {
        this.busy = true;
        started
          .catch(() => {
            /* refused or timed out (say, the signaling connection is resuming): the backoff retries */
          })
          .finally(() => (this.busy = false));
      }
    }
    // If the network is still down the restart cannot succeed, and new credentials gather only
    // on the interfaces present now: keep restarting, backing off, while the path stays broken.
    const backoff = Math.min(RESTART_RETRY_MS * 2 ** (this.attempts - 1), RESTART_RETRY_MAX_MS);
    this.schedule(rebuild ? Math.max(backoff, REBUILD_CONNECT_MS) : backoff);
  }
}

/** 'disconnected' may still heal by itself; 'pending' is new/checking/connecting. */
function pathState(pc: RTCPeerConnection): 'ok' | 'failed' | 'disconnected' | 'pending' {
  const ice = pc.iceConnectionState;
  const conn = pc.connectionState;
  if (ice === 'failed' || conn === 'failed') return 'failed';
  if (ice === 'disconnected' || conn === 'disconnected') return 'disconnected';
  return (ice === 'connected' || ice === 'completed') && conn === 'connected' ? 'ok' : 'pending';
}
