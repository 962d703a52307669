// The zod schemas the admin routes share: query parameters (which arrive as strings), identifiers, dates,
// and the one error body. Each parameter's own message follows its field name ("limit must be …";
// admin-route.ts names the field).
import * as z from "zod";

/** {"error": {"code", "message"}}: every admin error (README "Stable error codes"). */
export const ErrorBody = z.object({
  error: z.looseObject({
    code: z.string().meta({ description: "a stable code, e.g. BAD_REQUEST, NOT_FOUND, CONFLICT, POLICY_INVALID" }),
    message: z.string().meta({ description: "what went wrong, naming the field for a validation error" }),
  }),
}).meta({ id: "Error" });

/** A timestamp as JSON carries it (answers only). */
export const Timestamp = z.iso.datetime({ offset: true });
export const NullableTimestamp = Timestamp.nullable();

/** An integer query or path parameter within [min, max]. */
export const intParam = (min: number, max: number, description?: string) => {
  const message = `must be an integer from ${min} to ${max}`;
  return z.string().regex(/^\d{1,16}$/, { error: message })
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n) && n >= min && n <= max, { error: message })
    .meta({ description: description ?? `an integer from ${min} to ${max}` });
};

export const boolParam = (description?: string) =>
  z.enum(["true", "false"], { error: "must be true or false" }).transform((v) => v === "true").meta({ description });

// ISO 8601 only: Date.parse alone would also take "3" or "May 5" and answer with surprising windows.
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
/** An ISO 8601 date or timestamp (query parameter or JSON string) → Date. */
export const timeParam = (description?: string) =>
  z.string({ error: (i) => (i.input === undefined ? "is required" : "must be an ISO 8601 date or timestamp") })
    .regex(ISO, { error: "must be an ISO 8601 date or timestamp" })
    .refine((s) => !Number.isNaN(Date.parse(s)), { error: "must be an ISO 8601 date or timestamp" })
    .transform((s) => new Date(s))
    .meta({ description, examples: ["2025-01-31T09:00:00Z"] });

/** One of `values`. */
export const oneOf = <T extends string>(values: readonly [T, ...T[]], description?: string) =>
  z.enum(values, { error: `must be one of ${values.join(", ")}` }).meta({ description });

/** A comma-separated list of `values` (e.g. kind=joiner,leaver); `noun` words the unknown ones. */
export const listOf = <T extends string>(values: readonly T[], noun: string, description?: string) =>
  z.string()
    .transform((s) => [...new Set(s.split(",").map((x) => x.trim()).filter(Boolean))])
    .superRefine((xs, ctx) => {
      const unknown = xs.filter((x) => !(values as readonly string[]).includes(x));
      if (unknown.length || !xs.length)
        ctx.addIssue({ code: "custom", input: xs, message: unknown.length ? `names an unknown ${noun} ${unknown.map((k) => `'${k}'`).join(", ")} (known: ${values.join(", ")})` : `must name at least one ${noun}` });
    })
    .transform((xs) => xs as T[])
    .meta({ description: `${description ? `${description}: ` : ""}comma-separated, among ${values.join(", ")}` });

/** A free-text reference (a user id or userName, a group or app name) in a path or a filter. */
export const ref = (description: string, max = 256) =>
  z.string().min(1).max(max).meta({ description });

/** The user an admin names: its id or its userName. */
export const userRef = ref("the user's id or userName");

/** A path parameter naming an app of the policy. */
export const AppParams = z.object({ app: ref("the app's name in broker.yaml", 200) });

/** {items: [...]} */
export const itemsOf = (item: z.ZodType) => z.object({ items: z.array(item) });
