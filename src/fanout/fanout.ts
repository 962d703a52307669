// Composition of the fan-out layer, called once by the composition root (broker.ts): the FanoutPort that
// lifecycle calls inside HR transactions, the graphile-worker tasks, the admin service, and start/stop for
// the worker-side machinery (crash recovery sweeps, policy refresh, scheduled reconciliation).
//
// The app list follows the active policy (lifecycle's PolicyHolder): `policy()` is read without I/O on the
// hot paths and compared by version; a periodic refresh picks up a policy another process applied.
import type { Runner, TaskList } from "graphile-worker";
import { requeueIfRevised } from "../jobs/job-queue.ts";
import type pg from "pg";
import type { Registry } from "prom-client";
import type { FanoutSettings } from "../config/config.ts";
import type { FanoutPort } from "../lifecycle/fanout-port.ts";
import type { Clock } from "../domain/clock.ts";
import type { Logger } from "../shared/logger.ts";
import { addJob } from "../jobs/job-queue.ts";
import type { AppConfig } from "../domain/app-config.ts";
import { AppHealth } from "./apps/app-health.ts";
import { AppRegistry } from "./apps/app-registry.ts";
import { missingCredentials } from "./client/app-auth.ts";
import { ensureAppStates } from "./apps/app-state-repository.ts";
import { groupSyncTask } from "./delivery/group-task.ts";
import { userDeliveryTask } from "./delivery/user-task.ts";
import type { FanoutContext } from "./delivery/fanout-context.ts";
import { enqueueOrphans, GROUP_TASK, PRIORITY, PROBE_TASK, RECONCILE_TASK, reconcileJobKey, rescheduleJob, TEST_TASK, USER_TASK, type ReconcileJob, type TestJob } from "../jobs/fanout-jobs.ts";

/** An owed delivery without a job for this long is enqueued again (enqueueOrphans). */
const ORPHAN_STALE_MS = 5 * 60_000;
import { createFanoutMetrics } from "./delivery/fanout-metrics.ts";
import { FanoutService } from "./fanout-service.ts";
import { FanoutOutbox } from "./delivery/outbox.ts";
import type { PolicyHolder } from "../lifecycle/policy-holder.ts";
import { ProcessRegistry } from "./delivery/process-registry.ts";
import { SecretBox } from "./apps/secret-box.ts";
import { TokenVault } from "./apps/token-vault.ts";

export interface FanoutOptions {
  pool: pg.Pool;
  /** For the process registry's dedicated connection (its session holds the liveness lock). */
  databaseUrl: string;
  log: Logger;
  clock: Clock;
  /** The broker's Prometheus registry (src/http/metrics.ts). */
  registry: Registry;
  settings: FanoutSettings;
  /** graphile-worker concurrency of this process (sizes the per-app admission cap). */
  workerConcurrency: number;
  /**
   * The active policy (lifecycle/policy-holder.ts), built by the composition root before the fan-out and the
   * lifecycle: its `last` is read without I/O on the hot paths; `refresh` picks up a policy another process
   * applied.
   */
  policies: Pick<PolicyHolder, "last" | "refresh">;
  /** Where the key for secrets at rest comes from: BROKER_SECRET_KEY, else <BROKER_DATA_DIR>/secret.key. */
  secrets: { secretKey?: string; dataDir: string };
  /**
   * The server's environment, the only source of app credentials' `${VAR}` references (resolved when the
   * fan-out authenticates, auth.ts). The CLI passes none: it never uses an operator's shell secrets.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

export function createFanout(o: FanoutOptions) {
  const log = o.log.child({ component: "fanout" });
  const metrics = createFanoutMetrics(o.registry, o.pool, () => o.policies.last.policy.apps.map((a) => a.name));
  // Encryption key loaded (or generated into the data directory) only when an OAuth2 app first needs it.
  const tokens = new TokenVault(o.pool, () => SecretBox.load(o.secrets), o.env);
  const apps = new AppRegistry({
    log, workerConcurrency: o.workerConcurrency, tokens, env: o.env, clock: o.clock,
    onResponse: (e) => metrics.requests.observe({ app: e.app, method: e.method, status: String(e.status ?? "none") }, e.durationMs / 1000),
  });
  let version: string | undefined;
  let statesPending = false;
  let serving = false;
  /** A worker process says at once which app credentials it cannot resolve (names only, never values). */
  const checkCredentials = () => {
    for (const a of apps.list()) {
      const missing = missingCredentials(a.config.auth, o.env ?? {});
      if (missing.length) log.error({ app: a.name, code: "FANOUT_CREDENTIAL_MISSING", variables: missing },
        `app '${a.name}': ${missing.map((n) => `\${${n}}`).join(", ")} not set in the broker's environment; the app will be auth-failing`);
    }
  };
  /** In-memory: adopt the policy's apps if its version changed. */
  const syncNow = () => {
    const p = o.policies.last.policy;
    if (p.version === version) return;
    apps.update(p.apps);
    version = p.version;
    statesPending = true;
    if (serving) checkCredentials();
  };
  const ensureStates = async () => {
    if (!statesPending) return;
    statesPending = false;
    await ensureAppStates(o.pool, apps.list().map((a) => a.name)).catch((e) => { statesPending = true; throw e; });
  };
  const sync = async () => {
    await o.policies.refresh(o.pool);
    syncNow();
    await ensureStates();
  };

