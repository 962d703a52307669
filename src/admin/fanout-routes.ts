// Admin API of the fan-out, mounted under /admin/v1 behind the admin scope (admin-router.ts). Thin: the
// declarations (admin-route.ts) validate the request, the use case (src/fanout/fanout-service.ts) does the
// work. Errors are {error: {code, message}} with the stable codes of shared/errors.ts.
//
//   GET  /apps                                  → {items}: status (ok | failing | quarantined | disabled), counts
//   GET  /apps/{app}                            → redacted config, dialect, health, pushed groups, dead letters
//   POST /apps/{app}/test                       → {ok, ms, error?}   (discovery + a filter matching nobody)
//   POST /apps/{app}/disable {reason?}          POST /apps/{app}/enable   (enable enqueues the backlog)
//   GET  /apps/{app}/dead-letters?open=&limit=  → {items}
//   POST /apps/{app}/replay {ids: [n…]} | {all: true}  → {replayed, users, groups}
//   POST /apps/{app}/link {user, remoteId}      → {app, userId, userName, remoteId, previous}   (409: id taken)
//   POST /apps/{app}/reconcile {fix?: boolean}  → 202 {runId}, then GET /apps/{app}/reconcile/{id} → {report}
//   GET  /users/{user}/apps                     → per app: status and timestamps; leaver SLAs   ({user} = id or userName)
//   GET  /leavers?open=&limit=&sinceHours=      → leaver SLA summary (p50/p99) and recent leavers
import type { Router } from "express";
import * as z from "zod";
import { badRequest } from "../shared/errors.ts";
import type { FanoutService } from "../fanout/fanout-service.ts";
import { route, routerOf, type AdminRoute } from "./admin-route.ts";
import { AppParams, boolParam, intParam, itemsOf, NullableTimestamp, ref, userRef } from "./admin-schemas.ts";

export interface FanoutRouterDeps { fanout: FanoutService }

const TAG = "apps";
const AppStatus = z.enum(["ok", "failing", "quarantined", "auth-failing", "disabled"]);
const AppSummary = z.looseObject({
  name: z.string(), url: z.string(), auth: z.string(), deprovision: z.string(), groups: z.array(z.string()), status: AppStatus,
  quarantinedSince: NullableTimestamp, nextProbeAt: NullableTimestamp, consecutiveFailures: z.number().int(),
  lastSuccessAt: NullableTimestamp, lastFailureAt: NullableTimestamp, lastError: z.string().nullable(),
  accounts: z.record(z.string(), z.number().int()).meta({ description: "accounts by status" }), deadLetters: z.number().int(),
}).meta({ id: "AppSummary" });
const DeadLetter = z.looseObject({ id: z.number().int(), app: z.string() }).meta({ id: "DeadLetter" });
const ReconcileRun = z.looseObject({
  id: z.number().int(), app: z.string(), fix: z.boolean(), trigger: z.string(), startedAt: NullableTimestamp, finishedAt: NullableTimestamp,
  error: z.string().nullable(), report: z.looseObject({ counts: z.record(z.string(), z.number().int()) }).nullable().meta({ description: "the drift report once finished" }),
}).meta({ id: "ReconcileRun" });

const ReplayBody = z.union([
  z.object({ ids: z.array(z.number().int().positive()).min(1).max(10_000).meta({ description: "dead letter ids" }) }),
  z.object({ all: z.literal(true) }),
], { error: "must be {ids: [dead letter ids]} or {all: true}" });

