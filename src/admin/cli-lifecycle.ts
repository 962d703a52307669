// `scim-broker config validate|plan|apply FILE`, `policy replay FILE`, `exception grant|keep|block|list|revoke`,
// `review list|approve|deny`, `lifecycle events|sweep`: thin commands over the same use cases as the admin
// API. Everything but `config validate` builds the broker through the one composition root (broker.ts,
// without listening or workers), so a CLI apply converges, audits and fans out exactly as the server does.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { cliActor, positiveInteger, processIo, type CliIo } from "./cli-database.ts";
import type { WithCliServices } from "./cli-services.ts";
import { activity, type Activity } from "./cli-progress.ts";
import { EVENT_KINDS } from "./event-query.ts";
import { loadPolicy, PolicyError, formatIssue } from "../rules/policy-loader.ts";
import type { Lifecycle } from "../lifecycle/lifecycle.ts";
import type { PolicyPlanView } from "../lifecycle/policy-apply.ts";
import { REVIEW_KINDS, REVIEW_STATUSES, type ReviewKind, type ReviewStatus } from "../lifecycle/review-store.ts";
import type { ExceptionKind } from "../rules/evaluate.ts";

/** Opens the broker's services on the configured database for one command. */
export type WithLifecycle = <T>(fn: (lc: Lifecycle) => Promise<T>) => Promise<T>;

/** Lifecycle services on the server's database; `verbose` is read when a command runs (global --verbose). */
export const cliLifecycle = (withBroker: WithCliServices, verbose: () => boolean = () => false): WithLifecycle => (fn) => withBroker((broker) => fn(broker.lifecycle), { verbose: verbose() });

const actor = cliActor;
const positiveInt = positiveInteger("a positive integer");
const isoDate = (v: string) => {
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(Date.parse(v))) throw new InvalidArgumentError("an ISO 8601 timestamp, e.g. 2026-12-31T18:00:00Z");
  return new Date(v);
};

