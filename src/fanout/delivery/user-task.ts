// The "fanout:user" task (graphile-worker): a payload is one (app, user) key — a leaver's own job at leaver
// priority, run by user-run.ts — or an array of keys (a batch job, user-batch.ts), which runs the same
// steps set-at-a-time for the bulk of deliveries.
import type { Task } from "graphile-worker";
import type { UserJob } from "../../jobs/fanout-jobs.ts";
import type { FanoutContext } from "./fanout-context.ts";
import { deliverBatch } from "./user-batch.ts";
import { UserDelivery } from "./user-run.ts";

export function userDeliveryTask(ctx: FanoutContext, workerConcurrency: number): Task {
  return async (payload, helpers) => {
    if (Array.isArray(payload)) {
      const items = payload as UserJob[];
      const runtime = items[0] ? ctx.apps.get(items[0].app) : undefined;
      if (!runtime) return;
      ctx.processes.notePool(helpers.job.locked_by);
      return deliverBatch(ctx, runtime, items, helpers.job, workerConcurrency, helpers.abortSignal);
    }
    const job = payload as UserJob;
    const runtime = ctx.apps.get(job.app);
    if (!runtime) {
      ctx.log.warn({ app: job.app, userId: job.userId }, "delivery for an app that is no longer in the policy: dropped");
      return;
    }
    ctx.processes.notePool(helpers.job.locked_by);
    const run = new UserDelivery(ctx, runtime, job, `${helpers.job.locked_by}/${helpers.job.id}`, helpers.job.priority, workerConcurrency);
    await run.execute();
  };
}
