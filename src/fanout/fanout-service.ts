// The fan-out's admin use cases, shared by the admin API (src/admin/fanout-routes.ts) and the CLI
// (src/admin/cli-fanout.ts): list/show/test/disable/replay apps, reconcile, and per-user delivery status
// with the leaver SLA. Plain objects out; secrets never (app configs are redacted).
import type pg from "pg";
import { notFound, badRequest, conflict } from "../shared/errors.ts";
import type { Clock } from "../domain/clock.ts";
import type { Logger } from "../shared/logger.ts";
import { withTransaction } from "../store/database.ts";
import { isUuid } from "../store/user-repository.ts";
import { redactAppConfig } from "../domain/app-config.ts";
import { AppHttpError } from "./client/app-http-error.ts";
import type { AppRegistry, AppRuntime } from "./apps/app-registry.ts";
import type { AppHealth } from "./apps/app-health.ts";
import * as accounts from "./delivery/account-repository.ts";
import * as states from "./apps/app-state-repository.ts";
import { groupsOfApp, markGroupsForRedelivery } from "./delivery/app-group-repository.ts";
import { closeUserDeadLetters, listDeadLetters, openDeadLetterCounts, takeForReplay, type DeadLetter } from "./delivery/dead-letter-repository.ts";
import * as testRuns from "./apps/app-test-run-repository.ts";
import * as runs from "./reconcile/reconcile-repository.ts";
import { enqueueBacklog, enqueueGroupJobs, enqueueUserJobs, PRIORITY, RECONCILE_TASK, TEST_TASK, type ReconcileJob, type TestJob } from "../jobs/fanout-jobs.ts";
import { leaverSlasOfUser, leaverSlaSummary, recentLeaverSlas } from "./delivery/leaver-sla-repository.ts";
import { reconcileApp, type DriftReport } from "./reconcile/reconcile.ts";
import { addJob } from "../jobs/job-queue.ts";
import { identifierKey } from "../domain/identifier.ts";

export type ReconcileFix = DriftReport["fix"];

export interface FanoutServiceDeps {
  pool: pg.Pool;
  apps: AppRegistry;
  clock: Clock;
  log: Logger;
  /** Brings the app registry up to the latest recorded policy. */
  sync(): Promise<void>;
  /** A successful test releases a quarantine (app-health.ts). */
  health?: AppHealth;
}

const latest = (a: Date | null, b: Date | null) => (a && b ? (a > b ? a : b) : (a ?? b));

/** ok | failing (a streak below the threshold) | quarantined (outage) | auth-failing | disabled */
export type AppStatus = "ok" | "failing" | "quarantined" | "auth-failing" | "disabled";

export function appStatus(s: states.AppStateRow | undefined): AppStatus {
  if (s?.disabled) return "disabled";
  if (s?.quarantined) return s.quarantineKind === "auth" ? "auth-failing" : "quarantined";
  return (s?.consecutiveFailures ?? 0) > 0 ? "failing" : "ok";
}

export class FanoutService {
  constructor(private readonly d: FanoutServiceDeps) {}

  async listApps() {
    await this.d.sync();
    const [stateMap, counts, dead] = await Promise.all([states.appStates(this.d.pool), accounts.accountCounts(this.d.pool), openDeadLetterCounts(this.d.pool)]);
    return this.d.apps.list().map((a) => {
      const s = stateMap.get(a.name);
      const c = counts.get(a.name);
      const status = appStatus(s);
      // The last success is the latest of a confirmed delivery and a successful probe or test.
      const lastSuccessAt = latest(c?.lastDeliveredAt ?? null, s?.lastSuccessAt ?? null);
      return {
        name: a.name, url: a.config.url, auth: a.config.auth.type, deprovision: a.config.deprovision, groups: [...a.groups],
        status, quarantinedSince: s?.quarantinedSince ?? null, nextProbeAt: s?.quarantined ? s.probeAt : null, consecutiveFailures: s?.consecutiveFailures ?? 0,
        lastSuccessAt, lastFailureAt: s?.lastFailureAt ?? null,
        // An error is news only while the app is not ok; the episode it belonged to is over.
        lastError: status === "ok" ? null : (s?.lastError ?? null),
        accounts: c?.counts ?? {}, deadLetters: dead.get(a.name) ?? 0,
      };
    });
  }

  async showApp(name: string) {
    const runtime = await this.runtime(name);
    const [summary] = (await this.listApps()).filter((a) => a.name === name);
    const state = await states.appState(this.d.pool, name);
    const reconcileRuns = await runs.recentReconcileRuns(this.d.pool, name);
    return {
      ...summary, config: redactAppConfig(runtime.config), dialect: runtime.client.dialect, capabilities: runtime.client.capabilities,
      pausedUntil: state?.pausedUntil ?? null, disabledReason: state?.disabledReason ?? null,
      groupsPushed: await groupsOfApp(this.d.pool, name), deadLetters: await listDeadLetters(this.d.pool, { app: name, open: true, limit: 20 }),
      reconcileRuns,
    };
  }