export function registerLifecycleCommands(program: Command, withLifecycle: WithLifecycle, io: CliIo = processIo, tty = !!process.stderr.isTTY): Command {
  const json = (v: unknown) => io.out(JSON.stringify(v, null, 2));
  const readPolicy = async (file: string) => ({ text: await readFile(file, "utf8"), file: resolve(file) });
  const policyFailed = (e: unknown): boolean => {
    if (!(e instanceof PolicyError)) return false;
    io.err(`error ${e.code}: ${e.message.split("\n")[0]}`);
    for (const i of e.issues) io.err(formatIssue(i));
    io.setExitCode(1);
    return true;
  };

  // ---- config ----
  const cfg = program.command("config").description("policy as code: broker.yaml (groups, apps, guards)");
  cfg.command("validate <file>").description("check a policy file (file:line:column for every problem)").option("--json", "print JSON")
    .action(async (file: string, o) => {
      try {
        const { text, file: path } = await readPolicy(file);
        const p = loadPolicy(text, { file: path });
        if (o.json) json({ ok: true, version: p.version, groups: p.groups.length, apps: p.apps.length });
        else io.out(`${path}: ok — version ${p.version}, ${p.groups.length} group(s), ${p.apps.length} app(s), massDeprovision ${JSON.stringify(p.guards.massDeprovision)}`);
      } catch (e) { if (!policyFailed(e)) throw e; }
    });
  cfg.command("plan <file>").description("who would gain and lose which group, without changing anything")
    .option("--json", "print JSON").option("--all", "list every user (default: the first 20 per list)")
    .action(async (file: string, o) => {
      try {
        const { text, file: path } = await readPolicy(file);
        const plan = await withLifecycle((lc) => lc.policy.plan(text, path));
        if (o.json) json(plan); else printPlan(io, plan, o.all ? Infinity : 20);
      } catch (e) { if (!policyFailed(e)) throw e; }
    });
  cfg.command("apply <file>").description("record a new policy version and converge memberships").option("--json", "print JSON")
    .action(async (file: string, o) => {
      try {
        const { text, file: path } = await readPolicy(file);
        const done = await withLifecycle((lc) => lc.policy.apply(text, path, actor()));
        if (o.json) { json(done); return; }
        io.out(done.recorded ? `recorded policy version ${done.to}` : `policy version ${done.to} is already active`);
        if (done.createdGroups.length) io.out(`managed groups created or adopted: ${done.createdGroups.join(", ")}`);
        if (done.unmanagedGroups.length) io.out(`groups no longer managed: ${done.unmanagedGroups.join(", ")}`);
        printPlan(io, done, 20);
      } catch (e) { if (!policyFailed(e)) throw e; }
    });

  // ---- policy replay ----
  const pol = program.command("policy").description("policy over history");
  pol.command("replay <file>").description("what a policy would have done over the recorded HR changes of a window (nothing is written)")
    .requiredOption("--from <iso>", "start of the window", isoDate).option("--to <iso>", "end of the window (default: now)", isoDate)
    .option("--limit <n>", "list at most this many users (the summary counts all)", positiveInt, 1000)
    .option("--json", "print JSON")
    .action(async (file: string, o) => {
      try {
        const { text, file: path } = await readPolicy(file);
        // The replay streams the window's HR changes in one read-only snapshot, in batches: after each, the
        // changes replayed of the window's total (a bar on a terminal, a line every 10 s otherwise).
        const r = await withLifecycle(async (lc) => {
          let progress: Activity | undefined;
          const onProgress = (done: number, total: number) => {
            progress ??= activity(io, { label: "policy replay", total, unit: "changes", tty });
            progress.update(done, `replaying ${path}`);
          };
          try { return await lc.replay(text, path, { from: o.from, to: o.to ?? null, limit: o.limit, onProgress }); } finally { progress?.stop(); }
        });
        if (o.json) { json(r); return; }
        const s = r.summary;
        io.out(`replay ${r.proposed.version} over ${r.window.from.toISOString()} → ${r.window.to.toISOString()}: ${s.changes} change(s) of ${s.usersReplayed} user(s); `
          + `${s.users} user(s) differ — gained ${s.gained}, lost ${s.lost}, held ${s.held}, reviews ${s.reviews}`);
        io.out(`  against the recorded version(s): ${r.recorded.map((v) => v.version).join(", ") || "(none: no policy)"}`);
        for (const w of r.warnings) io.err(`warning: ${w}`);
        for (const d of r.differences) {
          const parts = [...d.gained.map((g) => `+${g}`), ...d.lost.map((g) => `-${g}`)];
          if (d.held.length) parts.push(`held: ${d.held.join(",")}`);
          if (d.reviews.length) parts.push(`reviews: ${d.reviews.join(",")}`);
          io.out(`  ${d.userName}\t${parts.join(" ")}`);
        }
        if (r.truncated) io.out(`  … ${s.users - r.differences.length} more (--limit, or --json)`);
      } catch (e) { if (!policyFailed(e)) throw e; }
    });

  // ---- exceptions ----
  const ex = program.command("exception").description("the exceptions register: grant / keep / block a group for a user");
  for (const kind of ["grant", "keep", "block"] as const satisfies readonly ExceptionKind[]) {
    ex.command(kind).description(`${kind} a managed group for a user`)
      .requiredOption("--user <user>", "user id or userName").requiredOption("--group <group>", "managed group name")
      .requiredOption("--reason <text>", "why").requiredOption("--owner <who>", "who owns the exception")
      .option("--approver <who>", "who approved it (required to grant a privileged group)")
      .option("--expires <iso>", "expiry (the rule outcome applies again then)", isoDate)
      .option("--json", "print JSON")
      .action(async (o) => {
        const r = await withLifecycle((lc) => lc.exceptions.create({ user: o.user, group: o.group, kind, reason: o.reason, owner: o.owner, approver: o.approver ?? null, expiresAt: o.expires ?? null }, actor()));
        if (o.json) { json(r); return; }
        io.out(`exception ${r.exception.id}: ${kind} ${r.exception.group} for ${o.user}${r.exception.expiresAt ? ` until ${r.exception.expiresAt.toISOString()}` : ""}`);
        if (r.gained.length || r.lost.length) io.out(`membership: ${[...r.gained.map((g) => `+${g}`), ...r.lost.map((g) => `-${g}`)].join(" ")}`);
      });
  }
  ex.command("list").description("list exceptions (open ones unless --all)")
    .option("--user <user>", "user id or userName").option("--group <group>").option("--all", "include revoked and expired").option("--json", "print JSON")
    .action(async (o) => {
      const list = await withLifecycle((lc) => lc.exceptions.list({ user: o.user, group: o.group, open: o.all ? undefined : true }));
      if (o.json) { json(list); return; }
      for (const e of list) {
        const state = e.revokedAt ? `revoked ${e.revokedAt.toISOString()}` : e.expiredAt ? `expired ${e.expiredAt.toISOString()}` : e.expiresAt ? `until ${e.expiresAt.toISOString()}` : "open";
        io.out([e.id, e.kind, e.group, e.userId, state, `owner ${e.owner}`, e.approver ? `approver ${e.approver}` : "-", e.reason].join("\t"));
      }
    });
  ex.command("revoke <id>").description("revoke an exception (the rule outcome applies again)").option("--reason <text>").option("--json", "print JSON")
    .action(async (id: string, o) => {
      const r = await withLifecycle((lc) => lc.exceptions.revoke(id, actor(), o.reason ?? null));
      if (o.json) json(r); else io.out(`revoked ${id}${r.lost.length || r.gained.length ? ` (membership: ${[...r.gained.map((g) => `+${g}`), ...r.lost.map((g) => `-${g}`)].join(" ")})` : ""}`);
    });

  // ---- reviews ----
  const rv = program.command("review").description("the review queue: privileged grants, movers, contractors, service accounts, mass-deprovision holds, data quality");
  rv.command("list").description("list reviews")
    .addOption(new Option("--status <status>").choices([...REVIEW_STATUSES]).default("pending"))
    .addOption(new Option("--kind <kind>").choices([...REVIEW_KINDS]))
    .option("--user <user>", "user id or userName")
    .option("--json", "print JSON")
    .action(async (o) => {
      const list = await withLifecycle((lc) => lc.reviews.list({ status: o.status as ReviewStatus, kind: o.kind as ReviewKind | undefined, user: o.user }));
      if (o.json) { json(list); return; }
      for (const r of list) {
        const subject = r.kind === "mass-deprovision" ? `source ${r.source ?? "(none)"}: ${(r.held ?? []).filter((h) => !h.outcome).length} held`
          : r.kind === "data-quality" ? `${r.userId} ${dataQualitySummary(r.payload)}` : `${r.userId ?? "-"} ${r.group ?? ""}`.trim();
        io.out([r.id, r.kind, r.status, subject, r.owner ? `owner ${r.owner}` : "-", r.createdAt.toISOString(), r.reason ?? String(r.payload.reason ?? "")].join("\t"));
      }
    });
  for (const verb of ["approve", "deny"] as const) {
    rv.command(`${verb} <id>`).description(`${verb} a review`).requiredOption("--reason <text>", "why (recorded and audited)").option("--json", "print JSON")
      .action(async (id: string, o) => {
        const r = await withLifecycle((lc) => (verb === "approve" ? lc.reviews.approve(id, o.reason, actor()) : lc.reviews.deny(id, o.reason, actor())));
        if (o.json) json(r); else io.out(`${r.kind} review ${r.id} ${r.status}${Object.keys(r.payload.effect ?? {}).length ? `: ${JSON.stringify(r.payload.effect)}` : ""}`);
      });
  }

  // ---- lifecycle ----
  const lc = program.command("lifecycle").description("lifecycle events and scheduled transitions");
  lc.command("events").description("lifecycle events, newest first").option("--user <user>", "user id or userName")
    .addOption(new Option("--kind <kind...>", "only these kinds").choices([...EVENT_KINDS]))
    .option("--limit <n>", "how many (at most 1000)", positiveInt, 50).option("--json", "print JSON")
    .action(async (o) => {
      const kinds = o.kind as string[] | undefined;
      // Filtered here over the newest events: the CLI holds the lifecycle's services, not the admin read model.
      const list = (await withLifecycle((l) => l.events({ user: o.user, limit: kinds ? 1000 : o.limit })))
        .filter((e) => !kinds || kinds.includes(e.kind)).slice(0, o.limit);
      if (o.json) { json(list); return; }
      for (const e of list) io.out([e.createdAt.toISOString(), e.userId, e.kind, e.cause, e.held ? "held" : "-", e.details ? JSON.stringify(e.details) : ""].join("\t"));
    });
  lc.command("sweep").description("fire due start/end dates and exception expiries now (the server does it every minute)").option("--json", "print JSON")
    .action(async (o) => {
      const r = await withLifecycle((l) => l.sweep());
      if (o.json) json(r); else io.out(`transitions ${r.transitions}, exceptions expired ${r.expired}, failed ${r.failed}`);
    });
  return program;
}

