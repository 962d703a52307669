// Pure: the broker's User resource → the resource one app receives (RFC 7643 §4.1 core User + §4.3
// enterprise extension). The broker's HR extension is never sent by default: apps do not know its schema,
// but its attributes are available as mapping sources.
//
// An app's `mapping` overlays the default, target ← source expression (see mapping-expression.ts):
//   userName: 'emails[type eq "work"].value'       replace a default
//   "urn:…:enterprise:2.0:User": null               drop a default
//   "urn:acme:2.0:User:costCenter": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"
// externalId is the broker's own user id (RFC 7643 §3.1: "identifier … defined by the provisioning client").
import type { Dialect } from "./app-dialect.ts";
import { encodeBooleans } from "./app-dialect.ts";
import {
  CORE_USER_SCHEMA,
  MappingSyntaxError,
  evaluateExpression,
  getCI,
  parseExpression,
  parsePath,
  type AttributePath,
  type Expression,
} from "./mapping-expression.ts";

export const ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

export type ScimResource = Record<string, unknown>;
/** target attribute path → source expression; null removes a default target. */
export type UserMapping = Record<string, string | null>;

export const DEFAULT_USER_MAPPING: Readonly<Record<string, string>> = Object.freeze({
  userName: "userName",
  name: "name",
  displayName: "displayName",
  emails: "emails",
  active: "active",
  externalId: "id",
  title: "title",
  userType: "userType",
  [ENTERPRISE_USER_SCHEMA]: ENTERPRISE_USER_SCHEMA,
});

interface CompiledRule {
  target: AttributePath;
  source: Expression;
  /** For filtered targets (emails[type eq "work"].value): attribute values the created element carries. */
  targetSeed: Array<Record<string, unknown> | undefined>;
}

/** Maps a broker user; `targets` are the attribute paths the mapping writes (what the broker owns in the app). */
export type UserMapper = ((user: ScimResource) => ScimResource) & { readonly targets: readonly string[] };

/** Validates a mapping; returns one message per bad entry (empty when valid). Used by the config schema. */
export function validateMapping(mapping: UserMapping | undefined): string[] {
  const errors: string[] = [];
  for (const [target, source] of Object.entries(mapping ?? {})) {
    try {
      compileRule(target, source ?? "null");
    } catch (e) {
      errors.push(`${target}: ${(e as Error).message}`);
    }
  }
  return errors;
}

/** Compiles an app's mapping once (at client construction) so each user costs only evaluation. */
export function compileUserMapping(mapping: UserMapping | undefined, dialect: Pick<Dialect, "stringBooleans">): UserMapper {
  const merged: Record<string, string | null> = { ...DEFAULT_USER_MAPPING, ...(mapping ?? {}) };
  const entries = Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== null);
  const rules = entries.map(([target, source]) => compileRule(target, source));
  const map = (user: ScimResource): ScimResource => {
    const out: ScimResource = { schemas: [CORE_USER_SCHEMA] };
    for (const rule of rules) {
      const value = evaluateExpression(rule.source, user);
      if (value === undefined || value === null) continue;
      setPath(out, rule, structuredClone(value));
    }
    out.schemas = [CORE_USER_SCHEMA, ...Object.keys(out).filter((k) => /^urn:/i.test(k))];
    return encodeBooleans(out, dialect);
  };
  return Object.assign(map, { targets: Object.freeze(entries.map(([target]) => target)) });
}

/** One-off convenience; prefer compileUserMapping in a loop. */
export function mapUser(user: ScimResource, options: { mapping?: UserMapping; dialect?: Pick<Dialect, "stringBooleans"> } = {}): ScimResource {
  return compileUserMapping(options.mapping, options.dialect ?? { stringBooleans: false })(user);
}

function compileRule(target: string, source: string): CompiledRule {
  const path = parsePath(target);
  const targetSeed = path.steps.map((step, i) => {
    if (!step.filter) return undefined;
    if (i === path.steps.length - 1) throw new MappingSyntaxError(`filtered target '${target}' needs a sub-attribute`);
    return seedFromFilter(step.filter as unknown as unknown[], target);
  });
  return { target: path, source: parseExpression(source), targetSeed };
}

/** A target filter must be `a eq v [and b eq w]`: that is what identifies (and creates) the element. */
function seedFromFilter(filter: unknown[], target: string): Record<string, unknown> {
  const bad = () => new MappingSyntaxError(`target filter in '${target}' must be 'attr eq value [and …]'`);
  if (filter.length !== 1) throw bad();
  const seed: Record<string, unknown> = {};
  for (const [attr, comparison] of Object.entries(filter[0] as Record<string, unknown>)) {
    if (!Array.isArray(comparison) || comparison.length !== 2 || comparison[0] !== "eq") throw bad();
    seed[attr] = comparison[1];
  }
  return seed;
}

function setPath(out: ScimResource, rule: CompiledRule, value: unknown): void {
  const { target, targetSeed } = rule;
  if (target.steps.length === 0) {
    // Whole extension object, e.g. the enterprise extension copied as is.
    if (typeof value === "object" && !Array.isArray(value) && Object.keys(value as object).length > 0) out[target.schema!] = value;
    return;
  }
  let parent: Record<string, unknown> = target.schema ? child(out, target.schema) : out;
  target.steps.forEach((step, i) => {
    const last = i === target.steps.length - 1;
    const seed = targetSeed[i];
    if (last) parent[step.name] = value;
    else if (seed) parent = element(parent, step.name, seed);
    else parent = child(parent, step.name);
  });
}

function child(parent: Record<string, unknown>, key: string): Record<string, unknown> {
  const existing = getCI(parent, key);
  if (typeof existing === "object" && existing !== null && !Array.isArray(existing)) return existing as Record<string, unknown>;
  const created: Record<string, unknown> = {};
  parent[key] = created;
  return created;
}

/** Finds (or appends) the element of a multi-valued attribute that carries all `seed` values. */
function element(parent: Record<string, unknown>, key: string, seed: Record<string, unknown>): Record<string, unknown> {
  let list = getCI(parent, key);
  if (!Array.isArray(list)) parent[key] = list = [];
  const values = list as Record<string, unknown>[];
  const found = values.find((v) => Object.entries(seed).every(([k, s]) => getCI(v, k) === s));
  if (found) return found;
  const created = { ...seed };
  values.push(created);
  return created;
}
