// docker-compose.yml, checked without Docker (which does not run in CI): the file parses, the broker and
// PostgreSQL both have healthchecks, the database lives on a named volume, the broker waits for a healthy
// database and reaches it by its service name, no secret is written into the file, the broker's
// environment passes its own config validation, and the policy file it is pointed at loads with it.
import { expect } from "chai";
import { existsSync, readFileSync } from "node:fs";
import { join, posix, resolve } from "node:path";
import { parse } from "yaml";
import { loadConfig } from "../../src/config/config.ts";
import { missingCredentials } from "../../src/fanout/client/app-auth.ts";
import { loadPolicy } from "../../src/rules/policy-loader.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const compose = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8"));

/** Compose's interpolation (${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, $$) for a given shell environment. */
function interpolate(v: string, shell: Record<string, string>): string {
  return v.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (m, name: string, colon: string, op: string, arg: string) => {
    if (m === "$$") return "$";
    const set = shell[name] !== undefined && (colon !== ":" || shell[name] !== "");
    if (set) return shell[name]!;
    if (op === "-") return arg;
    if (op === "?") throw new Error(`compose would stop: ${arg}`);
    return "";
  });
}
const envOf = (service: any, shell: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), shell)]));

describe("docker-compose.yml", () => {
  const { postgres, broker } = compose.services ?? {};
  const SHELL = { BROKER_BOOTSTRAP_TOKEN: "b".repeat(64), BROKER_SECRET_KEY: "c".repeat(64) };

  it("when parsed, then PostgreSQL has a healthcheck and its data on a declared named volume", () => {
    expect(postgres.image).to.match(/^postgres:\d+/);
    expect(postgres.healthcheck.test.join(" ")).to.include("pg_isready");
    const [volume, target] = String(postgres.volumes[0]).split(":");
    expect(target).to.equal("/var/lib/postgresql/data");
    expect(compose.volumes).to.have.property(volume!);
  });

  it("when parsed, then the broker waits for a healthy database, reaches it by service name and has a /readyz healthcheck", () => {
    expect(broker.build ?? broker.image).to.not.equal(undefined);
    expect(broker.depends_on.postgres.condition).to.equal("service_healthy");
    const env = envOf(broker, SHELL);
    const db = new URL(env.DATABASE_URL!);
    const pg = envOf(postgres, SHELL);
    expect([db.hostname, db.port, db.pathname, db.username, db.password]).to.deep.equal(["postgres", "5432", `/${pg.POSTGRES_DB}`, pg.POSTGRES_USER, pg.POSTGRES_PASSWORD]);
    expect(broker.healthcheck.test.join(" ")).to.include("/readyz").and.include(`:${env.PORT}`);
    expect(broker.ports.map(String)).to.include(`${env.PORT}:${env.PORT}`);
  });

  it("when the broker's environment is interpolated, then secrets come from the shell and the config validates", () => {
    for (const k of ["BROKER_BOOTSTRAP_TOKEN", "BROKER_SECRET_KEY"]) {
      expect(String(broker.environment[k]), k).to.match(/^\$\{[A-Z_]+:\?/); // required from the shell, never a literal
      expect(() => envOf(broker, { ...SHELL, [k]: "" }), `${k} unset`).to.throw(/compose would stop/);
    }
    const config = loadConfig(envOf(broker, SHELL), "/app");
    expect(config.databaseUrl).to.match(/^postgresql:\/\/broker:/);
    expect(config.bootstrapToken).to.equal(SHELL.BROKER_BOOTSTRAP_TOKEN);
  });

  it("when the broker starts with the policy file compose points it at, then that file exists and loads with the broker's environment", () => {
    const env = envOf(broker, SHELL);
    const mount = broker.volumes.map((v: string) => interpolate(v, SHELL).split(":")).find(([, target]: string[]) => env.BROKER_CONFIG!.startsWith(`${target}/`));
    expect(mount, "BROKER_CONFIG is inside a mounted directory").to.not.equal(undefined);
    const hostFile = join(ROOT, mount[0], posix.relative(mount[1], env.BROKER_CONFIG!));
    expect(existsSync(hostFile), hostFile).to.equal(true);
    const policy = loadPolicy(readFileSync(hostFile, "utf8"), { file: hostFile });
    // app credentials (${VAR}) are resolved by the fan-out from the broker's environment when it authenticates
    for (const app of policy.apps) expect(missingCredentials(app.auth, env), `credentials of ${app.name}`).to.deep.equal([]);
  });

  it("when the image is built, then the console's files are part of it", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(pkg.scripts.build).to.include("src/console/assets"); // tsc emits no .html/.css: the build copies them
    expect(readFileSync(join(ROOT, "Dockerfile"), "utf8")).to.match(/RUN npm run build/);
  });
});