/** "signals: unknown-value(department=Fiance), flapping; holds: memberships" for a data-quality review. */
function dataQualitySummary(payload: Record<string, unknown>): string {
  const signals = Array.isArray(payload.signals) ? payload.signals as Array<{ name: string; evidence?: Record<string, unknown> }> : [];
  const named = signals.map((s) => (s.evidence?.attribute ? `${s.name}(${String(s.evidence.attribute)}=${String(s.evidence.value ?? "")})` : s.name));
  const holds = Array.isArray(payload.holds) && payload.holds.length ? (payload.holds as string[]).join(",") : "nothing";
  return `signals: ${named.join(", ") || "-"}; holds: ${holds}`;
}

function printPlan(io: CliIo, plan: PolicyPlanView, max: number): void {
  io.out(`plan ${plan.from ?? "(none)"} → ${plan.to}${plan.unchanged ? " (unchanged)" : ""}: ${plan.users} user(s) change`);
  if (plan.addedGroups.length) io.out(`  groups added:   ${plan.addedGroups.join(", ")}`);
  if (plan.removedGroups.length) io.out(`  groups removed: ${plan.removedGroups.join(", ")}`);
  for (const c of plan.changedGroups) io.out(`  group ${c.name} changed: ${c.changed.join(", ")}`);
  const names = (users: string[]) => users.slice(0, max).join(", ") + (users.length > max ? `, … (${users.length - max} more)` : "");
  for (const [group, g] of Object.entries(plan.groups)) {
    io.out(`  ${group}: +${g.gains.count} -${g.losses.count}${g.reviews.count ? ` (${g.reviews.count} wait for review)` : ""}`);
    if (g.gains.count) io.out(`    gains:   ${names(g.gains.users)}`);
    if (g.losses.count) io.out(`    losses:  ${names(g.losses.users)}`);
    if (g.reviews.count) io.out(`    reviews: ${names(g.reviews.users)}`);
  }
}
