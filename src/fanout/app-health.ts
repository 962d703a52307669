// App health: a failure streak quarantines an app, a probe releases it. While quarantined, the app's jobs
// make no requests: they are re-scheduled past the next probe (spread over one probe interval) and their
// accounts show "quarantined", so no worker slot waits on a dead app and every other app is served as
// usual. The probe — one job per app, keyed, so one per cluster — asks the app a cheap question (a filter
// that matches nobody); when it answers, the app is released and its whole backlog is enqueued to run now
// ("catches up when it recovers"). Failed probes back off exponentially up to 10× the probe interval.
//
// Only outage-like failures count (network, timeout, 5xx, an OAuth token endpoint down); a 4xx is about one
// request, and a 429 is the app pacing us (handled by its Retry-After pause), not the app being down.
import type { Task } from "graphile-worker";
import type pg from "pg";
import type { FanoutSettings } from "../config/config.ts";
import type { Clock } from "../shared/clock.ts";
import type { Logger } from "../shared/logger.ts";
import type { AppRegistry } from "./app-registry.ts";
import { AppHttpError } from "./app-http-error.ts";
import * as states from "./app-state-repository.ts";
import { enqueueBacklog, PRIORITY, PROBE_TASK, probeJobKey, rescheduleJob, type ProbeJob } from "./fanout-jobs.ts";

export const OUTAGE_CODES: ReadonlySet<string> = new Set(["FANOUT_NETWORK", "FANOUT_TIMEOUT", "FANOUT_UNAVAILABLE", "FANOUT_AUTH_TOKEN"]);

export interface HealthDeps { pool: pg.Pool; apps: AppRegistry; log: Logger; clock: Clock; settings: FanoutSettings }

export class AppHealth {
  constructor(private readonly d: HealthDeps) {}

  /** Counts an outage-like failure; quarantines the app (and schedules its probe) at the threshold. */
  async recordFailure(app: string, error: AppHttpError): Promise<void> {
    if (!OUTAGE_CODES.has(error.code) || (error.code === "FANOUT_AUTH_TOKEN" && !error.retryable)) return;
    const { settings, pool, log } = this.d;
    const r = await states.recordFailure(pool, app, summary(error), this.d.clock.now(), settings.quarantineAfter, settings.probeIntervalMs);
    if (r.quarantined === "now") {
      // Stable code for alerting on logs; the metric broker_app_quarantined{app} reads app_state.
      log.error({ app, code: "FANOUT_APP_QUARANTINED", failures: r.failures, lastError: summary(error) },
        `app '${app}' quarantined after ${r.failures} consecutive failures; deliveries wait for a successful probe`);
      await rescheduleJob(pool, PROBE_TASK, probeJobKey(app), { app } satisfies ProbeJob, settings.probeIntervalMs, PRIORITY.maintenance);
    }
  }

  /** Ends a failure streak (the caller only asks when it saw one). */
  async recordSuccess(app: string): Promise<void> {
    await states.recordSuccess(this.d.pool, app, this.d.clock.now());
  }

  /** Persists a Retry-After pause so every broker process honours it. */
  async pause(app: string, ms: number): Promise<void> {
    await states.pauseApp(this.d.pool, app, new Date(Date.now() + ms));
  }

  /** The probe task: release on success (and enqueue the backlog), else try again later. */
  probeTask(): Task {
    return async (payload) => {
      const { app } = payload as ProbeJob;
      const { pool, apps, log, settings, clock } = this.d;
      const runtime = apps.get(app);
      const state = await states.appState(pool, app);
      if (!runtime || !state?.quarantined) return;
      try {
        const { ms } = await runtime.probe(AbortSignal.timeout(runtime.config.timeoutMs));
        if (await states.releaseQuarantine(pool, app, clock.now())) {
          const queued = await enqueueBacklog(pool, app);
          log.warn({ app, code: "FANOUT_APP_RECOVERED", probeMs: Math.round(ms), backlog: queued }, `app '${app}' answers again; quarantine released, ${queued} deliveries catching up`);
        }
      } catch (e) {
        if (!(e instanceof AppHttpError)) throw e;
        const next = await states.deferProbe(pool, app, clock.now(), settings.probeIntervalMs, settings.probeIntervalMs * 10, summary(e));
        log.info({ app, code: e.code, nextProbe: next }, "quarantined app still failing");
        await rescheduleJob(pool, PROBE_TASK, probeJobKey(app), { app } satisfies ProbeJob, next.getTime() - Date.now(), PRIORITY.maintenance);
      }
    };
  }
}

/** What we store about a failure (never the cause chain; AppHttpError already scrubbed secrets). */
export function summary(e: AppHttpError): Record<string, unknown> {
  return { code: e.code, status: e.status ?? null, method: e.method, path: e.path, message: e.message, ...(e.body ? { body: e.body } : {}) };
}
