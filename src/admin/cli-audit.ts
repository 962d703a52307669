// `scim-broker audit verify` and `scim-broker audit export`: thin commands over src/audit/audit-store.ts.
// verify exits 1 when the chain is broken and names the row and the reason code; export writes JSON lines
// to a file or stdout (stdout then carries nothing else, so it can be piped).
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { finished } from "node:stream/promises";
import type { Writable } from "node:stream";
import { Command, InvalidArgumentError, Option } from "commander";
import type { Database } from "../store/database.ts";
import { AUDIT_KINDS, type AuditKind } from "../audit/audit-log.ts";
import { exportAudit, verifyAudit, type AuditFilter } from "../audit/audit-store.ts";
import { parseInteger, parseTime } from "./audit-routes.ts";
import { DomainError } from "../shared/errors.ts";
import { processIo as processLineIo, type CliIo as LineIo } from "./cli-database.ts";

/** Where the commands write (the CLI's one CliIo, cli-database.ts), plus the stream an export writes to. */
export interface CliIo extends LineIo { stdout: Writable }
const processIo: CliIo = { ...processLineIo, stdout: process.stdout };

// commander option parsers reuse the API's validation, so the CLI and the API accept the same values.
const asOption = <T>(fn: (v: string) => T) => (v: string): T => {
  try { return fn(v); } catch (e) { throw new InvalidArgumentError(e instanceof DomainError ? e.message : String(e)); }
};

export function registerAuditCommands(
  program: Command,
  withDb: <T>(fn: (db: Database) => Promise<T>) => Promise<T>,
  io: CliIo = processIo,
): Command {
  const audit = program.command("audit").description("the entitlement audit log (hash-chained)");

  audit.command("verify").description("recompute the hash chain and report the first broken row (exit code 1)")
    .option("--from-index <n>", "verify from this checkpoint's chain index", asOption((v) => parseInteger("--from-index", v, 0, Number.MAX_SAFE_INTEGER)))
    .option("--from-hash <hex>", "the checkpoint's hash (printed by an earlier verify)")
    .option("--json", "print JSON")
    .action(async (o: { fromIndex?: number; fromHash?: string; json?: boolean }) => {
      if ((o.fromIndex === undefined) !== (o.fromHash === undefined)) throw new DomainError("BAD_REQUEST", 400, "--from-index and --from-hash go together");
      const from = o.fromIndex !== undefined ? { chainIndex: o.fromIndex, hash: o.fromHash! } : undefined;
      const r = await withDb((db) => verifyAudit(db.pool, { from }));
      if (!r.ok) io.setExitCode(1);
      if (o.json) { io.out(JSON.stringify(r)); return; }
      if (!r.ok) {
        const where = [r.brokenAt?.chainIndex != null ? `chain index ${r.brokenAt.chainIndex}` : null, r.brokenAt?.seq != null ? `seq ${r.brokenAt.seq}` : null].filter(Boolean).join(", ");
        io.out(`BROKEN at ${where}: ${r.reason} — ${r.detail}`);
        io.out(`(${r.checked} rows verified before it)`);
        return;
      }
      io.out(`ok: ${r.checked} rows verified${from ? ` from checkpoint #${from.chainIndex}` : ""}, ${r.pending} not sealed yet`);
      // Printing the tip lets the operator keep it outside the database: a later verify from it also
      // catches a rewrite of everything before it (see "checkpoint_mismatch").
      if (r.tip) io.out(`checkpoint: --from-index ${r.tip.chainIndex} --from-hash ${r.tip.hash}`);
    });

  audit.command("export").description("write audit events as JSON lines (sealed first, one snapshot, seq order)")
    .option("--user <id>", "only events about this user id")
    .option("--group <name>", "only events about this group (case-insensitive)")
    .addOption(new Option("--kind <kind...>", "only these kinds").choices([...AUDIT_KINDS]))
    .option("--from <iso>", "events at or after this time", asOption((v) => parseTime("--from", v)))
    .option("--to <iso>", "events before this time", asOption((v) => parseTime("--to", v)))
    .option("--out <file>", "write to this file instead of stdout")
    .option("--json", "with --out: print {exported, out} as JSON on stdout (without --out, stdout is the JSON lines)")
    .action(async (o: { user?: string; group?: string; kind?: AuditKind[]; from?: Date; to?: Date; out?: string; json?: boolean }) => {
      const filter: AuditFilter = { userId: o.user, group: o.group, kind: o.kind, from: o.from, to: o.to };
      if (!o.out) {
        await withDb((db) => exportAudit(db.pool, io.stdout, filter));
        return;
      }
      const file = createWriteStream(o.out, { flags: "w" });
      await once(file, "open"); // a bad path fails here, before the database is opened
      let n: number;
      try {
        n = await withDb((db) => exportAudit(db.pool, file, filter));
      } catch (e) {
        file.destroy();
        throw e;
      }
      file.end();
      await finished(file); // flushed and closed, or the write error
      if (o.json) io.out(JSON.stringify({ exported: n, out: o.out }));
      else io.err(`exported ${n} events to ${o.out}`);
    });

  return audit;
}
