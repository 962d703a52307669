// Admin API for the console's Apps page, mounted under /admin/v1 behind the admin scope (admin-router.ts).
// Read-only; complements GET /apps (health, accounts, dead letters) and GET /leavers (the overall SLA).
//
//   GET /apps-overview?sinceHours=24   → {since, items: [{app, queueDepth, lastDeliveryAt, leaverSla: {completed, pending, p50Ms, p99Ms}}]}
import type { Router } from "express";
import type pg from "pg";
import * as z from "zod";
import type { Clock } from "../domain/clock.ts";
import { appOverview } from "./app-overview-repository.ts";
import { route, routerOf, type AdminRoute } from "./admin-route.ts";
import { intParam, NullableTimestamp, Timestamp } from "./admin-schemas.ts";

const AppOverview = z.object({
  app: z.string(), queueDepth: z.number().int(), lastDeliveryAt: NullableTimestamp,
  leaverSla: z.object({ completed: z.number().int(), pending: z.number().int(), p50Ms: z.number().nullable(), p99Ms: z.number().nullable() }),
}).meta({ id: "AppOverview" });

export function appOverviewRoutes(d: { pool: pg.Pool; clock: Clock }): AdminRoute[] {
  return [route({
    method: "get", path: "/apps-overview", tag: "apps", summary: "Per app: queue depth, last delivery, leaver SLA p50/p99 over a window",
    query: z.object({ sinceHours: intParam(1, 24 * 366, "the window in hours (default 24)").optional() }),
    response: z.object({ since: Timestamp, items: z.array(AppOverview) }),
    handle: async ({ query }) => {
      const since = new Date(d.clock.now().getTime() - (query.sinceHours ?? 24) * 3_600_000);
      return { since, items: await appOverview(d.pool, since) };
    },
  })];
}

export const appOverviewRouter = (d: { pool: pg.Pool; clock: Clock }): Router => routerOf(appOverviewRoutes(d));