  const processes = new ProcessRegistry({ databaseUrl: o.databaseUrl, pool: o.pool, log, sweepIntervalMs: o.settings.sweepIntervalMs });
  const health = new AppHealth({ pool: o.pool, apps, log, clock: o.clock, settings: o.settings });
  const ctx: FanoutContext = { pool: o.pool, apps, log, clock: o.clock, settings: o.settings, metrics, health, processes };
  const service = new FanoutService({ pool: o.pool, apps, clock: o.clock, log, sync, health });
  const outbox = new FanoutOutbox(apps);

  const port: FanoutPort = {
    userChanged: (tx, e) => (syncNow(), outbox.userChanged(tx, e)),
    membershipChanged: (tx, e) => (syncNow(), outbox.membershipChanged(tx, e)),
    userDeleted: (tx, e) => (syncNow(), outbox.userDeleted(tx, e)),
  };

  /** Every task first adopts a changed policy (cheap when unchanged). */
  const synced = (task: NonNullable<TaskList[string]>): TaskList[string] => async (payload, helpers) => {
    syncNow();
    await ensureStates();
    const out = await task(payload, helpers);
    // a change merged into this job while it ran would be lost with it (job-queue.ts requeueIfRevised)
    if (await requeueIfRevised(o.pool, helpers.job)) metrics.deliveries.inc({ app: "-", outcome: "requeued-revised" });
    return out;
  };
  const tasks: TaskList = {
    [USER_TASK]: synced(userDeliveryTask(ctx, o.workerConcurrency)),
    [GROUP_TASK]: synced(groupSyncTask(ctx, o.workerConcurrency)),
    [PROBE_TASK]: synced(health.probeTask()),
    [RECONCILE_TASK]: synced(async (payload) => {
      const job = payload as ReconcileJob;
      if (!apps.get(job.app)) return;
      if (job.scheduled) {
        try {
          // Scheduled runs report, and re-disable leavers (the one fix that is always safe).
          await service.reconcile(job.app, "leavers", "schedule");
        } catch (e) {
          log.warn({ app: job.app, err: (e as Error).message }, "scheduled reconciliation failed");
        }
        if (o.settings.reconcileIntervalMs > 0)
          await rescheduleJob(o.pool, RECONCILE_TASK, reconcileJobKey(job.app), { app: job.app, scheduled: true }, o.settings.reconcileIntervalMs, PRIORITY.maintenance);
        return;
      }
      await service.reconcile(job.app, job.fix ? "all" : "none", "api", job.runId).catch((e) => log.warn({ app: job.app, err: (e as Error).message }, "reconciliation failed"));
    }),
    [TEST_TASK]: synced(async (payload) => {
      const job = payload as TestJob;
      await service.runTest(job.app, job.runId);
    }),
  };

  let refresher: NodeJS.Timeout | undefined;
  let orphans: NodeJS.Timeout | undefined;
  return {
    port, tasks, service, apps, metrics, processes, health,
    /** Brings the app registry up to the latest recorded policy. */
    sync,
    /** Worker side: register this process (crash recovery), schedule reconciliations, refresh the policy. */
    async start(runner?: Runner): Promise<void> {
      runner?.events.on("job:start", ({ job }) => processes.notePool(job.locked_by));
      await sync();
      serving = true;
      checkCredentials();
      await processes.start();
      if (o.settings.reconcileIntervalMs > 0) {
        for (const app of apps.list())
          await addJob(o.pool, RECONCILE_TASK, { app: app.name, scheduled: true } satisfies ReconcileJob, {
            jobKey: reconcileJobKey(app.name), jobKeyMode: "preserve_run_at", priority: PRIORITY.maintenance,
            delayMs: o.settings.reconcileIntervalMs,
          });
      }
      refresher = setInterval(() => void sync().catch((e) => log.warn({ err: (e as Error).message }, "policy refresh failed")), o.settings.sweepIntervalMs);
      refresher.unref();
      // "Losing nothing", belt and braces: deliveries owed for minutes without a job are enqueued again.
      orphans = setInterval(() => void enqueueOrphans(o.pool, ORPHAN_STALE_MS).then(
        (n) => { if (n) log.warn({ code: "FANOUT_ORPHANS_REQUEUED", count: n }, "re-enqueued deliveries that had no job"); },
        (e) => log.warn({ err: (e as Error).message }, "orphan sweep failed")), Math.max(o.settings.sweepIntervalMs * 12, 10_000));
      orphans.unref();
    },
    async stop(): Promise<void> {
      if (refresher) clearInterval(refresher);
      if (orphans) clearInterval(orphans);
      await processes.stop();
      await apps.close();
    },
  };
}
export type Fanout = ReturnType<typeof createFanout>;
