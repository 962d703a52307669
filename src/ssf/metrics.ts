// Per-stream SSF metrics on the broker's Prometheus registry (src/http/metrics.ts).
import { Counter, Histogram, type Registry } from "prom-client";

export function createSsfMetrics(registry: Registry) {
  return {
    issued: new Counter({ name: "broker_ssf_sets_issued_total", help: "SETs written for a stream (in the HR transaction)", labelNames: ["stream", "event"], registers: [registry] }),
    deliveries: new Counter({ name: "broker_ssf_set_deliveries_total", help: "SET push attempts and poll acknowledgements by outcome", labelNames: ["stream", "outcome"], registers: [registry] }),
    latency: new Histogram({
      name: "broker_ssf_set_delivery_seconds", help: "From the SET's HR change to its delivery (push 202 or poll hand-out)", labelNames: ["stream"], registers: [registry],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    }),
  };
}
export type SsfMetrics = ReturnType<typeof createSsfMetrics>;
