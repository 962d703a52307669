// The `scim-broker` command tree (commander). Each command is a thin call into the same services the
// server uses; output is plain text for people, or JSON with --json for scripts (every command takes it;
// test/unit/admin/cli-program.test.ts walks the tree). Exit codes: cli-exit.ts.
import { Command, Option } from "commander";
import { loadConfig } from "../config/config.ts";
import { openCliDatabase } from "./cli-database.ts";
import { TokenStore, SCOPES, parseRateLimit } from "../auth/token-store.ts";
import type { Database } from "../store/database.ts";
import { registerAuditCommands } from "./cli-audit.ts";
import { cliLifecycle, registerLifecycleCommands } from "./cli-lifecycle.ts";
import { cliFanout, registerFanoutCommands } from "./cli-fanout.ts";
import { cliImport, registerImportCommand } from "./cli-import.ts";
import { EXIT_CODES_HELP } from "./cli-exit.ts";
import type { WithCliServices } from "./cli-services.ts";

/** The broker a command runs against; the CLI's entry (src/cli/main.ts) passes the composition root's. */
const unwired: WithCliServices = () => Promise.reject(new Error("this command tree was built without a broker"));

export function buildProgram(withBroker: WithCliServices = unwired): Command {
  const program = new Command("scim-broker").description("SCIM Broker administration").showHelpAfterError()
    .option("--verbose", "log info messages (to stderr; warnings and errors are always logged there)")
    .addHelpText("after", EXIT_CODES_HELP);
  const verbose = () => program.opts().verbose === true;

  async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
    const db = await openCliDatabase(loadConfig());
    try { return await fn(db); } finally { await db.close(); }
  }

  const rateText = (r: number | null) => (r === null ? "" : r === 0 ? ", no rate limit" : `, ${r} requests/s`);

  const token = program.command("token").description("API tokens for SCIM clients and admins");
  token.command("create").description("create a token and print it once")
    .requiredOption("--name <name>", "unique token name")
    .addOption(new Option("--scope <scope...>", "scopes").choices([...SCOPES]).makeOptionMandatory())
    .option("--source <label>", "HR source label: users created with this token remember it")
    .option("--rate <n>", "requests per second for this token (bursts up to n), or 'off'; default BROKER_TOKEN_RATE_LIMIT")
    .option("--json", "print JSON")
    .action(async (o) => withDb(async (db) => {
      const { token: value, info } = await new TokenStore(db.prisma).create({ name: o.name, scopes: o.scope, source: o.source, rateLimit: parseRateLimit(o.rate) });
      if (o.json) console.log(JSON.stringify({ token: value, ...info }));
      else console.log(`${value}\n\n(token '${info.name}' with scopes ${info.scopes.join(", ")}${info.source ? `, source ${info.source}` : ""}${rateText(info.rateLimit)}; it is shown only this once)`);
    }));
  token.command("list").description("list tokens (never their values)").option("--json", "print JSON")
    .action(async (o) => withDb(async (db) => {
      const list = await new TokenStore(db.prisma).list();
      if (o.json) { console.log(JSON.stringify(list)); return; }
      for (const t of list) console.log([t.name, t.scopes.join(","), t.source ?? "-", t.rateLimit === null ? "rate default" : t.rateLimit === 0 ? "rate off" : `rate ${t.rateLimit}/s`, t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : "active", `created ${t.createdAt.toISOString()}`].join("\t"));
    }));
  // A trigger on api_token notifies every broker process on commit; each drops the token from its cache.
  token.command("revoke <name>").description("revoke a token (refused by every broker process once it hears of the commit)").option("--json", "print JSON")
    .action(async (name, o) => withDb(async (db) => {
      const info = await new TokenStore(db.prisma).revoke(name);
      console.log(o.json ? JSON.stringify(info) : `revoked '${name}'`);
    }));

  registerAuditCommands(program, withDb);
  registerLifecycleCommands(program, cliLifecycle(withBroker, verbose));
  registerFanoutCommands(program, cliFanout(withBroker, verbose));
  registerImportCommand(program, cliImport(withBroker, verbose));
  return program;
}
