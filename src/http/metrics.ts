// Prometheus metrics (prom-client) on a registry owned by the app instance, not the global one, so two
// brokers in one test process do not collide.
import { Registry, Histogram, collectDefaultMetrics } from "prom-client";
import type { RequestHandler } from "express";

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpDuration = new Histogram({
    name: "broker_http_request_duration_seconds", help: "HTTP request duration", labelNames: ["method", "route", "status"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: [registry],
  });
  const middleware: RequestHandler = (req, res, next) => {
    const end = httpDuration.startTimer();
    res.on("finish", () => end({ method: req.method, route: routeLabel(req.path), status: String(res.statusCode) }));
    next();
  };
  return { registry, middleware };
}
export type Metrics = ReturnType<typeof createMetrics>;

// Low-cardinality route label: ids replaced.
const routeLabel = (path: string) => path.replace(/\/[0-9a-f-]{36}(?=\/|$)/gi, "/:id").replace(/^\/scim\/v2/i, "/scim/v2");
