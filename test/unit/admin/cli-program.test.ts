// The CLI's contract with scripts: every command takes --json, the exit codes are in --help, and long
// operations report progress as plain lines when stderr is not a terminal.
import { expect } from "chai";
import type { Command } from "commander";
import { buildProgram } from "../../../src/admin/cli-program.ts";
import { activity } from "../../../src/admin/cli-progress.ts";
import { EXIT } from "../../../src/admin/cli-exit.ts";
import { RECONCILE_DRIFT_EXIT } from "../../../src/admin/cli-fanout.ts";
import { EXIT_REJECTED_ROWS } from "../../../src/admin/cli-import.ts";

const leaves = (c: Command, path: string[] = []): Array<{ name: string; cmd: Command }> =>
  c.commands.length ? c.commands.flatMap((s) => leaves(s, [...path, s.name()])) : [{ name: path.join(" "), cmd: c }];

describe("CLI: --json, exit codes and progress", () => {
  it("when the command tree is walked, then every command takes --json", () => {
    const all = leaves(buildProgram());
    expect(all.map((l) => l.name)).to.include.members(["token revoke", "apps disable", "apps enable", "lifecycle sweep", "audit export", "import", "reconcile", "policy replay"]);
    const without = all.filter((l) => !l.cmd.options.some((o) => o.long === "--json")).map((l) => l.name);
    expect(without).to.deep.equal([]);
  });

  it("when --help is shown, then it documents the exit codes, and the commands use them", () => {
    let help = "";
    const p = buildProgram().configureOutput({ writeOut: (s) => { help += s; } });
    p.outputHelp();
    expect(help).to.match(/Exit codes:\n\s+0\s+ok\n\s+1\s+error/).and.match(/2\s+findings: reconcile found drift/);
    expect([EXIT.ok, EXIT.error, EXIT.findings]).to.deep.equal([0, 1, 2]);
    expect(RECONCILE_DRIFT_EXIT).to.equal(EXIT.findings);
    expect(EXIT_REJECTED_ROWS).to.equal(EXIT.findings);
  });

  it("when stderr is not a terminal, then progress is a plain line at most every interval", () => {
    const lines: string[] = [];
    let now = 0;
    const a = activity({ out: () => {}, err: (l) => lines.push(l), setExitCode: () => {} }, { label: "reconcile #7 crm", total: 900, unit: "s", tty: false, everyMs: 10_000, now: () => now });
    for (const t of [1, 5, 9, 10, 12, 21]) { now = t * 1000; a.update(t, "a broker worker is reading the app"); }
    a.stop();
    expect(lines).to.deep.equal(["reconcile #7 crm: a broker worker is reading the app (10/900 s)", "reconcile #7 crm: a broker worker is reading the app (21/900 s)"]);
  });
});
