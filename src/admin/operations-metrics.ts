// Operations gauges on the broker's registry (src/http/metrics.ts), read from the database at scrape time
// like the fan-out's queue depth: every broker process reports the same truth, not what it saw itself.
//   broker_reviews_open{kind}                 pending reviews per kind; every kind has a sample, 0 included
//                                             (an alert on absent() must not misfire)
//   broker_app_leaver_sla_seconds{app,quantile}  per app, p50 and p99 of the time from the HR request to the
//                                             app's confirmed deprovisioning, over the last 24 hours
//   broker_app_leavers_pending{app}           leavers of the last 24 hours the app has not confirmed yet
// (broker_leaver_sla_seconds, the histogram of the whole leaver across all apps, is the fan-out's.)
import { Gauge, type Registry } from "prom-client";
import type pg from "pg";
import type { Clock } from "../domain/clock.ts";
import { REVIEW_KINDS } from "../lifecycle/review-store.ts";
import { appOverview } from "./app-overview-repository.ts";

const WINDOW_MS = 24 * 3_600_000;

export function createOperationsMetrics(registry: Registry, pool: pg.Pool, clock: Clock): void {
  const registers = [registry];
  // A failing query keeps the previous values: a scrape must not fail (/readyz reports the database).
  new Gauge({
    name: "broker_reviews_open", help: "Pending reviews by kind", labelNames: ["kind"], registers,
    async collect() {
      try {
        const { rows } = await pool.query(`SELECT kind, count(*)::int AS n FROM review WHERE status = 'pending' GROUP BY kind`);
        this.reset();
        for (const kind of REVIEW_KINDS) this.set({ kind }, 0);
        for (const r of rows) this.set({ kind: r.kind }, r.n);
      } catch { /* keep the last values */ }
    },
  });
  // One read serves both per-app gauges of a scrape (prom-client collects them one after the other).
  let last: { at: number; read: ReturnType<typeof appOverview> } | undefined;
  const overview = () => {
    const now = Date.now();
    if (!last || now - last.at > 1000) last = { at: now, read: appOverview(pool, new Date(clock.now().getTime() - WINDOW_MS)) };
    return last.read;
  };
  new Gauge({
    name: "broker_app_leaver_sla_seconds", help: "Per app: p50 and p99 of the leaver SLA (HR request to the app's confirmation), last 24 hours",
    labelNames: ["app", "quantile"], registers,
    async collect() {
      try {
        const items = await overview();
        this.reset();
        for (const a of items) {
          if (a.leaverSla.p50Ms !== null) this.set({ app: a.app, quantile: "0.5" }, a.leaverSla.p50Ms / 1000);
          if (a.leaverSla.p99Ms !== null) this.set({ app: a.app, quantile: "0.99" }, a.leaverSla.p99Ms / 1000);
        }
      } catch { /* keep the last values */ }
    },
  });
  new Gauge({
    name: "broker_app_leavers_pending", help: "Per app: leavers of the last 24 hours the app has not confirmed yet", labelNames: ["app"], registers,
    async collect() {
      try {
        const items = await overview();
        this.reset();
        for (const a of items) this.set({ app: a.app }, a.leaverSla.pending);
      } catch { /* keep the last values */ }
    },
  });
}
