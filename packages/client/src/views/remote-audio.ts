interface Player {
  el: HTMLAudioElement;
  stream: MediaStream;
  /** The stream's audio track ids when it was attached. */
  tracks: string;
  disarm?: () => void;
}

const trackIDs = (stream: MediaStream): string => stream.getAudioTracks().map((t) => t.id).join();

/**
 * Plays remote users' audio when the app shows no remote view for them (an audio call, or a
 * UI that renders video itself). A remote view's `<video>` already plays the sound, so a user
 * with a view gets no second element: no double audio.
 */
export class RemoteAudio {
  private readonly players = new Map<string, Player>();

  /** `wanted`: users in the call with their streams; `hasView`: whether a remote view plays that user. */
  sync(wanted: Map<string, MediaStream | null>, hasView: (userID: string) => boolean): void {
    const doc = (globalThis as { document?: Document }).document;
    if (!doc?.body) return;
    for (const [userID, p] of [...this.players]) {
      const stream = wanted.get(userID);
      // New audio tracks in the same stream (an SFU connection was rebuilt): a fresh element plays them.
      if (!stream || hasView(userID) || stream !== p.stream || trackIDs(stream) !== p.tracks) this.remove(userID);
    }
    for (const [userID, stream] of wanted) {
      if (!stream || hasView(userID) || this.players.has(userID)) continue;
      const el = doc.createElement('audio');
      el.autoplay = true;
      el.setAttribute('data-opencall-audio', userID);
      el.style.display = 'none';
      el.srcObject = stream;
      doc.body.appendChild(el);
      const player: Player = { el, stream, tracks: trackIDs(stream) };
      this.players.set(userID, player);
      el.play().catch(() => {
        // Autoplay refused: play at the next click, tap or key press.
        const retry = () => {
          player.disarm?.();
          el.play().catch(() => {});
        };
        for (const t of ['pointerdown', 'keydown', 'touchend']) doc.addEventListener(t, retry, { capture: true, passive: true });
        player.disarm = () => {
          for (const t of ['pointerdown', 'keydown', 'touchend']) doc.removeEventListener(t, retry, { capture: true });
          player.disarm = undefined;
        };
      });
    }
  }

  clear(): void {
    for (const userID of [...this.players.keys()]) this.remove(userID);
  }

  private remove(userID: string): void {
    const p = this.players.get(userID);
    if (!p) return;
    this.players.delete(userID);
    p.disarm?.();
    p.el.srcObject = null;
    p.el.remove();
  }
}
