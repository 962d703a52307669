// "${VAR}" references in broker.yaml. A policy may arrive over the admin API from anyone holding an admin
// token, so the server's environment (its bootstrap token, other apps' secrets) must never flow into a
// policy, an answer or a log line. Hence:
//   - only app credentials may reference the environment (apps[].auth.token | username | password |
//     clientId | clientSecret); the policy keeps the reference as written, and the fan-out resolves it
//     from the server's environment when it authenticates (src/fanout/client/app-auth.ts, resolveReferences below);
//   - a reference anywhere else is a validation error, reported at its line without any value;
//   - "$${" is a literal "${" everywhere (in credentials, at resolution).
// The loader never sees an environment: a recorded policy reads the same in every process and in the CLI.
import { isMap, isScalar, isSeq, type Document, type Node } from "yaml";

export interface SubstitutionProblem {
  path: (string | number)[];
  node: Node;
  message: string;
}

const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The auth fields that may hold ${VAR} references (and only these). */
export const CREDENTIAL_FIELDS: readonly string[] = ["token", "username", "password", "clientId", "clientSecret"];

/** apps[i].auth.<credential field> */
export const isCredentialPath = (path: readonly (string | number)[]): boolean =>
  (path.length === 4 && path[0] === "apps" && typeof path[1] === "number" && path[2] === "auth" && CREDENTIAL_FIELDS.includes(String(path[3]))) ||
  // ssf.streams[i].delivery.authorization: a push receiver's Authorization header (src/domain/ssf-stream-config.ts)
  (path.length === 5 && path[0] === "ssf" && path[1] === "streams" && typeof path[2] === "number" && path[3] === "delivery" && path[4] === "authorization");

/**
 * Checks references in place: in credentials they stay as written (syntax checked); elsewhere "$${" becomes
 * a literal "${" and a reference is a problem. Returns every problem with the node and path where it occurs.
 */
export function checkReferences(doc: Document): SubstitutionProblem[] {
  const problems: SubstitutionProblem[] = [];
  const visit = (node: unknown, path: (string | number)[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) visit(pair.value, [...path, isScalar(pair.key) ? String(pair.key.value) : String(pair.key)]);
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === "string" && node.value.includes("${")) {
      const credential = isCredentialPath(path);
      const { value, problems: found } = scan(node.value, (name) =>
        credential ? undefined : `"\${${name}}": environment references are only allowed in app credentials (auth.${CREDENTIAL_FIELDS.join(", auth.")})`);
      for (const message of found) problems.push({ path, node, message });
      if (!credential && found.length === 0) node.value = value;
    }
    // Aliases point at anchored nodes, which are checked where they are defined.
  };
  visit(doc.contents, []);
  return problems;
}

/**
 * Resolves the references of one credential from `env` (the server's, handed over by the config module).
 * Returns the value, or the names that are not set; never echoes any value in `missing`.
 */
export function resolveReferences(text: string, env: Readonly<Record<string, string | undefined>>): { value: string; missing: string[] } {
  const missing: string[] = [];
  // Malformed references cannot reach here: the loader refused them with their line.
  const { value } = scan(text, (name) => {
    const v = env[name];
    if (v === undefined || v === "") missing.push(name);
    return undefined;
  }, (name) => env[name] ?? "");
  return { value, missing };
}

/** True when a string holds at least one ${VAR} reference (not counting "$${"). */
export function hasReference(text: string): boolean {
  return [...text.matchAll(REFERENCE)].some((m) => m[0] !== "$${");
}

/** Walks the references of `text`; `onName` may report a problem per well-formed reference. */
function scan(text: string, onName: (name: string) => string | undefined, valueOf: (name: string) => string = (n) => `\${${n}}`): { value: string; problems: string[] } {
  const problems: string[] = [];
  const value = text.replace(REFERENCE, (match, name: string | undefined) => {
    if (match === "$${") return "${";
    if (name === undefined) {
      problems.push(`unterminated "\${" (write "$\${" for a literal)`);
      return match;
    }
    if (!NAME.test(name)) {
      problems.push(`"\${${name}}" is not a valid variable reference (letters, digits and _)`);
      return match;
    }
    const problem = onName(name);
    if (problem) problems.push(problem);
    return valueOf(name);
  });
  return { value, problems };
}
