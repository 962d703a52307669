// Composition of the fan-out layer, called once by the composition root (broker.ts): the FanoutPort that
// lifecycle calls inside HR transactions, the graphile-worker tasks, the admin service, and start/stop for
// the worker-side machinery (crash recovery sweeps, policy refresh, scheduled reconciliation).
//
// The app list follows the active policy (lifecycle's PolicyHolder): `policy()` is read without I/O on the
// hot paths and compared by version; a periodic refresh picks up a policy another process applied.
import type { Runner, Task, TaskList } from "graphile-worker";
import type pg from "pg";
import type { Registry } from "prom-client";
import type { FanoutSettings } from "../config/config.ts";
import type { FanoutPort } from "../lifecycle/fanout-port.ts";
import type { PolicyHolder } from "../lifecycle/policy-holder.ts";
import type { Clock } from "../domain/clock.ts";
import type { Logger } from "../shared/logger.ts";
import { addJob, requeueIfRevised } from "../jobs/job-queue.ts";
import { enqueueOrphans, GROUP_TASK, LEAVER_TASK, PRIORITY, PROBE_TASK, RECONCILE_TASK, reconcileJobKey, rescheduleJob, TEST_TASK, USER_TASK, type ReconcileJob, type TestJob } from "../jobs/fanout-jobs.ts";
import { AppHealth } from "./apps/app-health.ts";
import { AppRegistry } from "./apps/app-registry.ts";
import { ensureAppStates } from "./apps/app-state-repository.ts";
import { SecretBox } from "./apps/secret-box.ts";
import { TokenVault } from "./apps/token-vault.ts";
import { missingCredentials } from "./client/app-auth.ts";
import type { FanoutContext } from "./delivery/fanout-context.ts";
import { createFanoutMetrics, type FanoutMetrics } from "./delivery/fanout-metrics.ts";
import { groupSyncTask } from "./delivery/group-task.ts";
import { LeaverFastPath, leaverGuardTask } from "./delivery/leaver-fast-path.ts";
import { FanoutOutbox } from "./delivery/outbox.ts";
import { ProcessRegistry } from "./delivery/process-registry.ts";
import { userDeliveryTask } from "./delivery/user-task.ts";
import { FanoutService } from "./fanout-service.ts";

/** An owed delivery without a job for this long is enqueued again (enqueueOrphans). */
const ORPHAN_STALE_MS = 5 * 60_000;

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
   * fan-out authenticates, client/app-auth.ts). The CLI passes none: it never uses an operator's shell secrets.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

export function createFanout(o: FanoutOptions) {
  const log = o.log.child({ component: "fanout" });
  const metrics = createFanoutMetrics(o.registry, o.pool, () => o.policies.last.policy.apps.map((a) => a.name));
  const apps = createAppRegistry(o, log, metrics);
  const policy = followPolicy(o, apps, log);
  const processes = new ProcessRegistry({ databaseUrl: o.databaseUrl, pool: o.pool, log, sweepIntervalMs: o.settings.sweepIntervalMs });
  const health = new AppHealth({ pool: o.pool, apps, log, clock: o.clock, settings: o.settings });
  const ctx: FanoutContext = { pool: o.pool, apps, log, clock: o.clock, settings: o.settings, metrics, health, processes };
  const service = new FanoutService({ pool: o.pool, apps, clock: o.clock, log, sync: policy.sync, health });
  const fastPath = new LeaverFastPath(ctx, o.workerConcurrency);
  const port = outboxPort(new FanoutOutbox(apps, fastPath), policy);
  const tasks = fanoutTasks(o, ctx, service, policy);
  const worker = workerSide(o, { apps, processes, policy, log, fastPath });
  return {
    port, tasks, service, apps, metrics, processes, health,
    /** Brings the app registry up to the latest recorded policy. */
    sync: policy.sync,
    /** Worker side: register this process (crash recovery), schedule reconciliations, refresh the policy. */
    start: worker.start,
    stop: worker.stop,
  };
}
export type Fanout = ReturnType<typeof createFanout>;

/** The apps of the policy, their clients reporting each request to the metrics. */
function createAppRegistry(o: FanoutOptions, log: Logger, metrics: FanoutMetrics): AppRegistry {
  // Encryption key loaded (or generated into the data directory) only when an OAuth2 app first needs it.
  const tokens = new TokenVault(o.pool, () => SecretBox.load(o.secrets), o.env);
  return new AppRegistry({
    log, workerConcurrency: o.workerConcurrency, tokens, env: o.env, clock: o.clock,
    onResponse: (e) => metrics.requests.observe({ app: e.app, method: e.method, status: String(e.status ?? "none") }, e.durationMs / 1000),
  });
}

type PolicyFollower = ReturnType<typeof followPolicy>;

