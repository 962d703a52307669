// /healthz: the process is alive. /readyz: the database answers and every migration is applied.
import type { Router } from "express";
import express from "express";
import type pg from "pg";
import { migrationsApplied } from "../store/migrate.ts";

export function healthRouter(pool: pg.Pool): Router {
  const r = express.Router();
  r.get("/healthz", (_req, res) => { res.json({ status: "ok" }); });
  r.get("/readyz", async (_req, res) => {
    try {
      const ok = await migrationsApplied(pool);
      res.status(ok ? 200 : 503).json({ status: ok ? "ready" : "migrations pending" });
    } catch {
      res.status(503).json({ status: "database unavailable" });
    }
  });
  return r;
}