  /** A connection test, as Entra does it: discovery, then a filter that must answer an empty list. */
  async testApp(name: string): Promise<{ app: string; ok: boolean; ms: number; dialect?: object; error?: { code: string; status: number | null; message: string } }> {
    const runtime = await this.runtime(name);
    const started = performance.now();
    const startedAt = this.d.clock.now();
    try {
      await runtime.ready(AbortSignal.timeout(runtime.config.timeoutMs));
      await runtime.probe(AbortSignal.timeout(runtime.config.timeoutMs));
      // The app answers (authenticated): a quarantine or auth-failing episode ends now, not at the next probe.
      await this.d.health?.recordSuccess(name, startedAt);
      return { app: name, ok: true, ms: Math.round(performance.now() - started), dialect: runtime.client.dialect };
    } catch (e) {
      if (!(e instanceof AppHttpError)) throw e;
      return { app: name, ok: false, ms: Math.round(performance.now() - started), error: { code: e.code, status: e.status ?? null, message: e.message } };
    }
  }

  /**
   * Queues a connection test for a server worker (the CLI: it never holds app credentials, see client/app-auth.ts);
   * the result lands in app_test_run (testRun).
   */
  async requestTest(name: string): Promise<{ runId: number }> {
    await this.runtime(name);
    const runId = await testRuns.insertTestRun(this.d.pool, name);
    await addJob(this.d.pool, TEST_TASK, { app: name, runId } satisfies TestJob, { priority: PRIORITY.maintenance, maxAttempts: 1 });
    return { runId };
  }

  /** The worker side of requestTest. */
  async runTest(name: string, runId: number): Promise<void> {
    let result: Awaited<ReturnType<FanoutService["testApp"]>>;
    try {
      result = await this.testApp(name);
    } catch (e) {
      result = { app: name, ok: false, ms: 0, error: { code: (e as { code?: string }).code ?? "INTERNAL", status: null, message: (e as Error).message } };
    }
    await testRuns.finishTestRun(this.d.pool, runId, result);
  }

  async testRun(id: number): Promise<{ id: number; app: string; finishedAt: Date | null; result: Awaited<ReturnType<FanoutService["testApp"]>> | null }> {
    const run = await testRuns.testRun(this.d.pool, id);
    if (!run) throw notFound(`Test run ${id}`);
    return run;
  }

  /** Operator switch. Disabled: deliveries wait (accounts stay pending); enabling enqueues the backlog now. */
  async setDisabled(name: string, disabled: boolean, reason: string | null): Promise<{ app: string; disabled: boolean; queued: number }> {
    await this.runtime(name);
    await states.setDisabled(this.d.pool, name, disabled, reason, this.d.clock.now());
    const queued = disabled ? 0 : await enqueueBacklog(this.d.pool, name);
    this.d.log.warn({ app: name, disabled, reason, queued }, disabled ? "app disabled by an operator" : "app enabled by an operator");
    return { app: name, disabled, queued };
  }

  listDeadLetters(opts: { app?: string; open?: boolean; limit?: number }): Promise<DeadLetter[]> {
    return listDeadLetters(this.d.pool, opts);
  }

  /** Re-enqueues dead-lettered keys (all open ones of the app, or the given ids): the job delivers the current state. */
  async replay(name: string, ids: readonly number[] | "all"): Promise<{ app: string; replayed: number; users: number; groups: number }> {
    await this.runtime(name);
    const at = this.d.clock.now();
    return withTransaction(this.d.pool, async (tx) => {
      const letters = await takeForReplay(tx, name, ids, at);
      const users = [...new Set(letters.filter((l) => l.kind === "user").map((l) => l.key))];
      const groups = [...new Set(letters.filter((l) => l.kind === "group").map((l) => l.key))];
      await accounts.markForRedelivery(tx, name, users, at);
      await enqueueUserJobs(tx, users.map((userId) => ({ app: name, userId, leaver: false })));
      await markGroupsForRedelivery(tx, name, groups, at);
      for (const g of groups) await enqueueGroupJobs(tx, g, [name]);
      return { app: name, replayed: letters.length, users: users.length, groups: groups.length };
    });
  }

