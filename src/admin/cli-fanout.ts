// `scim-broker apps list|show|test|disable|enable|replay|status` and `scim-broker reconcile APP [--fix]`:
// thin commands over the fan-out's use cases (src/fanout/fanout-service.ts), the same ones the admin API
// calls. The broker is built through the one composition root (broker.ts) without listening or workers,
// on the server's database, and WITHOUT the operator's environment: app credentials are `${VAR}`
// references that only the server resolves (src/fanout/client/app-auth.ts). So reading commands show the recorded
// policy and the server's state, never a config built from the shell; whatever must talk to an app
// (`test`, `reconcile`) is queued for the running server's workers and its result awaited, as is work at
// scale (replay, enable, --fix).
import type { Command } from "commander";
import { positiveInteger, processIo, type CliIo } from "./cli-database.ts";
import type { WithCliServices } from "./cli-services.ts";
import { activity } from "./cli-progress.ts";
import { EXIT } from "./cli-exit.ts";
import type { FanoutService } from "../fanout/fanout-service.ts";
import type { DriftReport } from "../fanout/reconcile/reconcile.ts";

export type WithFanout = <T>(fn: (f: FanoutService) => Promise<T>) => Promise<T>;

/** The fan-out's services on the server's database; `verbose` is read when a command runs (global --verbose). */
export const cliFanout = (withBroker: WithCliServices, verbose: () => boolean = () => false): WithFanout => (fn) => withBroker((broker) => fn(broker.fanout.service), { verbose: verbose() });

const deadLetterId = positiveInteger("a dead letter id (positive integer)");
const deadLetterIds = (v: string, prev: number[] = []) => [...prev, deadLetterId(v)];
const when = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : "-");
const seconds = positiveInteger("a number of seconds (positive integer)");

/** Waits for a run a server worker does (bounded; polling a row is how the CLI hears from the server). */
async function awaitRun<T>(read: () => Promise<T | null>, waitS: number, what: string, onPoll: (elapsedS: number) => void = () => {}): Promise<T> {
  const started = Date.now(), until = started + waitS * 1000;
  for (let pause = 50; ; pause = Math.min(pause * 2, 500)) {
    const done = await read();
    if (done !== null) return done;
    onPoll(Math.round((Date.now() - started) / 1000));
    if (Date.now() > until) throw new Error(`no broker worker ran the ${what} within ${waitS} s: is the server running (with BROKER_WORKERS on)?`);
    await new Promise((r) => setTimeout(r, pause));
  }
}

