import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

/** How long one dependency may take to answer before it counts as down: /readyz never waits longer. */
export const READY_TIMEOUT_MS = 1000;

/** One dependency /readyz asks: `probe` resolves when it answered, rejects (with details for the log) when not. */
export interface ReadinessCheck {
  /** Shown in the body: `redis`, `postgres`, `sqlite`, `janus`. */
  name: string;
  probe(): Promise<void>;
}

/** What the body says about one dependency. `error` is generic: details (addresses, driver messages) go to the log only. */
export type DependencyState = { ok: true; latencyMs: number } | { ok: false; error: 'timeout' | 'unavailable' };

export interface ReadinessReport {
  status: 'ready' | 'unready';
  checks: Record<string, DependencyState>;
}

/**
 * Asks every configured dependency at once, each bounded by `timeoutMs`. At most one probe per
 * dependency is in flight: concurrent /readyz requests share it, so polling a hung database
 * cannot pile up connections. Changes of state (up → down, down → up) are logged with details.
 */
export class Readiness {
  private readonly inflight = new Map<string, Promise<number>>();
  private readonly down = new Set<string>();

  constructor(
    private readonly checks: readonly ReadinessCheck[],
    private readonly log: Logger,
    private readonly timeoutMs = READY_TIMEOUT_MS,
  ) {}

  async report(): Promise<ReadinessReport> {
    const states = await Promise.all(this.checks.map((c) => this.ask(c)));
    const checks = Object.fromEntries(this.checks.map((c, i) => [c.name, states[i]!]));
    return { status: states.every((s) => s.ok) ? 'ready' : 'unready', checks };
  }

  private async ask(c: ReadinessCheck): Promise<DependencyState> {
    let probe = this.inflight.get(c.name);
    if (!probe) {
      const t0 = performance.now();
      // A probe that throws synchronously is a failure like any other.
      probe = Promise.resolve()
        .then(() => c.probe())
        .then(() => performance.now() - t0);
      this.inflight.set(c.name, probe);
      const clear = () => this.inflight.delete(c.name);
      probe.then(clear, clear);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.timeoutMs)));
    try {
      const r = await Promise.race([probe, timeout]);
      if (r === 'timeout') return this.failed(c.name, 'timeout', `no answer within ${this.timeoutMs} ms`);
      if (this.down.delete(c.name)) this.log.info({ event: 'readiness.up', dependency: c.name }, `readiness: ${c.name} answers again`);
      return { ok: true, latencyMs: Math.round(r * 10) / 10 };
    } catch (err) {
      return this.failed(c.name, 'unavailable', (err as Error)?.message ?? String(err));
    } finally {
      clearTimeout(timer);
    }
  }

  private failed(name: string, error: 'timeout' | 'unavailable', detail: string): DependencyState {
    if (!this.down.has(name)) {
      this.down.add(name);
      this.log.warn({ event: 'readiness.down', dependency: name, error, detail }, `readiness: ${name} does not answer (${detail})`);
    }
    return { ok: false, error };
  }
}

/**
 * `GET /readyz`: 200 `{status: 'ready', checks}` when every configured dependency answered, 503
 * `{status: 'unready', checks}` otherwise. Register it after the rate limit: unlike `/healthz`,
 * each request costs the dependencies a round trip.
 */
export function registerReadinessRoute(app: FastifyInstance, readiness: Readiness): void {
  app.get('/readyz', async (_req, reply) => {
    const r = await readiness.report();
    return reply.status(r.status === 'ready' ? 200 : 503).header('cache-control', 'no-store').send(r);
  });
}
