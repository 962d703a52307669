// broker.yaml → Policy. Reads text (the caller reads the file), and either returns an immutable, fully
// checked policy or throws one PolicyError listing every problem with file, line and column — an operator
// fixes a broken file in one round, not one error per restart. Nothing here touches the database, the
// network or the environment: `${VAR}` is allowed in app credentials only and kept as written (resolved by
// the fan-out when it authenticates, see env-substitution.ts), so a recorded policy reads the same in every
// broker process and in the CLI, and a policy sent over the admin API can never pull a server value out.
import { createHash } from "node:crypto";
import { LineCounter, isMap, isScalar, parseDocument, type Document, type Node } from "yaml";
import type { z } from "zod";
import { redactAppConfig, type AppConfig } from "../domain/app-config.ts";
import type { MassDeprovisionConfig } from "../domain/mass-deprovision-guard.ts";
import { KNOWN_VALUE_ATTRIBUTES, type DataQualityConfig } from "./data-quality-config.ts";
import { AttributePathError } from "../scim/attribute-catalog.ts";
import { ConditionError, compileCondition, type Condition } from "./condition.ts";
import { checkReferences } from "./env-substitution.ts";
import { deepFreeze } from "./freeze.ts";
import { policySchema, type PolicyData } from "../domain/policy-schema.ts";
import { ownedAttributes, resolveOwnedAttribute, type OwnedAttribute, type SourceConfig } from "./source-authority.ts";

export interface PolicyGroup {
  readonly name: string;
  /** The condition as written. */
  readonly when: string;
  readonly condition: Condition;
  readonly privileged: boolean;
  readonly portable: boolean;
  readonly owner?: string;
  readonly description?: string;
}

export interface Policy {
  /** Content hash of the effective policy (16 hex chars): recorded as the cause of rule memberships. */
  readonly version: string;
  readonly file: string;
  readonly groups: readonly PolicyGroup[];
  /** Groups by exact name (names are unique case-insensitively, so there is never a near-duplicate). */
  readonly groupsByName: Readonly<Record<string, PolicyGroup>>;
  readonly apps: readonly AppConfig[];
  readonly guards: { readonly massDeprovision: Readonly<MassDeprovisionConfig> };
  /** Writers and the attributes they own (source-authority.ts); empty: anyone writes anything. */
  readonly sources: readonly SourceConfig[];
  readonly owned: readonly OwnedAttribute[];
  /** The data-quality shield (lifecycle/data-quality.ts); null: off. */
  readonly dataQuality: Readonly<DataQualityConfig> | null;
  /** Shared Signals streams declared next to the apps (src/domain/ssf-stream-config.ts); absent: none. */
  readonly ssf?: PolicyData["ssf"];
}

export interface PolicyIssue {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** Where in the document, e.g. `groups[2].when`; "" for the whole document. */
  path: string;
  message: string;
}

/** Stable error code for an invalid policy file, in logs and CLI output. */
export const POLICY_INVALID = "POLICY_INVALID";

export class PolicyError extends Error {
  readonly code = POLICY_INVALID;
  constructor(readonly issues: readonly PolicyIssue[]) {
    super(`invalid policy (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` + issues.map(formatIssue).join("\n"));
    this.name = "PolicyError";
  }
}

export const formatIssue = (i: PolicyIssue) => `  ${i.file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ""}${i.message}`;

export interface LoadPolicyOptions {
  /** Named in every issue; also recorded in the Policy. */
  file?: string;
}

type Path = (string | number)[];

