// Composition root: config → database → services → HTTP app (+ workers, added by later layers).
// main.ts (the process) and the tests both build the broker through here; nothing else wires modules.
import type { Server } from "node:http";
import type { Config } from "./config/config.ts";
import { createDatabase, type Database } from "./store/database.ts";
import { migrate } from "./store/migrate.ts";
import { TokenStore } from "./auth/token-store.ts";
import { createAuthenticator } from "./auth/authenticator.ts";
import { UserService } from "./scim/user-service.ts";
import { GroupService } from "./scim/group-service.ts";
import { SearchService } from "./scim/search-service.ts";
import { BulkService } from "./scim/bulk-service.ts";
import { declareSchemas } from "./scim/schemas.ts";
import { scimRouter } from "./http/scim-router.ts";
import { createApp } from "./http/app.ts";
import { createHttpServer } from "./http/http-server.ts";
import { createMetrics } from "./http/metrics.ts";
import { systemClock, type Clock } from "./domain/clock.ts";
import { createLogger, type Logger } from "./shared/logger.ts";
import type { ChangeHooks } from "./scim/write-context.ts";
import { migrateJobQueue, startJobQueue, type JobQueue } from "./jobs/job-queue.ts";
import type { TaskList } from "graphile-worker";
import type { Router } from "express";
import { adminRouter } from "./admin/admin-router.ts";
import { tokenRouter } from "./admin/token-routes.ts";
import { auditRouter } from "./admin/audit-routes.ts";
import { startAuditSealer } from "./audit/audit-store.ts";
import { createLifecycle } from "./lifecycle/lifecycle.ts";
import { combineHooks } from "./lifecycle/lifecycle-hooks.ts";
import { PolicyHolder } from "./lifecycle/policy-holder.ts";
import { lifecycleRouter } from "./admin/lifecycle-routes.ts";
import { createFanout } from "./fanout/fanout.ts";
import { fanoutRouter } from "./admin/fanout-routes.ts";
import { answerClientErrors } from "./http/client-error.ts";
import { peopleRouter } from "./admin/people-routes.ts";
import { importRouter } from "./admin/import-routes.ts";
import { appOverviewRouter } from "./admin/app-overview-routes.ts";
import { consoleRouter } from "./console/console-router.ts";
import { createOperationsMetrics } from "./admin/operations-metrics.ts";
import { createSsf } from "./ssf/ssf.ts";
import { combinePorts } from "./ssf/combine-ports.ts";

export interface BrokerOptions { databaseUrl: string; clock?: Clock; log?: Logger; hooks?: ChangeHooks }

/**
 * The broker, built in the order its parts depend on each other: the database → the services (policy,
 * fan-out, lifecycle, SCIM) → the HTTP app → the workers. Nothing is assigned after construction.
 */
export async function createBroker(config: Config, opts: BrokerOptions) {
  declareSchemas();
  const log = opts.log ?? createLogger({ level: config.logLevel });
  const clock = opts.clock ?? systemClock;
  const db = await openDatabase(config, opts.databaseUrl, log);
  const services = await buildServices(config, opts, db, log, clock);
  const app = buildHttpApp(config, db, services, log, clock);
  const workers = workerControl(config, db, services, log);
  const { lifecycle, fanout } = services;

  let server: Server | undefined;
  return {
    ...services, app, db, log, clock, tasks: workers.tasks, crontab: workers.crontab, startWorkers: workers.start,
    /** Listens on config.port (0 = any free port); resolves with the bound port. */
    async listen(port = config.port, host = config.host): Promise<number> {
      await lifecycle.start(); // broker.yaml: recorded and converged before the first request (fails fast if invalid)
      await services.ssf.start(); // SSF: signing key on first start, broker.yaml's streams
      // A listen error (EADDRINUSE …) rejects; the server's requests carry Express's prototypes (http-server.ts).
      server = await new Promise<Server>((resolve, reject) => {
        const s = createHttpServer(app);
        s.once("error", reject);
        s.listen(port, host, () => { s.off("error", reject); resolve(s); });
      });
      server.keepAliveTimeout = 65_000; // above common load-balancer idle timeouts
      answerClientErrors(server); // Node's own 400/431 answers get an error body (src/http/client-error.ts)
      await workers.start();
      return (server.address() as { port: number }).port;
    },
    /**
     * Graceful stop, in order: stop accepting requests and let in-flight ones finish while the job queue stops
     * fetching and lets running jobs finish (and releases its LISTEN connection); then the fan-out's
     * registry connection and the audit sealer; the pool last — nothing still uses it, so nothing logs an error.
     */
    async stop(): Promise<void> {
      const closed = workers.stopping().then(() => server
        ? new Promise<void>((resolve) => { server!.close(() => resolve()); server!.closeIdleConnections(); })
        : undefined);
      await workers.stopQueue();
      await closed;
      await fanout.stop();
      await workers.stopSealer();
      await db.close();
    },
  };
}

