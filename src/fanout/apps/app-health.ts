// App health: a failure streak quarantines an app, a success releases it. While quarantined, the app's jobs
// make no requests: they are re-scheduled past the next probe and their accounts show "quarantined", so no
// worker slot waits on a dead app and every other app is served as usual.
//
// Two kinds of quarantine (app_state.quarantine_kind), one mechanism:
//   outage  after BROKER_FANOUT_QUARANTINE_AFTER consecutive outage-like failures (network, timeout, 5xx,
//           an OAuth2 token endpoint down); a 4xx is about one request, and a 429 is the app pacing us
//           (handled by its Retry-After pause), not the app being down;
//   auth    at the first authentication failure (401/403 after one OAuth2 token refresh, a token endpoint
//           refusing our client, a credential variable not set): one rotated token fails every request,
//           so waiting for a streak would only burn leavers' attempts. Shown as status `auth-failing`.
// Nothing of either kind is ever dead-lettered: deliveries wait (leavers included) and go out the moment
// the app answers again.
//
// Release: the probe — one job per app, keyed, so one per cluster — asks a cheap question (a filter that
// matches nobody, authenticated like every request) at `probe_at`, first ~1 s after the quarantine, then
// doubling up to the probe interval (a 20 s outage costs seconds, not a 30 s probe period); and any request
// that succeeds, in any process (a delivery in flight, `apps test`), releases it at once. Release enqueues
// the whole backlog. Events older than the last transition are ignored (a request started before a release
// that fails after it does not re-quarantine; one started before a quarantine that succeeds after it does
// not end an auth episode), so each episode logs FANOUT_APP_QUARANTINED or FANOUT_APP_AUTH_FAILING once
// and FANOUT_APP_RECOVERED once.
//
// probe_at is on the injected clock: tests move time and call probe() instead of waiting.
import type { Task } from "graphile-worker";
import type pg from "pg";
import type { FanoutSettings } from "../../config/config.ts";
import type { Clock } from "../../domain/clock.ts";
import type { Logger } from "../../shared/logger.ts";
import type { AppRegistry } from "./app-registry.ts";
import { AppHttpError } from "../client/app-http-error.ts";
import * as states from "./app-state-repository.ts";
import { enqueueBacklog, PRIORITY, PROBE_TASK, probeJobKey, rescheduleJob, type ProbeJob } from "../../jobs/fanout-jobs.ts";

export const OUTAGE_CODES: ReadonlySet<string> = new Set(["FANOUT_NETWORK", "FANOUT_TIMEOUT", "FANOUT_UNAVAILABLE", "FANOUT_AUTH_TOKEN"]);

/** First probe after a quarantine (then doubling, capped at the configured probe interval). */
export const FIRST_PROBE_MS = 1000;

export interface HealthDeps { pool: pg.Pool; apps: AppRegistry; log: Logger; clock: Clock; settings: FanoutSettings }

export type ProbeOutcome = "released" | "failing" | "not-due" | "not-quarantined";

export class AppHealth {
  constructor(private readonly d: HealthDeps) {}

  get #firstProbeMs(): number { return Math.min(FIRST_PROBE_MS, this.d.settings.probeIntervalMs); }

