// The CLI's broker: built through the one composition root (broker.ts) on the CLI's database, for one
// command, without listening or workers.
import { loadConfig } from "../config/config.ts";
import { cliLogger, openCliDatabase } from "../admin/cli-database.ts";
import type { WithCliServices } from "../admin/cli-services.ts";
import { createBroker } from "../broker.ts";

/**
 * Builds the broker's services (workers off) on the CLI's database for one command, then stops them. No
 * environment for `${VAR}`s: app credentials are the server's alone, so the CLI shows and uses the recorded
 * policy, never one resolved from the operator's shell.
 */
export const withCliBroker: WithCliServices = async (fn, opts = {}) => {
  const config = loadConfig();
  const db = await openCliDatabase(config); // the running server's embedded database, or DATABASE_URL
  try {
    const broker = await createBroker({ ...config, workers: false, policyEnv: {} }, { databaseUrl: db.url, log: cliLogger(config.logLevel, opts.verbose) });
    try { return await fn(broker); } finally { await broker.stop(); }
  } finally { await db.close(); }
};