export function registerFanoutCommands(program: Command, withFanout: WithFanout, io: CliIo = processIo, tty = !!process.stderr.isTTY): Command {
  const json = (v: unknown) => io.out(JSON.stringify(v, null, 2));
  const apps = program.command("apps").description("downstream SaaS apps (broker.yaml apps:): health, tests, dead letters");

  apps.command("list").description("every app: status, accounts by delivery status, open dead letters").option("--json", "print JSON")
    .action(async (o) => withFanout(async (f) => {
      const list = await f.listApps();
      if (o.json) return json(list);
      if (list.length === 0) return io.out("no apps in the active policy (broker.yaml apps:)");
      for (const a of list) {
        const counts = Object.entries(a.accounts).map(([k, v]) => `${k}=${v}`).join(" ") || "no accounts";
        io.out([a.name.padEnd(16), a.status.padEnd(12), counts, `dead-letters=${a.deadLetters}`, a.url].join("\t"));
      }
    }));

  apps.command("show <app>").description("configuration (secrets redacted), dialect, health, pushed groups, dead letters").option("--json", "print JSON")
    .action(async (name: string, o) => withFanout(async (f) => {
      const a = await f.showApp(name);
      if (o.json) return json(a);
      io.out(`${a.name}: ${a.status}  ${a.config.url}  auth=${a.config.auth.type}  deprovision=${a.config.deprovision}  assign=${a.config.assign}`);
      io.out(`dialect: patch=${a.dialect.patch} opCasing=${a.dialect.opCasing} stringBooleans=${a.dialect.stringBooleans}${a.capabilities ? "" : " (not discovered in this process)"}`);
      io.out(`accounts: ${JSON.stringify(a.accounts)}; consecutive failures ${a.consecutiveFailures}; last success ${when(a.lastSuccessAt)}; last failure ${when(a.lastFailureAt)}`);
      if (a.status === "quarantined" || a.status === "auth-failing") io.out(`${a.status} since ${when(a.quarantinedSince)}; next probe ${when(a.nextProbeAt)}`);
      if (a.disabledReason) io.out(`disabled: ${a.disabledReason}`);
      if (a.lastError) io.out(`last error: ${(a.lastError as { message?: string }).message ?? JSON.stringify(a.lastError)}`);
      for (const g of a.groupsPushed) io.out(`group ${g.groupName}: ${g.status} remote id ${g.remoteId ?? "-"}`);
      for (const d of a.deadLetters) io.out(`dead letter #${d.id} ${when(d.createdAt)} ${d.kind} ${d.label ?? d.key} ${d.code} ${d.responseStatus ?? ""} ${d.message}`);
    }));

  apps.command("test <app>").description("connection test, run by the server (it holds the credentials): discovery, then a filter that must return an empty list")
    .option("--json", "print JSON").option("--wait <seconds>", "how long to wait for the server", seconds, 60)
    .action(async (name: string, o) => withFanout(async (f) => {
      const { runId } = await f.requestTest(name);
      const r = await awaitRun(async () => (await f.testRun(runId)).result, o.wait, "connection test");
      if (o.json) json(r);
      else if (r.ok) io.out(`${name}: ok in ${r.ms} ms`);
      else io.err(`${name}: failed in ${r.ms} ms — ${r.error!.code}${r.error!.status ? ` (HTTP ${r.error!.status})` : ""}: ${r.error!.message}`);
      if (!r.ok) io.setExitCode(EXIT.error);
    }));

  apps.command("disable <app>").description("stop delivering to an app (changes stay pending)").option("--reason <text>", "why, shown in apps show").option("--json", "print JSON")
    .action(async (name: string, o) => withFanout(async (f) => {
      const r = await f.setDisabled(name, true, o.reason ?? null);
      if (o.json) json(r); else io.out(`${name}: disabled`);
    }));
  apps.command("enable <app>").description("resume deliveries; the pending backlog is queued at once").option("--json", "print JSON")
    .action(async (name: string, o) => withFanout(async (f) => {
      const r = await f.setDisabled(name, false, null);
      if (o.json) json(r); else io.out(`${name}: enabled, ${r.queued} deliveries queued`);
    }));

  apps.command("replay <app>").description("re-deliver dead-lettered users/groups (their current desired state)")
    .option("--id <id>", "a dead letter id (repeatable)", deadLetterIds).option("--all", "every open dead letter of the app").option("--json", "print JSON")
    .action(async (name: string, o) => withFanout(async (f) => {
      if (!o.all && !o.id) { io.err("give --id <id> (repeatable) or --all"); io.setExitCode(EXIT.error); return; }
      const r = await f.replay(name, o.all ? "all" : o.id);
      if (o.json) return json(r);
      io.out(`${name}: ${r.replayed} dead letter(s) replayed (${r.users} user(s), ${r.groups} group(s) queued)`);
    }));

  apps.command("link <app> <user> <remoteId>").description("link a user (id or userName) to the app's account with this id (reconcile lists unlinked ones); a delivery follows")
    .option("--json", "print JSON")
    .action(async (name: string, user: string, remoteId: string, o) => withFanout(async (f) => {
      const r = await f.link(name, user, remoteId);
      if (o.json) return json(r);
      io.out(`${name}: ${r.userName} linked to ${r.remoteId}${r.previous && r.previous !== r.remoteId ? ` (was ${r.previous})` : ""}; delivery queued`);
    }));

  apps.command("status <user>").description("a user's account in every app (status, timestamps) and its leaver SLAs").option("--json", "print JSON")
    .action(async (user: string, o) => withFanout(async (f) => {
      const s = await f.userStatus(user);
      if (o.json) return json(s);
      for (const a of s.apps) io.out([a.app.padEnd(16), a.status.padEnd(13), `remote=${a.remoteId ?? "-"}`, `delivered=${when(a.deliveredAt)}`, `pending since ${when(a.pendingSince)}`].join("\t"));
      for (const l of s.leaverSla) io.out(`leaver ${when(l.requestedAt)} → ${l.completedAt ? `${when(l.completedAt)} (${l.durationMs} ms)` : `pending: ${l.pendingApps.join(", ")}`}`);
    }));

  program.command("reconcile <app>").description("the server reads the app's users and groups and reports drift; --fix corrects what the broker owns")
    .option("--fix", "queue corrections: re-disable leavers, create missing, re-push drifted attributes and memberships").option("--json", "print JSON")
    .option("--wait <seconds>", "how long to wait for the server", seconds, 900)
    .action(async (name: string, o) => withFanout(async (f) => {
      const { runId } = await f.requestReconcile(name, o.fix ? "all" : "none", "cli");
      // A server worker reads the app; the CLI sees the run's row, so it shows the wait against its budget.
      const progress = activity(io, { label: `reconcile #${runId} ${name}`, total: o.wait, unit: "s", tty });
      let run;
      try {
        run = await awaitRun(async () => { const r = await f.reconcileRun(runId); return r.finishedAt ? r : null; }, o.wait, "reconciliation",
          (s) => progress.update(s, "a broker worker is reading the app"));
      } finally { progress.stop(); }
      if (run.error || !run.report) { io.err(`reconcile #${runId} ${name} failed: ${run.error ?? "no report"}`); io.setExitCode(EXIT.error); return; }
      const report = run.report as DriftReport;
      // Drift is worth an alert: a non-zero exit (after --fix too: it reports what it found and queued).
      if (Object.values(report.counts).some((n) => n > 0)) io.setExitCode(RECONCILE_DRIFT_EXIT);
      if (o.json) return json({ runId, ...report });
      printReport(io, runId, report);
    }));
  return program;
}

