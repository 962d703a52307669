// `scim-broker import` as an operator runs it (a child process) against a broker's database: --json prints
// exactly the summary, rejected rows give exit code 2. The other cases run the same command in-process on
// the test broker (a child process costs seconds): a CSV whose structure breaks mid-file exits 1 with the
// line, plain output on stdout and progress lines on stderr.
import { expect } from "chai";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Command } from "commander";
import { startLifecycleBroker, type LifecycleBroker } from "./lifecycle-harness.ts";
import { registerImportCommand } from "../../src/admin/cli-import.ts";
import type { CliIo } from "../../src/admin/cli-database.ts";

const HEADER = "employeeNumber,userName,givenName,familyName,email,department,title,userType,employmentStatus,startDate,endDate,manager,costCenter,location";

describe("CSV import: the CLI", function () {
  this.timeout(60_000);
  let b: LifecycleBroker;
  const cli = (...args: string[]) => b.cli(...args);
  before(async () => { b = await startLifecycleBroker("groups: []\n"); });
  after(async () => { await b?.stop(); });

  it("when rows are rejected and --json is given, then stdout is exactly the summary and the exit code is 2", async () => {
    const file = join(b.dir, "people.csv");
    await writeFile(file, [HEADER, "C1,cli1@example.com,A,B,,Sales,,Employee,active,,,,,", "C2,cli2@example.com,A,B,,Sales,,Employee,sacked,,,,,"].join("\n"));
    const r = await cli("import", file, "--source", "hris", "--json");
    expect(r.code, r.stderr).to.equal(2);
    expect(JSON.parse(r.stdout)).to.deep.equal({
      created: 1, updated: 0, unchanged: 0, rejected: 1,
      errors: [{ line: 3, message: "unknown employmentStatus 'sacked' (expected pre-hire, active, leave, terminated; a mapping file's values: can translate others)" }],
    });
    const { rows } = await b.db.query(`SELECT u.source, c.source AS change_source, c.token_id FROM scim_user u JOIN change_record c ON c.resource_id = u.id WHERE u.user_name = 'cli1@example.com'`);
    expect(rows).to.deep.equal([{ source: "hris", change_source: "hris", token_id: null }]);
  });

  /** The command in-process, on the test broker's services, with its output captured. */
  const inProcess = async (...args: string[]) => {
    // progress lines every 100 rows instead of 10,000, so the test stays small
    const out: string[] = [], err: string[] = [];
    let code = 0;
    const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), setExitCode: (c) => { code = c; } };
    const program = registerImportCommand(new Command("scim-broker").exitOverride(), (fn) => fn(b.t.broker), io, false, 100);
    try { await program.parseAsync(["node", "scim-broker", ...args]); } catch (e) { err.push((e as Error).message); code = code || 1; }
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  };

  it("when the CSV breaks mid-file, then the rows before it are imported and the exit code is 1 with the line", async () => {
    const file = join(b.dir, "broken.csv");
    await writeFile(file, [HEADER, "C3,cli3@example.com,A,B,,Sales,,Employee,active,,,,,", 'C4,cli4@example.com,"never closed,B,,Sales,,Employee,active,,,,,',
      "C5,cli5@example.com,A,B,,Sales,,Employee,active,,,,,"].join("\n"));
    const r = await inProcess("import", file, "--source", "hris");
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stdout).to.match(/created 1, updated 0, unchanged 0, rejected 0/);
    expect(r.stdout).to.match(/line 3: not valid CSV: .*quote.*; the rows from here on were not imported/);
    const missing = await inProcess("import", join(b.dir, "nope.csv"), "--source", "hris");
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.match(/cannot read the file .*nope\.csv: ENOENT/);
  });

  it("when a long file is imported without a terminal, then progress comes as plain lines on stderr and the summary on stdout", async () => {
    const file = join(b.dir, "long.csv");
    const rows = Array.from({ length: 250 }, (_, i) => `L${i},long${i}@example.com,Long,Row${i},,Sales,,Employee,active,,,,,`);
    await writeFile(file, [HEADER, ...rows].join("\n"));
    const r = await inProcess("import", file, "--source", "bulk", "--dry-run");
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/^import: 200 rows \(\d+ %\): created 200, updated 0, unchanged 0, rejected 0$/);
    expect(r.stdout).to.equal("dry run (nothing written): created 250, updated 0, unchanged 0, rejected 0");
  });
});