  /**
   * A request failed. Auth failures quarantine the app as auth-failing at once; outage-like ones count
   * towards the threshold; others are about the request, not the app. `startedAt`: when the failed
   * request began. Returns what the caller should do with its delivery:
   *   "stale"       the app was released after this request began (it hung through the outage): try again now;
   *   "quarantined" the app is quarantined: wait for the release (which enqueues the delivery), no attempt used;
   *   "retry"       back off as usual.
   */
  async recordFailure(app: string, error: AppHttpError, startedAt: Date): Promise<"stale" | "quarantined" | "retry"> {
    const { settings, pool, log, clock } = this.d;
    if (error.authFailure) {
      const r = await states.recordAuthFailure(pool, app, summary(error), clock.now(), startedAt, this.#firstProbeMs);
      if (r === "now") {
        this.#logAuthFailing(app, error);
        await this.#scheduleProbe(app);
      }
      return r === "stale" ? "stale" : "quarantined";
    }
    if (!OUTAGE_CODES.has(error.code) || (error.code === "FANOUT_AUTH_TOKEN" && !error.retryable)) return "retry";
    const r = await states.recordFailure(pool, app, summary(error), clock.now(), startedAt, settings.quarantineAfter, this.#firstProbeMs);
    if (r.quarantined === "now") {
      // Stable code for alerting on logs; the metric broker_app_quarantined{app} reads app_state.
      log.error({ app, code: "FANOUT_APP_QUARANTINED", failures: r.failures, lastError: summary(error) },
        `app '${app}' quarantined after ${r.failures} consecutive failures; deliveries wait for it to answer again`);
      await this.#scheduleProbe(app);
    }
    return r.stale ? "stale" : r.quarantined ? "quarantined" : "retry";
  }

  /**
   * A request to the app succeeded (a delivery, a test, a probe): the failure streak ends and a quarantine
   * is released, with its backlog enqueued. `startedAt`: when the request began.
   */
  async recordSuccess(app: string, startedAt: Date, probeMs?: number): Promise<boolean> {
    const { pool, log, clock } = this.d;
    const released = await states.recordSuccess(pool, app, clock.now(), startedAt);
    if (!released) return false;
    if (released === "streak") {
      // A failure streak ended short of a quarantine: deliveries backing off from it need not wait any longer.
      await enqueueBacklog(pool, app, ["pending"], { retryingOnly: true });
      return false;
    }
    const queued = await enqueueBacklog(pool, app);
    log.warn({ app, code: "FANOUT_APP_RECOVERED", kind: released, ...(probeMs !== undefined ? { probeMs: Math.round(probeMs) } : {}), backlog: queued },
      `app '${app}' answers again; quarantine released, ${queued} deliveries catching up`);
    return true;
  }

  /** Persists a Retry-After pause so every broker process honours it. */
  async pause(app: string, ms: number): Promise<void> {
    await states.pauseApp(this.d.pool, app, new Date(this.d.clock.now().getTime() + ms));
  }

  /** How long a job of a quarantined app sleeps: past the next probe, spread (release enqueues it anyway). */
  waitMs(probeAt: Date | null): number {
    const now = this.d.clock.now().getTime();
    const spread = Math.random() * this.d.settings.probeIntervalMs;
    return Math.max((probeAt?.getTime() ?? now) - now, FIRST_PROBE_MS) + spread;
  }

  /** A job found the app quarantined: re-adds a probe lost to a crash (the probe job is keyed: harmless). */
  async ensureProbe(app: string, probeAt: Date | null): Promise<void> {
    if ((probeAt?.getTime() ?? 0) < this.d.clock.now().getTime() - this.d.settings.probeIntervalMs)
      await rescheduleJob(this.d.pool, PROBE_TASK, probeJobKey(app), { app } satisfies ProbeJob, 0, PRIORITY.maintenance);
  }

  /**
   * Probes a quarantined app when its probe is due (on the injected clock): releases it on success, else
   * backs off (doubling, up to the probe interval). The probe task runs this; tests call it directly.
   */
  async probe(app: string): Promise<ProbeOutcome> {
    const { pool, apps, log, settings, clock } = this.d;
    const runtime = apps.get(app);
    if (!runtime) return "not-quarantined";
    const now = clock.now();
    // The statement that finds the probe due also takes it: concurrent probers never probe twice.
    const claim = await states.claimProbe(pool, app, now, runtime.config.timeoutMs + FIRST_PROBE_MS);
    if (!claim.quarantined) return "not-quarantined";
    if (!claim.claimed) {
      // (the probe job re-reads the clock then: a test's manual clock decides when it is due)
      await this.#scheduleProbe(app, Math.max((claim.probeAt?.getTime() ?? now.getTime()) - now.getTime(), 0));
      return "not-due";
    }
    const started = performance.now();
    try {
      await runtime.probe(AbortSignal.timeout(runtime.config.timeoutMs));
      await this.recordSuccess(app, now, performance.now() - started);
      return "released";
    } catch (e) {
      if (!(e instanceof AppHttpError)) throw e;
      const next = await states.deferProbe(pool, app, clock.now(), this.#firstProbeMs, settings.probeIntervalMs, summary(e), e.authFailure);
      if (next.becameAuthFailing) this.#logAuthFailing(app, e);
      log.info({ app, code: e.code, nextProbe: next.probeAt }, "quarantined app still failing");
      await this.#scheduleProbe(app, next.probeAt.getTime() - clock.now().getTime());
      return "failing";
    }
  }

  /** The probe task (keyed per app: one per cluster). */
  probeTask(): Task {
    return async (payload) => {
      await this.probe((payload as ProbeJob).app);
    };
  }

  /** Once per auth-failing episode (stable code for alerting on logs). */
  #logAuthFailing(app: string, error: AppHttpError): void {
    this.d.log.error({ app, code: "FANOUT_APP_AUTH_FAILING", status: error.status ?? null, reason: error.code },
      `app '${app}' refuses the broker's credentials (${error.code}); deliveries wait (none is dead-lettered) until it authenticates again`);
  }

  async #scheduleProbe(app: string, inMs = this.#firstProbeMs): Promise<void> {
    await rescheduleJob(this.d.pool, PROBE_TASK, probeJobKey(app), { app } satisfies ProbeJob, inMs, PRIORITY.maintenance);
  }
}

/** What we store about a failure (never the cause chain; AppHttpError already scrubbed secrets). */
export function summary(e: AppHttpError): Record<string, unknown> {
  return { code: e.code, status: e.status ?? null, method: e.method, path: e.path, message: e.message, ...(e.body ? { body: e.body } : {}) };
}
