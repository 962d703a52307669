// The process: load config, start the embedded PostgreSQL unless DATABASE_URL is set, build the broker,
// listen, and shut down cleanly on SIGTERM/SIGINT (in-flight requests finish, embedded Postgres stops).
import { loadConfig, ConfigError } from "./config/config.ts";
import { createLogger } from "./shared/logger.ts";
import { startEmbeddedPostgres, type EmbeddedDb } from "./store/embedded-postgres.ts";
import { createBroker } from "./broker.ts";
import { startupHintFor } from "./admin/startup-hint.ts";

async function main() {
  let config;
  try { config = loadConfig(); } catch (e) {
    if (e instanceof ConfigError) { console.error(`scim-broker: ${e.message}`); process.exit(2); }
    throw e;
  }
  const log = createLogger({ level: config.logLevel });
  let embedded: EmbeddedDb | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort });
    databaseUrl = embedded.url;
    log.info({ dataDir: config.dataDir, port: config.embeddedPgPort }, "embedded PostgreSQL started");
  }
  const broker = await createBroker(config, { databaseUrl, log });
  const port = await broker.listen();
  log.info({ port, scim: `http://localhost:${port}/scim/v2` }, "SCIM Broker listening");
  const hint = await startupHintFor(broker.tokens, { port, publicUrl: config.publicUrl, bootstrap: !!config.bootstrapToken });
  log.info(hint.fields, hint.message);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    await broker.stop().catch((e) => log.error({ err: e }, "error while stopping"));
    await embedded?.stop().catch((e) => log.error({ err: e }, "error stopping embedded PostgreSQL"));
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((e) => { console.error("scim-broker failed to start:", e); process.exit(1); });
