// The fan-out's admin use cases, shared by the admin API (src/admin/fanout-routes.ts) and the CLI
// (src/admin/cli-fanout.ts): list/show/test/disable/replay apps, reconcile, and per-user delivery status
// with the leaver SLA. Plain objects out; secrets never (app configs are redacted).
import type pg from "pg";
import { notFound, badRequest } from "../shared/errors.ts";
import type { Clock } from "../shared/clock.ts";
import type { Logger } from "../shared/logger.ts";
import { withTransaction } from "../store/database.ts";
import { isUuid } from "../store/user-repository.ts";
import { redactAppConfig } from "./app-config.ts";
import { AppHttpError } from "./app-http-error.ts";
import type { AppRegistry, AppRuntime } from "./app-registry.ts";
import * as accounts from "./account-repository.ts";
import * as states from "./app-state-repository.ts";
import { groupsOfApp } from "./app-group-repository.ts";
import { listDeadLetters, openDeadLetterCounts, takeForReplay, type DeadLetter } from "./dead-letter-repository.ts";
import { enqueueBacklog, enqueueGroupJobs, enqueueUserJobs, PRIORITY, RECONCILE_TASK, type ReconcileJob } from "./fanout-jobs.ts";
import { leaverSlasOfUser, leaverSlaSummary, recentLeaverSlas } from "./leaver-sla-repository.ts";
import { reconcileApp, type DriftReport } from "./reconcile.ts";
import { addJob } from "../jobs/job-queue.ts";
import { identifierKey } from "../scim/identifier.ts";

export type ReconcileFix = DriftReport["fix"];

export interface FanoutServiceDeps {
  pool: pg.Pool;
  apps: AppRegistry;
  clock: Clock;
  log: Logger;
  /** Brings the app registry up to the latest recorded policy. */
  sync(): Promise<void>;
}

export class FanoutService {
  constructor(private readonly d: FanoutServiceDeps) {}

  async listApps() {
    await this.d.sync();
    const [stateMap, counts, dead] = await Promise.all([states.appStates(this.d.pool), accounts.accountCounts(this.d.pool), openDeadLetterCounts(this.d.pool)]);
    return this.d.apps.list().map((a) => {
      const s = stateMap.get(a.name);
      return {
        name: a.name, url: a.config.url, auth: a.config.auth.type, deprovision: a.config.deprovision, groups: [...a.groups],
        status: s?.disabled ? "disabled" : s?.quarantined ? "quarantined" : (s?.consecutiveFailures ?? 0) > 0 ? "failing" : "ok",
        quarantinedSince: s?.quarantinedSince ?? null, nextProbeAt: s?.probeAt ?? null, consecutiveFailures: s?.consecutiveFailures ?? 0,
        lastSuccessAt: s?.lastSuccessAt ?? null, lastFailureAt: s?.lastFailureAt ?? null,
        accounts: counts.get(a.name) ?? {}, deadLetters: dead.get(a.name) ?? 0,
      };
    });
  }

  async showApp(name: string) {
    const runtime = await this.runtime(name);
    const [summary] = (await this.listApps()).filter((a) => a.name === name);
    const state = await states.appState(this.d.pool, name);
    const { rows } = await this.d.pool.query(`SELECT id, fix, trigger, started_at, finished_at, error, report->'counts' AS counts FROM reconcile_run WHERE app = $1 ORDER BY id DESC LIMIT 5`, [name]);
    return {
      ...summary, config: redactAppConfig(runtime.config), dialect: runtime.client.dialect, capabilities: runtime.client.capabilities,
      lastError: state?.lastError ?? null, pausedUntil: state?.pausedUntil ?? null, disabledReason: state?.disabledReason ?? null,
      groupsPushed: await groupsOfApp(this.d.pool, name), deadLetters: await listDeadLetters(this.d.pool, { app: name, open: true, limit: 20 }),
      reconcileRuns: rows,
    };
  }