export function fanoutRoutes(d: FanoutRouterDeps): AdminRoute[] {
  const f = d.fanout;
  return [
    route({
      method: "get", path: "/apps", tag: TAG, summary: "List the policy's apps with their health and account counts",
      response: itemsOf(AppSummary), handle: async () => ({ items: await f.listApps() }),
    }),
    route({
      method: "get", path: "/apps/{app}", tag: TAG, summary: "One app: redacted config, dialect, health, pushed groups, dead letters, recent reconciliations",
      params: AppParams, errors: [404], response: AppSummary.extend({ config: z.record(z.string(), z.unknown()) }).loose(),
      handle: ({ params }) => f.showApp(params.app),
    }),
    route({
      method: "post", path: "/apps/{app}/test", tag: TAG, summary: "Test the connection (discovery and a filter that matches nobody)",
      params: AppParams, errors: [404],
      response: z.looseObject({ app: z.string(), ok: z.boolean(), ms: z.number(), error: z.object({ code: z.string(), status: z.number().int().nullable(), message: z.string() }).optional() }),
      handle: ({ params }) => f.testApp(params.app),
    }),
    route({
      method: "post", path: "/apps/{app}/disable", tag: TAG, summary: "Disable deliveries to the app (they queue)",
      params: AppParams, errors: [404], body: { schema: z.object({ reason: z.string().max(1000).optional() }) },
      response: z.object({ app: z.string(), disabled: z.boolean(), queued: z.number().int() }),
      handle: ({ params, body }) => f.setDisabled(params.app, true, body.reason?.trim() || null),
    }),
    route({
      method: "post", path: "/apps/{app}/enable", tag: TAG, summary: "Enable the app again (its backlog is enqueued)",
      params: AppParams, errors: [404],
      response: z.object({ app: z.string(), disabled: z.boolean(), queued: z.number().int() }),
      handle: ({ params }) => f.setDisabled(params.app, false, null),
    }),
    route({
      method: "get", path: "/apps/{app}/dead-letters", tag: TAG, summary: "The app's dead letters",
      params: AppParams, errors: [404],
      query: z.object({ open: boolParam("only those not replayed (default true)").optional(), limit: intParam(1, 1000).optional() }),
      response: itemsOf(DeadLetter),
      handle: async ({ params, query }) => {
        await f.runtime(params.app);
        return { items: await f.listDeadLetters({ app: params.app, open: query.open ?? true, limit: query.limit }) };
      },
    }),
    route({
      method: "post", path: "/apps/{app}/replay", tag: TAG, summary: "Replay dead letters (by id, or all of the app's)",
      params: AppParams, errors: [404], body: { schema: ReplayBody },
      response: z.object({ app: z.string(), replayed: z.number().int(), users: z.number().int(), groups: z.number().int() }),
      handle: ({ params, body }) => f.replay(params.app, "all" in body ? "all" : body.ids),
    }),
    route({
      method: "post", path: "/apps/{app}/link", tag: TAG, summary: "Link a user to an existing account of the app",
      params: AppParams, errors: [404, 409],
      body: { schema: z.object({ user: userRef, remoteId: z.string().max(1000).meta({ description: "the app's id of the account" }) }) },
      response: z.object({ app: z.string(), userId: z.string(), userName: z.string(), remoteId: z.string(), previous: z.string().nullable() }),
      handle: ({ params, body }) => f.link(params.app, body.user.trim(), body.remoteId),
    }),
    route({
      method: "post", path: "/apps/{app}/reconcile", tag: TAG, summary: "Queue a reconciliation (report drift, or repair it with fix)",
      params: AppParams, errors: [404], status: 202,
      body: { schema: z.object({ fix: z.boolean().optional().meta({ description: "repair the drift (default: report only)" }) }) },
      response: z.object({ runId: z.number().int() }),
      handle: async ({ params, body }, req, res) => {
        const { runId } = await f.requestReconcile(params.app, body.fix ? "all" : "none");
        res.location(`${req.baseUrl}/apps/${params.app}/reconcile/${runId}`);
        return { runId };
      },
    }),
    route({
      method: "get", path: "/apps/{app}/reconcile/{id}", tag: TAG, summary: "A reconciliation run and its report",
      params: AppParams.extend({ id: intParam(1, Number.MAX_SAFE_INTEGER, "the run id") }), errors: [404],
      response: ReconcileRun,
      handle: async ({ params }) => {
        const run = await f.reconcileRun(params.id);
        if (run.app !== params.app) throw badRequest("invalidValue", `reconcile run ${params.id} is not for app ${params.app}`);
        return run;
      },
    }),
    route({
      method: "get", path: "/users/{user}/apps", tag: "people", summary: "A user's account in each app, and its leaver SLAs",
      params: z.object({ user: userRef }), errors: [404],
      response: z.object({ userId: z.string(), apps: z.array(z.looseObject({ app: z.string(), status: z.string() })), leaverSla: z.array(z.looseObject({})) }),
      handle: ({ params }) => f.userStatus(params.user),
    }),
    route({
      method: "get", path: "/leavers", tag: TAG, summary: "Leaver SLA: p50/p99 over a window and the recent leavers",
      query: z.object({
        open: boolParam("only leavers some app has not confirmed yet").optional(), limit: intParam(1, 1000).optional(),
        sinceHours: intParam(1, 24 * 366, "the summary's window in hours (default 24)").optional(),
      }),
      response: z.object({ since: z.iso.datetime(), summary: z.looseObject({}), items: z.array(z.looseObject({})) }),
      handle: ({ query }) => f.leavers({ open: query.open ?? false, limit: query.limit, sinceMs: query.sinceHours ? query.sinceHours * 3_600_000 : undefined }),
    }),
  ];
}

export const fanoutRouter = (d: FanoutRouterDeps): Router => routerOf(fanoutRoutes(d));
