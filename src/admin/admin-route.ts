// One declaration per admin route: method, path, the zod schemas of its query, path parameters, body and
// answer, and its handler. The express route (routerOf) and the route's OpenAPI operation (openapi.ts) are
// both made from the declaration, so the API and its document cannot drift (docs/admin-api.md).
//
// Inputs are validated here, before the handler runs: a failure is a 400 BAD_REQUEST whose message names
// the field and says what it must be ("limit must be an integer from 1 to 1000") — never zod's internals.
import express, { type Request, type RequestHandler, type Response, type Router } from "express";
import * as z from "zod";
import { DomainError } from "../shared/errors.ts";

export type Method = "get" | "post" | "put" | "patch" | "delete";

export interface RouteBody<B extends z.ZodType> {
  /** What the handler receives, validated; a JSON body by default. */
  schema: B;
  /** Media types and their schemas for the document (default: application/json with `schema`). */
  content?: Record<string, z.ZodType>;
  /** A body parser of its own (e.g. YAML text) run before validation; JSON is parsed by the admin router. */
  parser?: RequestHandler;
  /** true: the body is streamed by the handler (CSV import) and not validated here. */
  streamed?: boolean;
  description?: string;
}

export interface AdminRoute<Q extends z.ZodType = z.ZodType, P extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: Method;
  /** OpenAPI path template relative to /admin/v1, e.g. /apps/{app}; express gets /apps/:app. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  query?: Q;
  params?: P;
  body?: RouteBody<B>;
  /** Success status (default 200) and the schema of its JSON body. */
  status?: number;
  response: z.ZodType;
  /** Error statuses this route answers besides 400/401/403 (e.g. 404, 409). */
  errors?: number[];
  /** No admin token needed (only the OpenAPI document itself). */
  public?: boolean;
  handle(input: { query: z.output<Q>; params: z.output<P>; body: z.output<B> }, req: Request, res: Response): Promise<unknown> | unknown;
}

/** Declares a route; the generics carry the schemas' output types into the handler's input. */
export const route = <Q extends z.ZodType = z.ZodObject<{}>, P extends z.ZodType = z.ZodObject<{}>, B extends z.ZodType = z.ZodUndefined>(
  r: AdminRoute<Q, P, B>,
): AdminRoute => r as unknown as AdminRoute;

/** /apps/{app}/reconcile/{id} → /apps/:app/reconcile/:id */
export const expressPath = (path: string) => path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ":$1");

const DECLARED = Symbol("admin route declarations");

/** The declarations a router was made from (routerOf); none for a router built by hand. */
export const declaredRoutes = (router: Router): readonly AdminRoute[] => (router as Router & { [DECLARED]?: readonly AdminRoute[] })[DECLARED] ?? [];

/** Express router of these routes: parse (the route's parser), validate, handle, answer JSON. */
export function routerOf(routes: readonly AdminRoute[]): Router {
  const r = Object.assign(express.Router(), { [DECLARED]: routes });
  for (const rt of routes) {
    const handlers: RequestHandler[] = [];
    if (rt.body?.parser) handlers.push(rt.body.parser);
    handlers.push(async (req, res) => {
      const input = {
        query: validate(rt.query, cleanQuery(req.query), "query"),
        params: validate(rt.params, req.params ?? {}, "path"),
        body: rt.body && !rt.body.streamed ? validate(rt.body.schema, req.body ?? {}, "body") : undefined,
      };
      const out = await rt.handle(input as never, req, res);
      if (!res.headersSent) res.status(rt.status ?? 200).json(out);
    });
    r[rt.method](expressPath(rt.path), ...handlers);
  }
  return r;
}

/** Query values as strings, trimmed; an empty value counts as absent (`?limit=` is no limit). */
function cleanQuery(q: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((q ?? {}) as Record<string, unknown>)) {
    const s = Array.isArray(v) ? v.join(",") : typeof v === "string" ? v : undefined;
    if (s !== undefined && s.trim() !== "") out[k] = s.trim();
  }
  return out;
}

function validate(schema: z.ZodType | undefined, value: unknown, where: "query" | "path" | "body"): unknown {
  if (!schema) return where === "body" ? undefined : {};
  return validateInput(schema, value, where);
}

/** Validates a value against a schema; a failure is a 400 BAD_REQUEST naming the fields. */
export function validateInput<S extends z.ZodType>(schema: S, value: unknown, where: "query" | "path" | "body"): z.output<S> {
  const res = schema.safeParse(value, { error: defaultMessage });
  if (res.success) return res.data;
  throw new DomainError("BAD_REQUEST", 400, describeIssues(res.error.issues, where), "invalidValue");
}

const MAX_REPORTED = 3;

/** "limit must be an integer from 1 to 1000; kind must be one of …": each issue named by its field. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], where: "query" | "path" | "body"): string {
  const parts = issues.slice(0, MAX_REPORTED).map((i) => {
    const field = fieldName(i.path);
    return field ? `${field} ${i.message}` : where === "body" ? `the request body ${i.message}` : i.message;
  });
  if (issues.length > MAX_REPORTED) parts.push(`and ${issues.length - MAX_REPORTED} more`);
  return parts.join("; ");
}

const fieldName = (path: readonly PropertyKey[]) =>
  path.reduce<string>((s, p) => (typeof p === "number" ? `${s}[${p}]` : s ? `${s}.${String(p)}` : String(p)), "");

const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

/**
 * Messages for the issues a schema did not word itself, phrased to follow the field name. A schema's own
 * message (its `error` parameter) wins over this, and is written the same way ("must be …").
 */
function defaultMessage(iss: z.core.$ZodRawIssue): string {
  switch (iss.code) {
    case "invalid_type":
      if (iss.input === undefined) return "is required";
      return `must be ${iss.expected === "object" ? "a JSON object" : article(String(iss.expected))}`;
    case "too_small":
      if (iss.origin === "string") return Number(iss.minimum) <= 1 ? "must not be empty" : `must be at least ${iss.minimum} characters`;
      if (iss.origin === "array" || iss.origin === "set") return `must have at least ${iss.minimum} item${Number(iss.minimum) === 1 ? "" : "s"}`;
      return `must be ${iss.inclusive ? "at least" : "greater than"} ${iss.minimum}`;
    case "too_big":
      if (iss.origin === "string") return `must be at most ${iss.maximum} characters`;
      if (iss.origin === "array" || iss.origin === "set") return `must have at most ${iss.maximum} items`;
      return `must be ${iss.inclusive ? "at most" : "less than"} ${iss.maximum}`;
    case "invalid_value":
      return `must be ${iss.values.length === 1 ? JSON.stringify(iss.values[0]) : `one of ${iss.values.map(String).join(", ")}`}`;
    case "invalid_format":
      return iss.format === "regex" ? "has an invalid format" : `must be a valid ${iss.format}`;
    case "unrecognized_keys":
      return `has unknown field${iss.keys.length === 1 ? "" : "s"} ${iss.keys.join(", ")}`;
    case "invalid_union":
      return "does not match any accepted form";
    default:
      return "is invalid";
  }
}