  /** A connection test, as Entra does it: discovery, then a filter that must answer an empty list. */
  async testApp(name: string): Promise<{ app: string; ok: boolean; ms: number; dialect?: object; error?: { code: string; status: number | null; message: string } }> {
    const runtime = await this.runtime(name);
    const started = performance.now();
    try {
      await runtime.ready(AbortSignal.timeout(runtime.config.timeoutMs));
      await runtime.probe(AbortSignal.timeout(runtime.config.timeoutMs));
      return { app: name, ok: true, ms: Math.round(performance.now() - started), dialect: runtime.client.dialect };
    } catch (e) {
      if (!(e instanceof AppHttpError)) throw e;
      return { app: name, ok: false, ms: Math.round(performance.now() - started), error: { code: e.code, status: e.status ?? null, message: e.message } };
    }
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
      if (groups.length) await tx.query(`UPDATE app_group SET status = 'pending', attempts = 0, desired_version = desired_version + 1, updated_at = $3 WHERE app = $1 AND group_id = ANY($2::uuid[])`, [name, groups, at]);
      for (const g of groups) await enqueueGroupJobs(tx, g, [name]);
      return { app: name, replayed: letters.length, users: users.length, groups: groups.length };
    });
  }

  /** Runs a reconciliation now (CLI) and records it. */
  async reconcile(name: string, fix: ReconcileFix, trigger: "cli" | "api" | "schedule", runId?: number): Promise<{ runId: number; report: DriftReport }> {
    const runtime = await this.runtime(name);
    const id = runId ?? Number((await this.d.pool.query(`INSERT INTO reconcile_run (app, fix, trigger) VALUES ($1, $2, $3) RETURNING id`, [name, fix !== "none", trigger])).rows[0].id);
    try {
      const report = await reconcileApp(this.d.pool, runtime, { fix, now: this.d.clock.now() });
      await this.d.pool.query(`UPDATE reconcile_run SET finished_at = now(), report = $2 WHERE id = $1`, [id, JSON.stringify(report)]);
      const drift = Object.values(report.counts).reduce((a, b) => a + b, 0);
      // The CLI prints the report itself; scheduled and API runs say it in the log (warn: worth an alert).
      (drift && trigger !== "cli" ? this.d.log.warn : this.d.log.info).call(this.d.log, { app: name, runId: id, counts: report.counts, fixed: report.fixed }, drift ? "reconciliation found drift" : "reconciliation: no drift");
      return { runId: id, report };
    } catch (e) {
      const message = e instanceof AppHttpError ? `${e.code}: ${e.message}` : (e as Error).message;
      await this.d.pool.query(`UPDATE reconcile_run SET finished_at = now(), error = $2 WHERE id = $1`, [id, message]).catch(() => {});
      throw e;
    }
  }

  /** Queues a reconciliation on the workers (admin API: it may read thousands of accounts). */
  async requestReconcile(name: string, fix: ReconcileFix): Promise<{ runId: number }> {
    await this.runtime(name);
    const { rows } = await this.d.pool.query(`INSERT INTO reconcile_run (app, fix, trigger) VALUES ($1, $2, 'api') RETURNING id`, [name, fix !== "none"]);
    const runId = Number(rows[0].id);
    await addJob(this.d.pool, RECONCILE_TASK, { app: name, fix: fix === "all", runId } satisfies ReconcileJob, { priority: PRIORITY.maintenance, maxAttempts: 1 });
    return { runId };
  }

  async reconcileRun(id: number) {
    const { rows } = await this.d.pool.query(`SELECT * FROM reconcile_run WHERE id = $1`, [id]);
    if (!rows[0]) throw notFound(`Reconcile run ${id}`);
    const r = rows[0];
    return { id: Number(r.id), app: r.app, fix: r.fix, trigger: r.trigger, startedAt: r.started_at, finishedAt: r.finished_at, error: r.error, report: r.report };
  }

  /** Per app: status (pending, delivered, deprovisioned, failed, quarantined) with timestamps, and leaver SLAs. */
  async userStatus(ref: string) {
    const userId = await this.#userId(ref);
    const [list, slas] = await Promise.all([accounts.accountsOfUser(this.d.pool, userId), leaverSlasOfUser(this.d.pool, userId)]);
    return { userId, apps: list.map(({ userId: _u, ...a }) => a), leaverSla: slas };
  }

  async leavers(opts: { open?: boolean; limit?: number; sinceMs?: number }) {
    const since = new Date(Date.now() - (opts.sinceMs ?? 24 * 3_600_000));
    const [summary, items] = await Promise.all([leaverSlaSummary(this.d.pool, since), recentLeaverSlas(this.d.pool, opts)]);
    return { since, summary, items };
  }

  async #userId(ref: string): Promise<string> {
    if (isUuid(ref)) return ref; // deleted users keep their accounts and SLAs
    const { rows } = await this.d.pool.query(
      `SELECT id FROM scim_user WHERE user_name_key = $2 UNION ALL SELECT user_id FROM app_account WHERE lower(user_name) = lower($1) LIMIT 1`, [ref, identifierKey(ref)]);
    if (!rows[0]) throw notFound(`User ${ref}`);
    return rows[0].id;
  }

  async runtime(name: string): Promise<AppRuntime> {
    if (!/^[a-z0-9-]+$/.test(name)) throw badRequest("invalidValue", `invalid app name '${name}'`);
    await this.d.sync();
    const runtime = this.d.apps.get(name);
    if (!runtime) throw notFound(`App ${name}`);
    return runtime;
  }
}
