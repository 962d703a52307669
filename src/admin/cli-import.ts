// `scim-broker import FILE.csv --source NAME [--mapping map.yaml] [--dry-run] [--json]`: a thin command over
// the CSV import use case (src/import/csv-import.ts), the same one POST /admin/v1/import runs. The broker is
// built through the composition root without listening or workers: rows are written here, and the apps
// are told by the running server's workers (the fan-out outbox is in the same transactions).
//
// Output: progress on stderr (a bar on a terminal, a line per 10,000 rows otherwise), then the summary on
// stdout — with --json exactly {created, updated, unchanged, rejected, errors: [{line, message}]}.
// Exit codes: 0 every row imported (or unchanged); 2 the import ran and rows were rejected or had a problem
// (listed with their line numbers); 1 the import failed: bad arguments, unreadable file or mapping, a header
// without the required columns, the database unreachable, or a CSV structure that breaks mid-file (rows
// before the break are imported, the rest is not).
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { cliActor, processIo, type CliIo } from "./cli-database.ts";
import type { CliServices, WithCliServices } from "./cli-services.ts";
import { EXIT } from "./cli-exit.ts";
import { checkSource, CSV_BROKEN, importCsv, type ImportProgress, type ImportSummary } from "../import/csv-import.ts";
import { parseMapping } from "../import/csv-mapping.ts";

export type WithImportBroker = <T>(fn: (b: Pick<CliServices, "db" | "users">) => Promise<T>) => Promise<T>;
export const EXIT_REJECTED_ROWS = EXIT.findings;

/** The import's broker on the server's database; `verbose` is read when the command runs (global --verbose). */
export const cliImport = (withBroker: WithCliServices, verbose: () => boolean = () => false): WithImportBroker => (fn) => withBroker(fn, { verbose: verbose() });
const LINE_EVERY = 10_000;
const SHOWN_ERRORS = 50;

async function readable(file: string, what: string): Promise<number> {
  try { return (await stat(file)).size; } catch (e) {
    throw new Error(`cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Progress on stderr: a bar on a terminal (by bytes read of the file), plain lines otherwise. */
export function progressReporter(io: CliIo, totalBytes: number, tty: boolean, every = LINE_EVERY): { update(p: ImportProgress): void; stop(): void } {
  if (tty) {
    // cli-progress redraws in place, throttled, and restores the cursor; hand-drawing "\r" bars gets
    // terminal widths and interleaved writes wrong.
    const bar = new cliProgress.SingleBar({
      format: "import [{bar}] {percentage}% | {rows} rows | created {created} updated {updated} unchanged {unchanged} rejected {rejected}",
      stream: process.stderr, hideCursor: true, clearOnComplete: false,
    }, cliProgress.Presets.shades_classic);
    bar.start(Math.max(totalBytes, 1), 0, { rows: 0, created: 0, updated: 0, unchanged: 0, rejected: 0 });
    return { update: (p) => bar.update(Math.min(p.bytes, totalBytes), { ...p }), stop: () => bar.stop() };
  }
  let shown = 0;
  return {
    update(p) {
      if (p.rows - shown < every) return;
      shown = p.rows - (p.rows % every);
      const pct = totalBytes ? ` (${Math.floor((100 * p.bytes) / totalBytes)} %)` : "";
      io.err(`import: ${p.rows} rows${pct}: created ${p.created}, updated ${p.updated}, unchanged ${p.unchanged}, rejected ${p.rejected}`);
    },
    stop() {},
  };
}

export function registerImportCommand(program: Command, withBroker: WithImportBroker, io: CliIo = processIo, tty = !!process.stderr.isTTY, lineEvery = LINE_EVERY): Command {
  program.command("import <file>")
    .description("import people from a CSV file (HR export): upsert by employeeNumber within the source, through the same rules, lifecycle and fan-out as SCIM writes")
    .requiredOption("--source <name>", "HR source label (as on SCIM tokens): rows are matched by employeeNumber within it")
    .option("--mapping <file>", "YAML mapping: rename columns, add attributes, translate status values, date format")
    .option("--dry-run", "read and check every row, compare with the stored users, write nothing")
    .option("--json", "print only the summary as JSON: {created, updated, unchanged, rejected, errors:[{line, message}]}")
    .addHelpText("after", "\nExit codes: 0 all rows imported, 2 rows rejected or with problems (see errors), 1 failed.\n--verbose (before the command) logs the broker's info messages to stderr.")
    .action(async (file: string, o: { source: string; mapping?: string; dryRun?: boolean; json?: boolean }) => {
      const source = checkSource(o.source);
      const mapping = o.mapping ? (await readable(o.mapping, "mapping file"), parseMapping(await readFile(o.mapping, "utf8"), o.mapping)) : undefined;
      const size = await readable(file, "file");
      const summary: ImportSummary = await withBroker(async (b) => {
        const progress = progressReporter(io, size, tty, lineEvery);
        try {
          return await importCsv(createReadStream(file), {
            source, mapping, dryRun: !!o.dryRun, ctx: { tokenId: null, requestId: null, actor: cliActor() }, onProgress: (p) => progress.update(p),
          }, { pool: b.db.pool, users: b.users });
        } finally { progress.stop(); }
      });
      if (o.json) io.out(JSON.stringify(summary));
      else {
        io.out(`${o.dryRun ? "dry run (nothing written): " : ""}created ${summary.created}, updated ${summary.updated}, unchanged ${summary.unchanged}, rejected ${summary.rejected}`);
        for (const e of summary.errors.slice(0, SHOWN_ERRORS)) io.out(`  line ${e.line}: ${e.message}`);
        if (summary.errors.length > SHOWN_ERRORS) io.out(`  … and ${summary.errors.length - SHOWN_ERRORS} more (--json lists them all)`);
      }
      if (summary.errors.some((e) => e.message.startsWith(CSV_BROKEN))) io.setExitCode(EXIT.error);
      else if (summary.rejected > 0 || summary.errors.length > 0) io.setExitCode(EXIT_REJECTED_ROWS);
    });
  return program;
}
