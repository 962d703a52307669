// "${VAR}" references in broker.yaml strings, replaced from the environment the caller passes (the config
// module owns process.env, house style 8). Substitution happens on the YAML node tree, before validation,
// so a missing variable is reported at the line that uses it, and app secrets never need to be written
// into the file.
//
// Rules: a reference is ${NAME} with NAME = [A-Za-z_][A-Za-z0-9_]*; "$${" is a literal "${"; a variable
// that is unset or empty is an error (the config module treats empty as unset too). Only values are
// substituted, never keys. An unquoted scalar that is exactly one reference is re-typed after
// substitution, so `maxUsers: ${MAX_LEAVERS}` gives a number; a quoted one always stays a string.
import { isMap, isScalar, isSeq, type Document, type Node } from "yaml";

export interface SubstitutionProblem {
  path: (string | number)[];
  node: Node;
  message: string;
}

const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Substitutes in place; returns every problem with the node and path where it occurs. */
export function substituteEnv(doc: Document, env: Readonly<Record<string, string | undefined>>): SubstitutionProblem[] {
  const problems: SubstitutionProblem[] = [];
  const visit = (node: unknown, path: (string | number)[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) visit(pair.value, [...path, isScalar(pair.key) ? String(pair.key.value) : String(pair.key)]);
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === "string" && node.value.includes("${")) {
      const original = node.value;
      const { value, missing } = expand(original, env);
      if (missing.length > 0) {
        for (const m of missing) problems.push({ path, node, message: m });
        return;
      }
      node.value = node.type === "PLAIN" && /^\$\{[^}]*\}$/.test(original) ? retype(value) : value;
    }
    // Aliases point at anchored nodes, which are substituted where they are defined.
  };
  visit(doc.contents, []);
  return problems;
}

function expand(text: string, env: Readonly<Record<string, string | undefined>>): { value: string; missing: string[] } {
  const missing: string[] = [];
  const value = text.replace(REFERENCE, (match, name: string | undefined) => {
    if (match === "$${") return "${";
    if (name === undefined) {
      missing.push(`unterminated "\${" (write "$\${" for a literal)`);
      return match;
    }
    if (!NAME.test(name)) {
      missing.push(`"\${${name}}" is not a valid variable reference (letters, digits and _)`);
      return match;
    }
    const v = env[name];
    if (v === undefined || v === "") missing.push(`environment variable ${name} is not set`);
    return v ?? match;
  });
  return { value, missing };
}

// The YAML 1.2 core schema's booleans and numbers, the only types a substituted plain scalar can take.
function retype(value: string): string | number | boolean {
  if (/^(true|True|TRUE)$/.test(value)) return true;
  if (/^(false|False|FALSE)$/.test(value)) return false;
  if (/^[-+]?(\d+|\d*\.\d+)([eE][-+]?\d+)?$/.test(value)) return Number(value);
  return value;
}
