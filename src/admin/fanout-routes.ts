// Admin API of the fan-out, mounted under /admin/v1 behind the admin scope (admin-router.ts). Thin: parse,
// call the use case (src/fanout/fanout-service.ts), answer JSON. Errors are {error: {code, message}} with
// the stable codes of shared/errors.ts.
//
//   GET  /apps                                  → {items}: status (ok | failing | quarantined | disabled), counts
//   GET  /apps/:app                             → redacted config, dialect, health, pushed groups, dead letters
//   POST /apps/:app/test                        → {ok, ms, error?}   (discovery + a filter matching nobody)
//   POST /apps/:app/disable {reason?}           POST /apps/:app/enable   (enable enqueues the backlog)
//   GET  /apps/:app/dead-letters?open=&limit=   → {items}
//   POST /apps/:app/replay {ids: [n…]} | {all: true}  → {replayed, users, groups}
//   POST /apps/:app/link {user, remoteId}       → {app, userId, userName, remoteId, previous}   (409: id taken)
//   POST /apps/:app/reconcile {fix?: boolean}   → 202 {runId}, then GET /apps/:app/reconcile/:runId → {report}
//   GET  /users/:user/apps                      → per app: status and timestamps; leaver SLAs   (:user = id or userName)
//   GET  /leavers?open=&limit=&sinceHours=      → leaver SLA summary (p50/p99) and recent leavers
import express, { type Request, type Router } from "express";
import { badRequest } from "../shared/errors.ts";
import type { FanoutService } from "../fanout/fanout-service.ts";

export interface FanoutRouterDeps { fanout: FanoutService }

const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v.trim() : undefined);
const bodyOf = (req: Request): Record<string, unknown> => (req.body && typeof req.body === "object" && !Array.isArray(req.body) ? req.body : {});
const app = (req: Request) => String(req.params.app);

function intOf(name: string, v: unknown, min: number, max: number): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) throw badRequest("invalidValue", `${name} must be an integer from ${min} to ${max}`);
  return Number(s);
}

export function fanoutRouter(d: FanoutRouterDeps): Router {
  const r = express.Router();
  const f = d.fanout;

  r.get("/apps", async (_req, res) => { res.json({ items: await f.listApps() }); });
  r.get("/apps/:app", async (req, res) => { res.json(await f.showApp(app(req))); });
  r.post("/apps/:app/test", async (req, res) => { res.json(await f.testApp(app(req))); });
  r.post("/apps/:app/disable", async (req, res) => { res.json(await f.setDisabled(app(req), true, str(bodyOf(req).reason) ?? null)); });
  r.post("/apps/:app/enable", async (req, res) => { res.json(await f.setDisabled(app(req), false, null)); });
  r.get("/apps/:app/dead-letters", async (req, res) => {
    await f.runtime(app(req));
    res.json({ items: await f.listDeadLetters({ app: app(req), open: str(req.query.open) !== "false", limit: intOf("limit", req.query.limit, 1, 1000) }) });
  });
  r.post("/apps/:app/replay", async (req, res) => {
    const b = bodyOf(req);
    let ids: number[] | "all";
    if (b.all === true) ids = "all";
    else if (Array.isArray(b.ids) && b.ids.length > 0 && b.ids.every((i) => Number.isInteger(i) && (i as number) > 0)) ids = b.ids as number[];
    else throw badRequest("invalidValue", "send {ids: [dead letter ids]} or {all: true}");
    res.json(await f.replay(app(req), ids));
  });
  r.post("/apps/:app/link", async (req, res) => {
    const b = bodyOf(req);
    const user = str(b.user), remoteId = typeof b.remoteId === "string" ? b.remoteId : undefined;
    if (!user || remoteId === undefined) throw badRequest("invalidValue", "send {user: id or userName, remoteId: the app's id of the account}");
    res.json(await f.link(app(req), user, remoteId));
  });
  r.post("/apps/:app/reconcile", async (req, res) => {
    const fix = bodyOf(req).fix === true;
    const { runId } = await f.requestReconcile(app(req), fix ? "all" : "none");
    res.status(202).location(`${req.baseUrl}/apps/${app(req)}/reconcile/${runId}`).json({ runId });
  });
  r.get("/apps/:app/reconcile/:id", async (req, res) => {
    const id = intOf("id", req.params.id, 1, Number.MAX_SAFE_INTEGER)!;
    const run = await f.reconcileRun(id);
    if (run.app !== app(req)) throw badRequest("invalidValue", `reconcile run ${id} is not for app ${app(req)}`);
    res.json(run);
  });
  r.get("/users/:user/apps", async (req, res) => { res.json(await f.userStatus(String(req.params.user))); });
  r.get("/leavers", async (req, res) => {
    const hours = intOf("sinceHours", req.query.sinceHours, 1, 24 * 366);
    res.json(await f.leavers({ open: str(req.query.open) === "true", limit: intOf("limit", req.query.limit, 1, 1000), sinceMs: hours ? hours * 3_600_000 : undefined }));
  });
  return r;
}
