// Prometheus metrics of the fan-out, on the broker's own registry (src/http/metrics.ts). Gauges that
// describe shared state (quarantine, auth failures, queue depth, open dead letters) are read from the
// database at scrape time, so every broker process reports the same truth, not what it happened to see
// itself; every configured app has a sample, zero included (alerts built on absent() must not misfire).
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type pg from "pg";
import * as gauges from "./fanout-metrics-repository.ts";
import type { PerApp } from "./fanout-metrics-repository.ts";

/** `apps`: the names of the active policy's apps (each gets a sample, 0 when the database has no row). */
export function createFanoutMetrics(registry: Registry, pool: pg.Pool, apps: () => readonly string[] = () => []) {
  const registers = [registry];
  const leaverSla = new Histogram({
    name: "broker_leaver_sla_seconds",
    help: "Leaver SLA: from the HR request to the last app's confirmed deprovisioning",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers,
  });
  const deliveries = new Counter({
    name: "broker_fanout_deliveries_total",
    help: "Delivery job outcomes per app (created, matched, updated, disabled, deleted, absent, noop, retry, dead_letter, deferred)",
    labelNames: ["app", "outcome"],
    registers,
  });
  const leaverFastPath = new Counter({
    name: "broker_fanout_leaver_fast_path_total",
    help: "Leavers delivered by the process that committed them (leaver-fast-path.ts): settled (every app, guarantee job removed), handed-over (some app left to its job: paused, failing, busy, newer change), failed",
    labelNames: ["outcome"],
    registers,
  });
  const requests = new Histogram({
    name: "broker_fanout_request_duration_seconds",
    help: "Outbound SCIM requests to apps",
    labelNames: ["app", "method", "status"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    registers,
  });
  // Collected from the database on scrape; a failing query keeps the previous values (a scrape must not fail).
  const readInto = async (gauge: Gauge<"app">, read: (q: pg.Pool) => Promise<PerApp>) => {
    try {
      const rows = await read(pool);
      gauge.reset();
      for (const app of apps()) gauge.set({ app }, 0);
      for (const r of rows) gauge.set({ app: r.app }, r.n);
    } catch { /* database unavailable: /readyz reports it */ }
  };
  const perAppGauge = (name: string, help: string, read: (q: pg.Pool) => Promise<PerApp>) =>
    new Gauge({ name, help, labelNames: ["app"], registers, async collect() { await readInto(this, read); } });
  perAppGauge("broker_app_quarantined", "1 while an app is quarantined (failing continuously; its deliveries wait for a successful probe)", gauges.quarantinedApps);
  perAppGauge("broker_app_auth_failing", "1 while an app refuses the broker's credentials (401/403, token endpoint, unset credential); its deliveries wait", gauges.authFailingApps);
  perAppGauge("broker_fanout_queue_depth", "Accounts and groups per app whose desired state is not yet confirmed by the app", gauges.queueDepths);
  perAppGauge("broker_fanout_dead_letters", "Open (not replayed) dead letters per app", gauges.openDeadLetters);
  return { leaverSla, deliveries, requests, leaverFastPath };
}
export type FanoutMetrics = ReturnType<typeof createFanoutMetrics>;