  /**
   * The operator says which app account is this user's (`apps link`): for an account the broker cannot find
   * itself (reconcile lists it as unlinked). Records the id, closes the user's open dead letter for the app
   * and queues a delivery, which then addresses the account by id (a wrong id: 404 → the app's onMissing).
   * Refused when the id belongs to another broker user of the app.
   */
  async link(name: string, userRef: string, remoteId: string): Promise<{ app: string; userId: string; userName: string; remoteId: string; previous: string | null }> {
    await this.runtime(name);
    if (typeof remoteId !== "string" || remoteId.trim() === "" || remoteId.length > 1024) throw badRequest("invalidValue", "remoteId must be the app's id of the account (1 to 1024 characters)");
    const userId = await this.#userId(userRef);
    const at = this.d.clock.now();
    return withTransaction(this.d.pool, async (tx) => {
      const user = await accounts.userToLink(tx, userId);
      if (!user) throw notFound(`User ${userRef}`);
      const holder = await accounts.holderOfRemoteId(tx, name, remoteId, userId);
      if (holder) throw conflict(`app account ${remoteId} of ${name} is already linked to ${holder.userName}`);
      const previous = await accounts.linkAccount(tx, name, userId, user.userName, remoteId, at);
      await accounts.markForRedelivery(tx, name, [userId], at);
      await closeUserDeadLetters(tx, name, userId, at);
      await enqueueUserJobs(tx, [{ app: name, userId, leaver: user.leaver }]);
      this.d.log.warn({ app: name, userId, remoteId, previous }, "app account linked by an operator");
      return { app: name, userId, userName: user.userName, remoteId, previous };
    });
  }

  /** Runs a reconciliation now (CLI) and records it. */
  async reconcile(name: string, fix: ReconcileFix, trigger: "cli" | "api" | "schedule", runId?: number): Promise<{ runId: number; report: DriftReport }> {
    const runtime = await this.runtime(name);
    const id = runId ?? await runs.insertReconcileRun(this.d.pool, name, fix !== "none", trigger);
    try {
      const report = await reconcileApp(this.d.pool, runtime, { fix, clock: this.d.clock });
      await runs.finishReconcileRun(this.d.pool, id, { report });
      const drift = Object.values(report.counts).reduce((a, b) => a + b, 0);
      // The CLI prints the report itself; scheduled and API runs say it in the log (warn: worth an alert).
      (drift && trigger !== "cli" ? this.d.log.warn : this.d.log.info).call(this.d.log, { app: name, runId: id, counts: report.counts, fixed: report.fixed }, drift ? "reconciliation found drift" : "reconciliation: no drift");
      return { runId: id, report };
    } catch (e) {
      const message = e instanceof AppHttpError ? `${e.code}: ${e.message}` : (e as Error).message;
      await runs.finishReconcileRun(this.d.pool, id, { error: message }).catch(() => {});
      throw e;
    }
  }

  /** Queues a reconciliation on the workers (admin API: it may read thousands of accounts). */
  async requestReconcile(name: string, fix: ReconcileFix, trigger: "api" | "cli" = "api"): Promise<{ runId: number }> {
    await this.runtime(name);
    const runId = await runs.insertReconcileRun(this.d.pool, name, fix !== "none", trigger);
    await addJob(this.d.pool, RECONCILE_TASK, { app: name, fix: fix === "all", runId } satisfies ReconcileJob, { priority: PRIORITY.maintenance, maxAttempts: 1 });
    return { runId };
  }

  async reconcileRun(id: number) {
    const run = await runs.reconcileRun(this.d.pool, id);
    if (!run) throw notFound(`Reconcile run ${id}`);
    return run;
  }

  /** Per app: status (pending, delivered, deprovisioned, failed, quarantined) with timestamps, and leaver SLAs. */
  async userStatus(ref: string) {
    const userId = await this.#userId(ref);
    const [list, slas] = await Promise.all([accounts.accountsOfUser(this.d.pool, userId), leaverSlasOfUser(this.d.pool, userId)]);
    return { userId, apps: list.map(({ userId: _u, ...a }) => a), leaverSla: slas };
  }

  async leavers(opts: { open?: boolean; limit?: number; sinceMs?: number }) {
    const since = new Date(this.d.clock.now().getTime() - (opts.sinceMs ?? 24 * 3_600_000));
    const [summary, items] = await Promise.all([leaverSlaSummary(this.d.pool, since), recentLeaverSlas(this.d.pool, opts)]);
    return { since, summary, items };
  }

  async #userId(ref: string): Promise<string> {
    if (isUuid(ref)) return ref; // deleted users keep their accounts and SLAs
    const id = await accounts.userIdByName(this.d.pool, ref, identifierKey(ref));
    if (id === null) throw notFound(`User ${ref}`);
    return id;
  }

  async runtime(name: string): Promise<AppRuntime> {
    if (!/^[a-z0-9-]+$/.test(name)) throw badRequest("invalidValue", `invalid app name '${name}'`);
    await this.d.sync();
    const runtime = this.d.apps.get(name);
    if (!runtime) throw notFound(`App ${name}`);
    return runtime;
  }
}
