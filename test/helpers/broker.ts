// Starts a real broker on 127.0.0.1:<random port> against its own cloned database.
import { loadConfig } from "../../src/config/config.ts";
import { createBroker, type Broker, type BrokerOptions } from "../../src/broker.ts";
import { createLogger } from "../../src/shared/logger.ts";
import { createTestDatabase } from "./db.ts";

export interface TestBroker { broker: Broker; url: string; base: string; token: string; readToken: string; databaseUrl: string; stop(): Promise<void> }

export async function startTestBroker(opts: { env?: Record<string, string>; clock?: BrokerOptions["clock"]; hooks?: BrokerOptions["hooks"]; log?: BrokerOptions["log"]; databaseUrl?: string } = {}): Promise<TestBroker> {
  // A second broker on the same database (two processes of one deployment) passes databaseUrl.
  const db = opts.databaseUrl ? { url: opts.databaseUrl, drop: async () => {} } : await createTestDatabase();
  const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", BROKER_LOG_LEVEL: process.env.BROKER_TEST_LOG ?? "silent", BROKER_DB_POOL_SIZE: "5", ...opts.env });
  const broker = await createBroker(config, { databaseUrl: db.url, clock: opts.clock, hooks: opts.hooks, log: opts.log ?? createLogger({ level: process.env.BROKER_TEST_LOG ?? "silent" }) });
  const suffix = opts.databaseUrl ? `-${Math.random().toString(36).slice(2, 8)}` : "";
  const { token } = await broker.tokens.create({ name: `test-admin${suffix}`, scopes: ["admin", "scim:write", "scim:read"] });
  const { token: readToken } = await broker.tokens.create({ name: `test-reader${suffix}`, scopes: ["scim:read"] });
  const port = await broker.listen(0, "127.0.0.1");
  const url = `http://127.0.0.1:${port}`;
  return {
    broker, url, base: `${url}/scim/v2`, token, readToken, databaseUrl: db.url,
    async stop() { await broker.stop(); await db.drop(); },
  };
}
