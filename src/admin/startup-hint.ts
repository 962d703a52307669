// What the start-up log tells a new operator: where the console is and how to get a first admin token.
// Never a token value: only whether one exists and the command that makes one.
import type { TokenStore } from "../auth/token-store.ts";

export interface StartupHint { message: string; fields: { console: string; adminToken: string } }

/** Pure: the hint for a broker on `port` (or behind `publicUrl`) with `adminTokens` active admin tokens. */
export function startupHint(o: { port: number; publicUrl?: string; bootstrap: boolean; adminTokens: number }): StartupHint {
  const console = `${o.publicUrl ? o.publicUrl.replace(/\/+$/, "") : `http://localhost:${o.port}`}/console/`;
  const adminToken = o.bootstrap
    ? "sign in with the value of BROKER_BOOTSTRAP_TOKEN"
    : o.adminTokens > 0
      ? `sign in with an admin token (${o.adminTokens} active: npx scim-broker token list)`
      : "no admin token yet: run `npx scim-broker token create --name admin --scope admin` (prints it once), or restart with BROKER_BOOTSTRAP_TOKEN=$(openssl rand -hex 32)";
  return { message: `console at ${console} — ${adminToken}`, fields: { console, adminToken } };
}

/** The hint with the active admin tokens counted in the database. */
export async function startupHintFor(tokens: TokenStore, o: { port: number; publicUrl?: string; bootstrap: boolean }): Promise<StartupHint> {
  const adminTokens = (await tokens.list()).filter((t) => !t.revokedAt && t.scopes.includes("admin")).length;
  return startupHint({ ...o, adminTokens });
}