export function loadPolicy(text: string, options: LoadPolicyOptions = {}): Policy {
  const file = options.file ?? "broker.yaml";
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number, path: Path, message: string): PolicyIssue => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col, path: formatPath(path), message };
  };

  if (doc.errors.length > 0) throw new PolicyError(doc.errors.map((e) => at(e.pos[0], [], e.message.split("\n")[0]!)));

  const issues: PolicyIssue[] = [];
  const report = (path: Path, message: string, node?: Node | null) =>
    issues.push(at(offsetOf(doc, path, node), path, message));

  const envProblems = checkReferences(doc);
  for (const p of envProblems) report(p.path, p.message, p.node);
  // A node with a refused reference still holds "${VAR}"; problems found below it would only echo that.
  const broken = envProblems.map((p) => formatPath(p.path));
  const isBroken = (path: Path) => {
    const s = formatPath(path);
    return broken.some((b) => s === b || s.startsWith(`${b}.`) || s.startsWith(`${b}[`));
  };
  const reportUnlessBroken = (path: Path, message: string, node?: Node | null) => {
    if (!isBroken(path)) report(path, message, node);
  };

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 }); // bounds alias expansion ("billion laughs")
  } catch (e) {
    throw new PolicyError([at(0, [], (e as Error).message)]);
  }
  if (raw === null || raw === undefined) throw new PolicyError([at(0, [], "the policy file is empty")]);

  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) for (const issue of parsed.error.issues) schemaIssue(doc, issue, reportUnlessBroken);

  // Cross-node checks run on the raw data even when the schema failed, so one run reports everything.
  const conditions = checkGroups(raw, reportUnlessBroken);
  checkApps(raw, reportUnlessBroken);
  checkSources(raw, reportUnlessBroken);

  if (issues.length > 0 || !parsed.success)
    throw new PolicyError(issues.sort((a, b) => a.line - b.line || a.column - b.column));
  return buildPolicy(parsed.data, conditions, file);
}

/** Looks a group up by its exact name. */
export const policyGroup = (policy: Policy, name: string): PolicyGroup | undefined =>
  Object.hasOwn(policy.groupsByName, name) ? policy.groupsByName[name] : undefined;

function buildPolicy(data: PolicyData, conditions: Map<number, Condition>, file: string): Policy {
  const { maxUsers, maxPercent, window } = data.guards.massDeprovision;
  const groups: PolicyGroup[] = data.groups.map((g, i) => ({
    name: g.name, when: g.when, condition: conditions.get(i)!, privileged: g.privileged, portable: g.portable,
    ...(g.owner !== undefined ? { owner: g.owner } : {}),
    ...(g.description !== undefined ? { description: g.description } : {}),
  }));
  const groupsByName: Record<string, PolicyGroup> = Object.create(null);
  for (const g of groups) groupsByName[g.name] = g;
  const sources: SourceConfig[] = (data.sources ?? []).map((s) => ({ name: s.name, owns: s.owns, ...(s.owner !== undefined ? { owner: s.owner } : {}) }));
  const dq = data.dataQuality;
  const known: DataQualityConfig["known"] = dq
    ? Object.fromEntries(KNOWN_VALUE_ATTRIBUTES.flatMap((a) => { const list = dq[`${a}s`]; return list ? [[a, list]] : []; }))
    : {};
  return deepFreeze({
    version: contentHash(data), file, groups, groupsByName, apps: data.apps,
    guards: { massDeprovision: { maxUsers, maxPercent, windowMs: window } },
    sources, owned: ownedAttributes(sources),
    dataQuality: dq ? { known, flappingWithinMs: dq.flapping.within, futureTerminationFlagMs: dq.futureTermination.flagBeyond, action: dq.action } : null,
    ...(data.ssf ? { ssf: data.ssf } : {}),
  });
}

/**
 * Hash of the effective policy (after defaults) in canonical JSON, so comments, key order and formatting do
 * not make a new version. App credentials are hashed redacted (a reference by its name): rotating a token
 * is not a policy change, and a hash of a document whose only unknown is a short password would let that
 * password be guessed offline.
 */
function contentHash(data: PolicyData): string {
  const canonical = canonicalJson({ ...data, apps: data.apps.map(redactAppConfig) });
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object")
    return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  return JSON.stringify(value) ?? "null";
}

type Report = (path: Path, message: string, node?: Node | null) => void;
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const field = (v: unknown, key: string): unknown => (v && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined);

