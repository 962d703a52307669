// Progress of a long CLI operation on stderr (stdout keeps the command's output, so `--json` stays pure):
// a cli-progress bar redrawn in place on a terminal, plain lines at most every `everyMs` otherwise (logs
// of CI jobs and cron mails). Used by reconcile (waiting for the server's worker) and policy replay; the
// import has its own, driven by the bytes of the file (cli-import.ts).
import cliProgress from "cli-progress";
import type { CliIo } from "./cli-database.ts";

export interface Activity { update(value: number, status: string): void; stop(): void }

export interface ActivityOptions {
  label: string;
  /** the bar's end (e.g. the wait budget in seconds); the bar is filled by update's value */
  total: number;
  unit: string;
  tty: boolean;
  /** plain mode: at most one line per this many milliseconds (default 10 s) */
  everyMs?: number;
  now?: () => number;
}

export function activity(io: CliIo, o: ActivityOptions): Activity {
  if (o.tty) {
    const bar = new cliProgress.SingleBar({
      format: `${o.label} [{bar}] {value}/{total} ${o.unit} | {status}`, stream: process.stderr, hideCursor: true, clearOnComplete: false,
    }, cliProgress.Presets.shades_classic);
    bar.start(Math.max(o.total, 1), 0, { status: "" });
    return { update: (v, status) => bar.update(Math.min(v, o.total), { status }), stop: () => bar.stop() };
  }
  const now = o.now ?? Date.now;
  const every = o.everyMs ?? 10_000;
  let last = now();
  return {
    update(v, status) {
      if (now() - last < every) return;
      last = now();
      io.err(`${o.label}: ${status} (${v}/${o.total} ${o.unit})`);
    },
    stop() {},
  };
}