/** The registry follows the active policy: its apps change with the policy's version, their app_state rows follow. */
function followPolicy(o: FanoutOptions, apps: AppRegistry, log: Logger) {
  let version: string | undefined;
  let statesPending = false;
  let serving = false;
  /** In-memory: adopt the policy's apps if its version changed. */
  const syncNow = () => {
    const p = o.policies.last.policy;
    if (p.version === version) return;
    apps.update(p.apps);
    version = p.version;
    statesPending = true;
    if (serving) reportMissingCredentials(apps, o.env, log);
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
  /** A worker process: from now on, say at once which credentials a new policy's apps lack. */
  const serve = () => {
    serving = true;
    reportMissingCredentials(apps, o.env, log);
  };
  return { syncNow, ensureStates, sync, serve };
}

/** A worker process says at once which app credentials it cannot resolve (names only, never values). */
function reportMissingCredentials(apps: AppRegistry, env: FanoutOptions["env"], log: Logger): void {
  for (const a of apps.list()) {
    const missing = missingCredentials(a.config.auth, env ?? {});
    if (missing.length) log.error({ app: a.name, code: "FANOUT_CREDENTIAL_MISSING", variables: missing },
      `app '${a.name}': ${missing.map((n) => `\${${n}}`).join(", ")} not set in the broker's environment; the app will be auth-failing`);
  }
}

/** The FanoutPort lifecycle calls: the outbox, after adopting a changed policy (cheap when unchanged). */
function outboxPort(outbox: FanoutOutbox, policy: PolicyFollower): FanoutPort {
  return {
    userChanged: (tx, e) => (policy.syncNow(), outbox.userChanged(tx, e)),
    membershipChanged: (tx, e) => (policy.syncNow(), outbox.membershipChanged(tx, e)),
    userDeleted: (tx, e) => (policy.syncNow(), outbox.userDeleted(tx, e)),
    changedInBatch: (tx, c) => (policy.syncNow(), outbox.changedInBatch(tx, c)),
  };
}

/** The graphile-worker tasks; every task first adopts a changed policy (cheap when unchanged). */
function fanoutTasks(o: FanoutOptions, ctx: FanoutContext, service: FanoutService, policy: PolicyFollower): TaskList {
  const synced = (task: Task): Task => async (payload, helpers) => {
    policy.syncNow();
    await policy.ensureStates();
    const out = await task(payload, helpers);
    // a change merged into this job while it ran would be lost with it (job-queue.ts requeueIfRevised)
    if (await requeueIfRevised(o.pool, helpers.job)) ctx.metrics.deliveries.inc({ app: "-", outcome: "requeued-revised" });
    return out;
  };
  return {
    [USER_TASK]: synced(userDeliveryTask(ctx, o.workerConcurrency)),
    [LEAVER_TASK]: synced(leaverGuardTask(ctx)),
    [GROUP_TASK]: synced(groupSyncTask(ctx, o.workerConcurrency)),
    [PROBE_TASK]: synced(ctx.health.probeTask()),
    [RECONCILE_TASK]: synced(reconcileTask(o, ctx, service)),
    [TEST_TASK]: synced(async (payload) => {
      const job = payload as TestJob;
      await service.runTest(job.app, job.runId);
    }),
  };
}

/** A reconciliation: scheduled (report, re-disable leavers, schedule the next) or asked for (admin API). */
function reconcileTask(o: FanoutOptions, ctx: FanoutContext, service: FanoutService): Task {
  const { apps, log } = ctx;
  return async (payload) => {
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
  };
}

/** Start and stop of a worker process: crash recovery, scheduled reconciliations, policy refresh, orphan sweep. */
function workerSide(o: FanoutOptions, d: { apps: AppRegistry; processes: ProcessRegistry; policy: PolicyFollower; log: Logger; fastPath: LeaverFastPath }) {
  const { apps, processes, policy, log, fastPath } = d;
  let refresher: NodeJS.Timeout | undefined;
  let orphans: NodeJS.Timeout | undefined;
  return {
    async start(runner?: Runner): Promise<void> {
      runner?.events.on("job:start", ({ job }) => processes.notePool(job.locked_by));
      await policy.sync();
      policy.serve();
      await processes.start();
      fastPath.start(); // its leases carry this process's id: crash recovery needs it registered first
      await scheduleReconciliations(o, apps);
      refresher = setInterval(() => void policy.sync().catch((e) => log.warn({ err: (e as Error).message }, "policy refresh failed")), o.settings.sweepIntervalMs);
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
      await fastPath.stop();
      await processes.stop();
      await apps.close();
    },
  };
}

/** Each app's scheduled reconciliation, unless one is queued already (preserve_run_at keeps its time). */
async function scheduleReconciliations(o: FanoutOptions, apps: AppRegistry): Promise<void> {
  if (o.settings.reconcileIntervalMs <= 0) return;
  for (const app of apps.list())
    await addJob(o.pool, RECONCILE_TASK, { app: app.name, scheduled: true } satisfies ReconcileJob, {
      jobKey: reconcileJobKey(app.name), jobKeyMode: "preserve_run_at", priority: PRIORITY.maintenance,
      delayMs: o.settings.reconcileIntervalMs,
    });
}
