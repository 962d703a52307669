// The CLI's exit codes, one table for every command (README "CLI", and `scim-broker --help`).
export const EXIT = {
  /** the command did what was asked */
  ok: 0,
  /** bad arguments, or the operation failed (database unreachable, invalid policy, unknown app or user, a
   *  broken audit chain for `audit verify`, a failed connection for `apps test`) */
  error: 1,
  /** it ran and found something to act on: `reconcile` found drift, `import` rejected rows */
  findings: 2,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0  ok
  1  error: bad arguments or a failed operation (database unreachable, invalid policy, unknown app or
     user), a broken audit chain (audit verify), a failed connection test (apps test)
  2  findings: reconcile found drift (also after --fix: it reports what it found and queued);
     import rejected rows (listed with their line numbers)

Every command takes --json: its result as JSON on stdout; an error as {"error":{"code","message"}} on stderr.
Progress of long operations (import, reconcile, policy replay) goes to stderr: a bar on a terminal, plain
lines otherwise.`;
