// Admin API for the console's Apps page, mounted under /admin/v1 behind the admin scope (admin-router.ts).
// Read-only; complements GET /apps (health, accounts, dead letters) and GET /leavers (the overall SLA).
//
//   GET /apps-overview?sinceHours=24   → {since, items: [{app, queueDepth, lastDeliveryAt, leaverSla: {completed, pending, p50Ms, p99Ms}}]}
import express, { type Router } from "express";
import type pg from "pg";
import { badRequest } from "../shared/errors.ts";
import type { Clock } from "../domain/clock.ts";
import { appOverview } from "./app-overview-repository.ts";

export function appOverviewRouter(d: { pool: pg.Pool; clock: Clock }): Router {
  const r = express.Router();
  r.get("/apps-overview", async (req, res) => {
    const raw = typeof req.query.sinceHours === "string" ? req.query.sinceHours.trim() : "";
    if (raw !== "" && (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 24 * 366)) throw badRequest("invalidValue", `sinceHours must be an integer from 1 to ${24 * 366}`);
    const since = new Date(d.clock.now().getTime() - (raw ? Number(raw) : 24) * 3_600_000);
    res.json({ since, items: await appOverview(d.pool, since) });
  });
  return r;
}
