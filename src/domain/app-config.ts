// One downstream app entry of the policy file, validated once at start-up so a typo fails the boot, not the
// first leaver. Credentials are usually `${VAR}` references: the policy keeps them as
// written and the fan-out resolves them from the server's environment when it authenticates (auth.ts);
// the loader has checked their syntax (src/rules/env-substitution.ts).
//
// Zod issues carry paths and messages, never the offending input, so a validation error is safe to log.
import SCIMMY from "scimmy";
import { z } from "zod";
import { validateMapping } from "./app-mapping.ts";

const secret = (what: string) => z.string().min(1, `${what} is empty`);

const BearerAuth = z.object({ type: z.literal("bearer"), token: secret("token") }).strict();
const BasicAuth = z.object({ type: z.literal("basic"), username: secret("username"), password: secret("password") }).strict();
// RFC 6749 §4.4 client credentials grant.
const OAuth2Auth = z
  .object({
    type: z.literal("oauth2"),
    tokenUrl: z.url({ protocol: /^https?$/ }),
    clientId: secret("clientId"),
    clientSecret: secret("clientSecret"),
    scope: z.string().min(1).optional(),
  })
  .strict();

export const AppAuthSchema = z.discriminatedUnion("type", [BearerAuth, BasicAuth, OAuth2Auth]);
export type AppAuth = z.infer<typeof AppAuthSchema>;

/** SCIM filter syntax is checked with scimmy's parser (RFC 7644 §3.4.2.2), never by hand. */
const scimFilter = z.string().superRefine((value, ctx) => {
  try {
    new SCIMMY.Types.Filter(value);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: `invalid SCIM filter: ${(e as Error).message}` });
  }
});

// Explicit dialect settings only: unset fields are filled from /ServiceProviderConfig discovery, then RFC
// defaults (patch: true, opCasing: "lower", stringBooleans: false), see resolveDialect in dialect.ts.
const DialectSchema = z
  .object({
    patch: z.boolean().optional(),
    opCasing: z.enum(["lower", "Capital"]).optional(),
    stringBooleans: z.boolean().optional(),
  })
  .strict();

export const AppConfigSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/, "name: lowercase letters, digits and '-'").max(63),
    // The app's SCIM base URL (RFC 7644 §3.13 versioned base); a trailing slash is dropped.
    url: z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, "")),
    auth: AppAuthSchema,
    assign: scimFilter.default("active eq true"),
    groups: z.array(z.string().min(1)).default([]),
    deprovision: z.enum(["disable", "delete"]).default("disable"),
    rateLimit: z
      .object({ perSecond: z.number().positive(), concurrency: z.number().int().positive().max(256) })
      .strict()
      .optional(),
    // Attribute used to find an account the app already has (RFC 7644 §3.4.2.2 `eq` filter).
    matchAttribute: z.string().regex(/^(urn:[^\s"]+:)?[A-Za-z][\w$.-]*$/, "matchAttribute: a SCIM attribute path").default("userName"),
    // After a 409, an app with at most this many users may be read whole to find the account (user-provisioning.ts).
    matchScanMax: z.number().int().min(0).max(100_000).default(1000),
    mapping: z
      .record(z.string(), z.string().nullable())
      .superRefine((mapping, ctx) => {
        for (const message of validateMapping(mapping)) ctx.addIssue({ code: "custom", message });
      })
      .optional(),
    dialect: DialectSchema.default({}),
    onMissing: z.enum(["recreate", "report"]).default("recreate"),
    timeoutMs: z.number().int().positive().max(120_000).default(10_000),
  })
  .strict();

export type AppConfig = z.infer<typeof AppConfigSchema>;
export type AppConfigInput = z.input<typeof AppConfigSchema>;

/** Parses one app entry; throws zod's error (paths + messages, no secret values). */
export function parseAppConfig(input: unknown): AppConfig {
  return AppConfigSchema.parse(input);
}

/** The literal values an app config must never show in logs, errors or dead letters (references are resolved
 * at use: auth.ts scrubs the resolved values). */
export function appSecrets(config: Pick<AppConfig, "auth">): string[] {
  const { auth } = config;
  if (auth.type === "bearer") return [auth.token];
  if (auth.type === "basic") return [auth.password, Buffer.from(`${auth.username}:${auth.password}`).toString("base64")];
  return [auth.clientSecret, Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(auth.clientSecret)}`).toString("base64")];
}

/** A reference alone (`${NAME}`) names a variable, which is no secret: operators see which one the app uses. */
const REFERENCE_ONLY = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;
const hide = (value: string) => (REFERENCE_ONLY.test(value) ? value : "[redacted]");

/** A copy that is safe to log and show (admin API, CLI, start-up summary): secrets hidden, references named. */
export function redactAppConfig(config: AppConfig): AppConfig {
  const { auth } = config;
  const redacted: AppAuth =
    auth.type === "bearer"
      ? { ...auth, token: hide(auth.token) }
      : auth.type === "basic"
        ? { ...auth, password: hide(auth.password) }
        : { ...auth, clientSecret: hide(auth.clientSecret) };
  return { ...config, auth: redacted };
}
