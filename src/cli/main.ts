// `scim-broker` command line: runs the command tree of admin/cli-program.ts against a broker built through
// the composition root (cli-broker.ts), and turns a failure into the documented exit code
// (admin/cli-exit.ts) and an error line — JSON with --json.
import { DomainError } from "../shared/errors.ts";
import { buildProgram } from "../admin/cli-program.ts";
import { EXIT } from "../admin/cli-exit.ts";
import { withCliBroker } from "./cli-broker.ts";

export async function run(argv = process.argv) {
  try {
    await buildProgram(withCliBroker).parseAsync(argv);
  } catch (e) {
    const code = e instanceof DomainError ? e.code : "ERROR";
    const message = (e as Error).message;
    // --json: scripts read the error as JSON too (stderr; stdout stays empty)
    if (argv.includes("--json")) console.error(JSON.stringify({ error: { code, message } }));
    else console.error(e instanceof DomainError ? `error ${code}: ${message}` : `error: ${message}`);
    process.exitCode = EXIT.error;
  }
}
await run();
// A failed command exits non-zero at once, whatever handle (a pool timer, a driver socket) is still open.
if (process.exitCode) process.exit(process.exitCode);
