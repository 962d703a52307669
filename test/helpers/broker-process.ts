// The broker as a user runs it (`npm start`: the sources compiled by `npm run build`, then node dist/main.js)
// in a child process, on its own embedded PostgreSQL (BROKER_DATA_DIR) unless the env names DATABASE_URL.
// Everything it prints is kept, so tests can assert on its log lines (pino JSON, one per line).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

export const freePort = () => new Promise<number>((resolve, reject) => {
  const s = createServer().once("error", reject).listen(0, "127.0.0.1", () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
});

export interface ChildBroker {
  proc: ChildProcess;
  url: string;
  /** everything printed so far, stdout and stderr */
  output(): string;
  /** pino lines printed so far (JSON lines of stdout; other lines skipped) */
  logLines(): Array<Record<string, unknown> & { level: number; msg?: string }>;
  /** resolves with the exit code (null when killed by a signal) */
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

let built: Promise<void> | undefined;
/**
 * `npm run build`, once per test run, as `npm start` does before it starts the broker: the children run the
 * compiled JavaScript that `npm start` and the container image run. Incremental: seconds when nothing changed.
 * The global fixture (test/global.ts) starts it beside the database, so no test's timeout pays for it.
 */
export function buildBroker(): Promise<void> {
  built ??= new Promise<void>((resolve, reject) => {
    execFile("npm", ["run", "--silent", "build"], (e, stdout, stderr) => (e ? reject(new Error(`npm run build failed: ${stdout}${stderr}`)) : resolve()));
  });
  return built;
}

/** Starts the child; with `ready` (default) resolves once it says it serves, or rejects with its output if it exits first. */
export async function startChildBroker(env: Record<string, string>, opts: { ready?: boolean; timeoutMs?: number } = {}): Promise<ChildBroker> {
  const { DATABASE_URL: _d, BROKER_CONFIG: _c, ...rest } = process.env;
  const port = env.PORT ?? String(await freePort());
  await buildBroker();
  // An IPC channel: main.ts sends "ready" on it once it serves (no polling of /readyz).
  const proc = spawn(process.execPath, ["dist/main.js"], {
    env: { ...rest, HOST: "127.0.0.1", BROKER_LOG_LEVEL: "info", ...env, PORT: port }, stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  const ready = new Promise<void>((resolve) => proc.on("message", (m) => { if (m === "ready") resolve(); }));
  let out = "", stdout = "";
  proc.stdout!.on("data", (d) => { out += d; stdout += d; });
  proc.stderr!.on("data", (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const child: ChildBroker = {
    proc, url, exited, output: () => out,
    logLines: () => stdout.split("\n").filter((l) => l.startsWith("{")).flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } }),
    async stop() { if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM"); return exited; },
    async kill9() { if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL"); await exited; },
  };
  if (opts.ready === false) return child;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => "ready" as const),
    exited.then(() => "exited" as const),
    new Promise<"timeout">((resolve) => { timer = setTimeout(() => resolve("timeout"), opts.timeoutMs ?? 60_000); }),
  ]).finally(() => clearTimeout(timer));
  if (outcome === "exited") throw new Error(`broker exited with ${proc.exitCode}: ${out}`);
  if (outcome === "timeout") { await child.kill9(); throw new Error(`broker not ready: ${out}`); }
  proc.disconnect(); // the channel served its one message; an open one would hold both processes
  return child;
}
