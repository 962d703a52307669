// Configuration: the only module that reads process.env. Validated once at start-up with zod; a bad
// value stops the broker with a message naming the variable (fail fast, house-style principle 8).
import { z } from "zod";
import { resolve } from "node:path";

const bool = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => ["true", "1", "yes"].includes(v));
const size = z.string().regex(/^\d+(b|kb|mb)?$/i, "a size like 1048576, 512kb or 1mb").transform((v) => {
  const m = /^(\d+)(b|kb|mb)?$/i.exec(v)!;
  const unit: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024 };
  return Number(m[1]) * unit[(m[2] ?? "b").toLowerCase()]!;
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
};

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
  };
}
