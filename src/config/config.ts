// Configuration: the only module that reads process.env. Validated once at start-up with zod; a bad
// value stops the broker with a message naming the variable (fail fast).
import { z } from "zod";
import { resolve } from "node:path";

const bool = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => ["true", "1", "yes"].includes(v));
const size = z.string().regex(/^\d+(b|kb|mb)?$/i, "a size like 1048576, 512kb or 1mb").transform((v) => {
  const m = /^(\d+)(b|kb|mb)?$/i.exec(v)!;
  const unit: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024 };
  return Number(m[1]) * unit[(m[2] ?? "b").toLowerCase()]!;
});

const duration = z.string().regex(/^\d+(ms|s|m|h)?$/, "a duration like 500ms, 30s, 5m or 1h (bare number: ms)").transform((v) => {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v)!;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "ms") as "ms"];
});

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default("0.0.0.0"),
  DATABASE_URL: z.string().url().optional(),
  BROKER_DATA_DIR: z.string().default("./data"),
  BROKER_EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  BROKER_BOOTSTRAP_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  BROKER_CONFIG: z.string().optional(),
  BROKER_SECRET_KEY: z.string().optional(),
  BROKER_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  BROKER_MAX_BODY: size.default(1024 * 1024),
  BROKER_BULK_MAX_OPERATIONS: z.coerce.number().int().min(1).default(1000),
  BROKER_BULK_MAX_PAYLOAD: size.default(1024 * 1024),
  BROKER_MAX_PAGE_SIZE: z.coerce.number().int().min(1).max(10000).default(1000),
  BROKER_DEFAULT_PAGE_SIZE: z.coerce.number().int().min(1).default(100),
  BROKER_DB_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(20),
  BROKER_WORKERS: bool.default(true),
  BROKER_PUBLIC_URL: z.string().url().optional(),
  // fan-out (src/fanout): see README "Apps and fan-out"
  BROKER_FANOUT_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(15),
  BROKER_FANOUT_BACKOFF_BASE: duration.default(1000),
  BROKER_FANOUT_BACKOFF_MAX: duration.default(600_000),
  BROKER_FANOUT_QUARANTINE_AFTER: z.coerce.number().int().min(1).default(8),
  BROKER_FANOUT_PROBE_INTERVAL: duration.default(5_000), // cap of the probe backoff (from ~1 s, doubling), src/fanout/apps/app-health.ts
  BROKER_FANOUT_RECONCILE_INTERVAL: duration.or(z.literal("off").transform(() => 0)).default(86_400_000),
  BROKER_FANOUT_SWEEP_INTERVAL: duration.default(5000),
  BROKER_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  // requests per second per token (SCIM and admin APIs), unless the token has its own; "off": unlimited
  // SSF transmitter (src/ssf): how long a SET stays owed (poll) and a retired signing key stays published
  BROKER_SSF_SET_TTL: duration.default(7 * 86_400_000),
  BROKER_TOKEN_RATE_LIMIT: z.literal("off").transform(() => 0).or(z.coerce.number().int().min(1).max(1_000_000)).default(1000),
});

export type Config = {
  port: number;
  host: string;
  databaseUrl?: string;
  dataDir: string;
  embeddedPgPort: number;
  bootstrapToken?: string;
  policyFile?: string;
  secretKey?: string;
  logLevel: string;
  maxBodyBytes: number;
  bulk: { maxOperations: number; maxPayloadBytes: number };
  paging: { defaultPageSize: number; maxPageSize: number };
  dbPoolSize: number;
  workers: boolean;
  publicUrl?: string;
  fanout: FanoutSettings;
  /** graphile-worker jobs run at once in this process (fan-out deliveries, lifecycle schedules) */
  workerConcurrency: number;
  /** default requests per second per token (0: unlimited); a token's own rate_limit wins */
  tokenRateLimit: number;
  /** BROKER_CONFIG was set: the policy file must exist (else ./broker.yaml is used only when present) */
  policyFileRequired: boolean;
  /** values for "${VAR}" references in broker.yaml (the policy loader gets them from here, not process.env) */
  policyEnv: Readonly<Record<string, string | undefined>>;
  /** SSF transmitter: SET time-to-live in ms (BROKER_SSF_SET_TTL) */
  ssf: { setTtlMs: number };
};

/** Tunables of the outbound fan-out (durations in ms). */
export interface FanoutSettings {
  maxAttempts: number; backoffBaseMs: number; backoffMaxMs: number;
  quarantineAfter: number; probeIntervalMs: number; reconcileIntervalMs: number; sweepIntervalMs: number;
}

export class ConfigError extends Error {}

/** Parses an environment (process.env by default) into a Config, or throws ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): Config {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== "")));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  const defaultPolicy = resolve(cwd, "broker.yaml");
  return {
    port: e.PORT, host: e.HOST, databaseUrl: e.DATABASE_URL, dataDir: resolve(cwd, e.BROKER_DATA_DIR),
    embeddedPgPort: e.BROKER_EMBEDDED_PG_PORT, bootstrapToken: e.BROKER_BOOTSTRAP_TOKEN,
    policyFile: e.BROKER_CONFIG ? resolve(cwd, e.BROKER_CONFIG) : defaultPolicy,
    secretKey: e.BROKER_SECRET_KEY, logLevel: e.BROKER_LOG_LEVEL, maxBodyBytes: e.BROKER_MAX_BODY,
    bulk: { maxOperations: e.BROKER_BULK_MAX_OPERATIONS, maxPayloadBytes: e.BROKER_BULK_MAX_PAYLOAD },
    paging: { defaultPageSize: Math.min(e.BROKER_DEFAULT_PAGE_SIZE, e.BROKER_MAX_PAGE_SIZE), maxPageSize: e.BROKER_MAX_PAGE_SIZE },
    dbPoolSize: e.BROKER_DB_POOL_SIZE, workers: e.BROKER_WORKERS, publicUrl: e.BROKER_PUBLIC_URL,
    fanout: {
      maxAttempts: e.BROKER_FANOUT_MAX_ATTEMPTS, backoffBaseMs: e.BROKER_FANOUT_BACKOFF_BASE, backoffMaxMs: e.BROKER_FANOUT_BACKOFF_MAX,
      quarantineAfter: e.BROKER_FANOUT_QUARANTINE_AFTER, probeIntervalMs: e.BROKER_FANOUT_PROBE_INTERVAL,
      reconcileIntervalMs: e.BROKER_FANOUT_RECONCILE_INTERVAL, sweepIntervalMs: e.BROKER_FANOUT_SWEEP_INTERVAL,
    },
    workerConcurrency: e.BROKER_WORKER_CONCURRENCY, tokenRateLimit: e.BROKER_TOKEN_RATE_LIMIT,
    policyFileRequired: !!e.BROKER_CONFIG, policyEnv: Object.freeze({ ...env }),
    ssf: { setTtlMs: e.BROKER_SSF_SET_TTL },
  };
}
