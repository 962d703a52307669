// Prometheus metrics (prom-client) on a registry owned by the app instance, not the global one, so two
// brokers in one test process do not collide.
import { Registry, Histogram, collectDefaultMetrics } from "prom-client";
import type { Request, RequestHandler } from "express";

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpDuration = new Histogram({
    name: "broker_http_request_duration_seconds", help: "HTTP request duration", labelNames: ["method", "route", "status"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: [registry],
  });
  const middleware: RequestHandler = (req, res, next) => {
    const end = httpDuration.startTimer();
    res.on("finish", () => end({ method: req.method, route: routeLabel(req), status: String(res.statusCode) }));
    next();
  };
  return { registry, middleware };
}
export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The route template, never the raw path (ids, userNames and app names would make one series per value):
 * the matched route's path under its router's mount point, e.g. /scim/v2/Users/:id, /admin/v1/apps/:app.
 * Requests no route matched share a label per area (the console's static files, or "unmatched").
 */
export function routeLabel(req: Pick<Request, "route" | "baseUrl" | "path" | "originalUrl">): string {
  const path = req.originalUrl.split("?", 1)[0]!;
  const route = (req.route as { path?: unknown } | undefined)?.path;
  const template = Array.isArray(route) ? route.join("|") : route;
  // After an error left the router, express has restored baseUrl: the mount comes from the URL then.
  if (typeof template === "string") return `${(req.baseUrl || (/^\/(scim\/v2|admin\/v1)(?=\/|$)/i.exec(path)?.[0] ?? "")).toLowerCase()}${template}`;
  if (/^\/console(\/|$)/.test(path)) return "/console";
  return "unmatched";
}