/** The pool, the schema migrations and graphile-worker's own schema. */
async function openDatabase(config: Config, databaseUrl: string, log: Logger): Promise<Database> {
  const db = createDatabase(databaseUrl, { max: config.dbPoolSize });
  const applied = await migrate(db.pool);
  if (applied.length) log.info({ applied }, "database migrations applied");
  await migrateJobQueue(db.pool);
  return db;
}

/**
 * The services, each handed what it needs: tokens → the active policy (broker.yaml as recorded,
 * lifecycle/policy-holder.ts) → the outbound fan-out (src/fanout: its outbox is the lifecycle's FanoutPort;
 * its tasks deliver to the policy's apps; its service backs `apps …` / `reconcile`) → the lifecycle
 * (src/lifecycle: the in-transaction hooks of every SCIM write, admin routes, the schedule sweep) → the
 * SCIM services that call its hooks.
 */
async function buildServices(config: Config, opts: BrokerOptions, db: Database, log: Logger, clock: Clock) {
  const tokens = new TokenStore(db.prisma, db.pool, db.notifications); // verified tokens cached until PostgreSQL says their row changed
  if (config.bootstrapToken) await tokens.ensureBootstrap(config.bootstrapToken);
  const auth = createAuthenticator(tokens, { clock, defaultRateLimit: config.tokenRateLimit });
  const metrics = createMetrics();
  const policies = new PolicyHolder(log);
  const fanout = createFanout({
    pool: db.pool, databaseUrl: opts.databaseUrl, log, clock, registry: metrics.registry, settings: config.fanout,
    workerConcurrency: config.workerConcurrency, policies, secrets: { secretKey: config.secretKey, dataDir: config.dataDir },
    env: config.policyEnv, // app credentials' ${VAR}s, resolved only when the fan-out authenticates
  });
  // SSF transmitter (src/ssf): its outbox writes SETs in the same HR transaction as the fan-out's jobs.
  const ssf = createSsf({
    pool: db.pool, log, clock, registry: metrics.registry, secrets: { secretKey: config.secretKey, dataDir: config.dataDir },
    publicUrl: config.publicUrl, env: config.policyEnv, declared: () => policies.last.policy.ssf?.streams ?? [], notifications: db.notifications,
    receiving: () => policies.last.policy.ssf?.receive?.issuers ?? [],
    settings: { backoffBaseMs: config.fanout.backoffBaseMs, backoffMaxMs: config.fanout.backoffMaxMs, quarantineAfter: config.fanout.quarantineAfter, setTtlMs: config.ssf.setTtlMs },
  });
  const lifecycle = createLifecycle({
    pool: db.pool, clock, log, policies, fanout: combinePorts(fanout.port, ssf.port), registry: metrics.registry,
    policyFile: config.policyFile, policyFileRequired: config.policyFileRequired,
  });
  const hooks: ChangeHooks = combineHooks(lifecycle.hooks, opts.hooks);
  const users = new UserService(db.pool, clock, hooks);
  const groups = new GroupService(db.pool, clock, hooks);
  const search = new SearchService(db.pool);
  const bulk = new BulkService(users, groups, config.bulk.maxOperations);
  return { tokens, auth, metrics, policies, fanout, ssf, lifecycle, users, groups, search, bulk };
}
type Services = Awaited<ReturnType<typeof buildServices>>;