/** Conditions compile; names are unique (case-insensitively: SCIM displayName look-ups are, RFC 7643 §4.2 via our key column). */
function checkGroups(raw: unknown, report: Report): Map<number, Condition> {
  const conditions = new Map<number, Condition>();
  const seen = new Map<string, number>();
  asArray(field(raw, "groups")).forEach((group, i) => {
    const when = field(group, "when");
    if (typeof when === "string" && when.length > 0) {
      try {
        conditions.set(i, compileCondition(when));
      } catch (e) {
        if (!(e instanceof ConditionError)) throw e;
        for (const problem of e.problems) report(["groups", i, "when"], problem);
      }
    }
    const name = field(group, "name");
    if (typeof name !== "string") return;
    const first = seen.get(name.toLowerCase());
    if (first === undefined) seen.set(name.toLowerCase(), i);
    else report(["groups", i, "name"], `duplicate group name "${name}" (also groups[${first}])`);
  });
  return conditions;
}

/** App names are unique; every group an app lists is declared under groups. */
function checkApps(raw: unknown, report: Report): void {
  const groups = new Map<string, string>();
  for (const g of asArray(field(raw, "groups"))) {
    const name = field(g, "name");
    if (typeof name === "string" && !groups.has(name.toLowerCase())) groups.set(name.toLowerCase(), name);
  }
  const seen = new Map<string, number>();
  asArray(field(raw, "apps")).forEach((app, i) => {
    const name = field(app, "name");
    if (typeof name === "string") {
      const first = seen.get(name);
      if (first === undefined) seen.set(name, i);
      else report(["apps", i, "name"], `duplicate app name "${name}" (also apps[${first}])`);
    }
    asArray(field(app, "groups")).forEach((ref, k) => {
      if (typeof ref !== "string") return;
      const declared = groups.get(ref.toLowerCase());
      if (declared === ref) return;
      report(["apps", i, "groups", k], declared ? `unknown group "${ref}" (did you mean "${declared}"?)` : `unknown group "${ref}": not declared under groups`);
    });
  });
}

/** Source names are unique; every owned name is a writable User attribute, owned by one source only. */
function checkSources(raw: unknown, report: Report): void {
  const names = new Map<string, number>();
  const owners = new Map<string, { source: string; at: number }>();
  asArray(field(raw, "sources")).forEach((src, i) => {
    const name = field(src, "name");
    if (typeof name === "string") {
      const first = names.get(name);
      if (first === undefined) names.set(name, i);
      else report(["sources", i, "name"], `duplicate source "${name}" (also sources[${first}])`);
    }
    asArray(field(src, "owns")).forEach((attr, k) => {
      if (typeof attr !== "string" || !attr) return;
      let path: string;
      try { path = resolveOwnedAttribute(attr).path; } catch (e) {
        if (!(e instanceof AttributePathError)) throw e;
        report(["sources", i, "owns", k], e.message);
        return;
      }
      const owner = owners.get(path);
      if (!owner) owners.set(path, { source: String(name), at: i });
      else report(["sources", i, "owns", k], `"${attr}" is already owned by source "${owner.source}" (sources[${owner.at}]): one attribute, one owner`);
    });
  });
}

/** Maps one zod issue to the YAML node it is about. */
function schemaIssue(doc: Document, issue: z.core.$ZodIssue, report: Report): void {
  const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
  if (issue.code === "unrecognized_keys") {
    const parent = doc.getIn(path, true);
    for (const key of issue.keys) {
      const pair = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && String(p.key.value) === key) : undefined;
      report([...path, key], `unknown key "${key}"`, isScalar(pair?.key) ? pair.key : undefined);
    }
    return;
  }
  if (path.length > 0 && !doc.hasIn(path) && issue.code === "invalid_type") {
    report(path, `missing required key "${String(path.at(-1))}"`);
    return;
  }
  report(path, issue.message);
}

/** Start offset of the node at `path`, or of its nearest existing ancestor (e.g. the map missing a key). */
function offsetOf(doc: Document, path: Path, node?: Node | null): number {
  if (node?.range) return node.range[0];
  for (let n = path.length; n >= 0; n--) {
    const found = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    const range = (found as Node | undefined)?.range;
    if (range) return range[0];
  }
  return 0;
}

function formatPath(path: Path): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}