/** Exit codes of `reconcile`: 0 clean, 2 drift found (scripts alert on it), 1 the run failed. */
export const RECONCILE_DRIFT_EXIT = EXIT.findings;

function printReport(io: CliIo, runId: number, r: DriftReport): void {
  io.out(`reconcile #${runId} ${r.app}: ${r.appAccounts} accounts and ${r.appGroups} groups read from the app`);
  const c = r.counts;
  const total = Object.values(c).reduce((a, b) => a + b, 0);
  io.out(total === 0 ? "  no drift" : `  active accounts of leavers ${c.leaverActive}, missing ${c.missing}, unlinked ${c.unlinked}, attribute drift ${c.attributeDrift}, unknown accounts ${c.unknown}, membership drift ${c.membershipDrift}`);
  // Every finding the report holds (it keeps up to 200 per kind; counts are complete).
  const list = <T>(kind: keyof DriftReport["counts"], items: T[], line: (x: T) => string) => {
    for (const x of items) io.out(`  ${line(x)}`);
    if (c[kind] > items.length) io.out(`  … and ${c[kind] - items.length} more ${kind} (--json, or GET /admin/v1/apps/${r.app}/reconcile/${runId})`);
  };
  list("leaverActive", r.leaverActive, (x) => `leaver still active: ${x.userName} (${x.reason}) app id ${x.remoteId}`);
  list("missing", r.missing, (x) => `missing: ${x.userName}`);
  list("unlinked", r.unlinked, (x) => `unlinked: ${x.userName} app id ${x.remoteId} (link with: scim-broker apps link ${r.app} ${x.userName} ${x.remoteId}, or --fix)`);
  list("attributeDrift", r.attributeDrift, (x) => `drift: ${x.userName}: ${x.attributes.join(", ")}`);
  list("unknown", r.unknown, (x) => `unknown account: ${x.userName ?? x.remoteId} (reported only)`);
  list("membershipDrift", r.membershipDrift, (x) => `group ${x.group}: missing [${x.missing.join(", ")}] extra [${x.extra.join(", ")}]`);
  if (r.fixed) io.out(`  fixed: ${r.fixed.users} user deliveries and ${r.fixed.groups} group syncs queued, ${r.fixed.removedUnknownMembers} unknown members removed`);
  else if (total > 0) io.out("  (report only; --fix corrects what the broker owns)");
}
