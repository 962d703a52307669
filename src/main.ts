// The process: load config, start (or adopt) the embedded PostgreSQL unless DATABASE_URL is set, build the
// broker, listen, and shut down cleanly on SIGTERM/SIGINT, in order: the HTTP server (in-flight requests
// finish) and the job queue (running jobs finish, its LISTEN connection is released), then the pool, and
// the embedded PostgreSQL last — so a clean stop logs nothing at error level.
// A start that fails says why in one line on stderr (`scim-broker failed to start: <cause>`) and exits 1.
import { loadConfig, ConfigError, type Config } from "./config/config.ts";
import { createLogger } from "./shared/logger.ts";
import { startEmbeddedPostgres, type EmbeddedDb } from "./store/embedded-postgres.ts";
import { createBroker, type Broker } from "./broker.ts";
import { startupHintFor } from "./admin/startup-hint.ts";

async function main() {
  let config: Config;
  try { config = loadConfig(); } catch (e) {
    if (e instanceof ConfigError) { console.error(`scim-broker: ${e.message}`); process.exit(2); }
    throw e;
  }
  const log = createLogger({ level: config.logLevel });
  let embedded: EmbeddedDb | undefined;
  let broker: Broker | undefined;
  let listening = false;

  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    await broker?.stop().catch((e) => log.error({ err: e }, "error while stopping"));
    // A postmaster adopted from a killed broker is ours to stop once we ran on it; one we found while
    // failing to start is left as it was.
    if (embedded && (listening || !embedded.adopted)) await embedded.stop().catch((e) => log.error({ err: e }, "error stopping embedded PostgreSQL"));
  })());
  const onSignal = (signal: string) => {
    log.info({ signal }, "shutting down");
    void stop().then(() => { log.info({ signal }, "stopped"); process.exit(0); });
  };
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  process.once("SIGINT", () => onSignal("SIGINT"));

  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort });
      databaseUrl = embedded.url;
      log.info({ dataDir: config.dataDir, port: embedded.port, adopted: embedded.adopted }, embedded.adopted
        ? "embedded PostgreSQL of this data directory was still running (the previous broker did not stop it): reusing it"
        : "embedded PostgreSQL started");
    }
    if (stopping) return;
    broker = await createBroker(config, { databaseUrl, log });
    if (stopping) return;
    const port = await broker.listen();
    listening = true;
    log.info({ port, scim: `http://localhost:${port}/scim/v2` }, "SCIM Broker listening");
    const hint = await startupHintFor(broker.tokens, { port, publicUrl: config.publicUrl, bootstrap: !!config.bootstrapToken });
    log.info(hint.fields, hint.message);
    // A supervisor that started us with an IPC channel (PM2's wait_ready, a test harness) learns we serve
    // without polling /readyz.
    process.send?.("ready");
  } catch (e) {
    if (stopping) return; // a signal arrived while starting: the shutdown above reports
    console.error(`scim-broker failed to start: ${startError(e, config)}`);
    await stop();
    process.exit(1);
  }
}

/** One line naming the cause — never "undefined" or "[object Object]". */
function startError(e: unknown, config: Pick<Config, "port" | "host">): string {
  const err = e as { code?: string; message?: string; port?: number; address?: string } | undefined;
  if (err?.code === "EADDRINUSE") return `EADDRINUSE: port ${err.port ?? config.port} is in use${err.address ? ` on ${err.address}` : ""}`;
  if (err?.code === "EACCES" && err.port !== undefined) return `EACCES: no permission to listen on port ${err.port}`;
  if (e instanceof Error) return e.message || e.name;
  if (e === undefined || e === null) return "unknown error (no reason given)";
  try { return typeof e === "string" ? e : JSON.stringify(e); } catch { return String(e); }
}

main().catch((e) => { console.error(`scim-broker failed to start: ${startError(e, { port: 0, host: "" })}`); process.exit(1); });
