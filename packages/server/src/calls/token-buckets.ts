/**
 * Token buckets by key (a caller, or a caller→callee pair): `burst` tokens at most, refilled at
 * `perMinute` tokens a minute. Time comes from the caller (the engine's clock), so a manual clock
 * drives it in tests.
 *
 * Memory stays bounded: a bucket that has had time to refill completely is the same as no
 * bucket, so it is dropped; buckets are kept in the order they were last used, which makes the
 * oldest ones the first to be full again (dropped from the front, a few per call). Past
 * `maxKeys` the least recently used bucket is dropped even if not yet full: a flood of distinct
 * keys then loosens the limit for the oldest of them instead of growing memory.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  /** How long an empty bucket takes to fill up (ms). */
  private readonly fullAfterMs: number;

  constructor(
    readonly perMinute: number,
    readonly burst: number,
    private readonly maxKeys = 100_000,
  ) {
    this.fullAfterMs = (burst * 60_000) / perMinute;
  }

  /** Tokens `key` has at `now` (whole or not). */
  available(key: string, now: number): number {
    const b = this.buckets.get(key);
    return b === undefined ? this.burst : this.refilled(b, now);
  }

  /** Takes one token from `key` (the caller checked {@link available} first). */
  take(key: string, now: number): void {
    const b = this.buckets.get(key);
    const tokens = (b === undefined ? this.burst : this.refilled(b, now)) - 1;
    this.buckets.delete(key); // re-inserted last: the Map's order is the order of last use
    this.buckets.set(key, { tokens, at: now });
    this.sweep(now);
  }

  /** ms until `key` has a whole token again (0: it has one). */
  waitMs(key: string, now: number): number {
    const missing = 1 - this.available(key, now);
    return missing <= 0 ? 0 : Math.ceil((missing * 60_000) / this.perMinute);
  }

  /** Buckets held (for tests and operations). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(b: { tokens: number; at: number }, now: number): number {
    return Math.min(this.burst, b.tokens + (Math.max(0, now - b.at) * this.perMinute) / 60_000);
  }

  private sweep(now: number): void {
    let dropped = 0;
    for (const [key, b] of this.buckets) {
      const full = now - b.at >= this.fullAfterMs;
      if (!full && this.buckets.size <= this.maxKeys) break;
      this.buckets.delete(key);
      // A few per call keeps each take cheap; every take drops at least the one it may have added.
      if (++dropped >= 4 && this.buckets.size <= this.maxKeys) break;
    }
  }
}