/** The Express app: SCIM at /scim/v2, the admin API at /admin/v1 (one router per layer), the console. */
function buildHttpApp(config: Config, db: Database, s: Services, log: Logger, clock: Clock) {
  const scim = scimRouter({
    auth: s.auth, users: s.users, groups: s.groups, search: s.search, bulk: s.bulk, pool: db.pool, publicUrl: config.publicUrl,
    limits: { bulk: config.bulk, paging: config.paging, maxBodyBytes: config.maxBodyBytes },
  });
  const adminRoutes: Router[] = [
    auditRouter({ pool: db.pool }), lifecycleRouter({ lifecycle: s.lifecycle, log, pool: db.pool }), tokenRouter({ tokens: s.tokens }),
    fanoutRouter({ fanout: s.fanout.service }), peopleRouter({ pool: db.pool }), importRouter({ pool: db.pool, users: s.users }),
    appOverviewRouter({ pool: db.pool, clock }),
  ];
  createOperationsMetrics(s.metrics.registry, db.pool, clock); // open reviews by kind, per-app leaver SLA (read on scrape)
  return createApp({ log, pool: db.pool, metrics: s.metrics, scim, admin: adminRouter(s.auth, adminRoutes, log), console: consoleRouter(), ssf: s.ssf.router(s.auth, s.ssf.receiver(s.auth, s.users)) });
}

/**
 * The workers: the tasks the layers contribute (lifecycle schedules, fan-out deliveries) run by one
 * graphile-worker pool, and the audit sealer. start() is idempotent; a stop meanwhile waits for it and then
 * stops what it started.
 */
function workerControl(config: Config, db: Database, s: Services, log: Logger) {
  const tasks: TaskList = { ...s.lifecycle.tasks, ...s.fanout.tasks, ...s.ssf.tasks };
  const crontab: string[] = [...s.lifecycle.crontab, ...s.ssf.crontab]; // graphile-worker cron lines (the lifecycle sweep: every minute)
  let jobs: JobQueue | undefined;
  let sealer: { stop(): Promise<void> } | undefined;
  let fanoutStarted = false;
  let stopping = false;
  let starting: Promise<void> | undefined;
  const startSteps = async () => {
    if (!jobs && config.workers && Object.keys(tasks).length) {
      // Crash recovery first: a restarted process must not start by waiting on the leases (and locked jobs)
      // of the process it replaces (src/fanout/delivery/process-registry.ts).
      await s.fanout.processes.start();
      if (stopping) return;
      jobs = await startJobQueue({ pool: db.pool, tasks, concurrency: config.workerConcurrency, log, crontab: crontab.join("\n") });
      s.fanout.processes.notePool(jobs.poolId);
    }
    if (stopping) return;
    if (jobs && !fanoutStarted) { fanoutStarted = true; await s.fanout.start(jobs.runner); } // schedules, policy refresh
    // chains audit rows (hash chain) about once a second, off the write path
    if (!sealer && config.workers && !stopping) sealer = startAuditSealer(db.pool, { log });
  };
  return {
    tasks, crontab,
    start: () => (starting = (starting ?? Promise.resolve()).then(startSteps)),
    /** Marks the stop; resolves once a start in progress (a SIGTERM during start) has finished. */
    stopping: async () => { stopping = true; await starting?.catch(() => {}); },
    stopQueue: async () => { stopping = true; await starting?.catch(() => {}); await jobs?.stop(); },
    stopSealer: async () => { await sealer?.stop(); },
  };
}
export type Broker = Awaited<ReturnType<typeof createBroker>>;
