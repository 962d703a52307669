// The shape of broker.yaml, in zod: the single source for validation (policy-loader.ts), for the types the
// rules engine reads, and for the JSON Schema editors use to complete the file (json-schema.ts). Semantic
// checks that need more than one node (filter attributes, duplicate names, app → group references) live in
// the loader, which knows where each node is in the file.
import { z } from "zod";
import { AppConfigSchema } from "./app-config.ts";
import { ssfPolicySchema } from "./ssf-stream-config.ts";

const DURATION = /^([1-9]\d*)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "90s", "30m", "1h", "2d" (or "500ms") → milliseconds. */
export const durationSchema = z
  .string()
  .regex(DURATION, 'a duration such as "90s", "30m", "1h" or "1d"')
  .transform((v) => {
    const [, n, unit] = DURATION.exec(v)!;
    return Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  })
  .meta({ description: 'Duration: a positive integer followed by ms, s, m, h or d, e.g. "1h".' });

export const groupSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(256)
      // Group names become SCIM displayNames and keys of memberships; stray spaces would make two names
      // that look identical in every console.
      .regex(/^\S(?:.*\S)?$/, "no leading or trailing whitespace")
      .meta({ description: 'Managed group; appears in SCIM /Groups with this displayName.' }),
    when: z
      .string()
      .min(1)
      .meta({
        description:
          'SCIM filter (RFC 7644 §3.4.2.2) over the user, e.g. department eq "Finance" and active eq true. ' +
          "Short names (department, costCenter, employmentStatus, startDate…) resolve to the enterprise and HR extensions.",
      }),
    privileged: z.boolean().default(false).meta({ description: "Every rule grant waits for the owner's approval." }),
    portable: z.boolean().default(false).meta({ description: "Membership survives a transfer (mover)." }),
    owner: z.string().min(1).optional().meta({ description: "Control owner who reviews grants and exceptions." }),
    description: z.string().optional(),
  })
  .strict();

export const massDeprovisionSchema = z
  .object({
    maxUsers: z.number().int().min(0).default(50).meta({ description: "Hold leavers beyond this many per source within the window." }),
    maxPercent: z.number().gt(0).max(100).default(20).meta({ description: "Hold leavers beyond this percentage of the source's population." }),
    window: durationSchema.prefault("1h"),
  })
  .strict();

export const guardsSchema = z
  .object({ massDeprovision: massDeprovisionSchema.prefault({}) })
  .strict();

const knownValues = (what: string) => z
  .array(z.string().min(1))
  .min(1)
  .optional()
  .meta({ description: `Known ${what}. A mover whose ${what.replace(/s$/, "")} becomes blank or is not listed (compared case-insensitively) is a data-quality signal (unknown-value).` });

export const dataQualitySchema = z
  .object({
    departments: knownValues("departments"),
    costCenters: knownValues("costCenters"),
    locations: knownValues("locations"),
    userTypes: knownValues("userTypes"),
    flapping: z
      .object({ within: durationSchema.prefault("1h").meta({ description: "A leaver re-activated within this time of leaving is flapping." }) })
      .strict()
      .prefault({}),
    futureTermination: z
      .object({ flagBeyond: durationSchema.prefault("30d").meta({ description: "A termination dated further ahead than this is flagged." }) })
      .strict()
      .prefault({}),
    action: z
      .enum(["hold", "flag"])
      .default("hold")
      .meta({ description: "hold: signals raise one data-quality review per user and access being given waits for it; flag: record and count only." }),
  })
  .strict()
  .meta({ description: "The data-quality shield: never delays taking access away; holds giving it (back) when HR data looks wrong." });

export const sourceSchema = z
  .object({
    name: z.string().min(1).meta({ description: "The HR source label of a token (scim-broker token create --source)." }),
    owner: z.string().min(1).optional().meta({ description: "Who answers for this source's data: owner of its data-quality reviews when no group owner is concerned." }),
    owns: z
      .array(z.string().min(1))
      .default([])
      .meta({ description: "User attributes only this source may change (short names such as department, or core names such as emails)." }),
  })
  .strict();

export const policySchema = z
  .object({
    groups: z.array(groupSchema).default([]),
    apps: z.array(AppConfigSchema).default([]),
    // prefault, not default: an absent section is parsed as {} so the field defaults (and the duration
    // transform) apply, and the defaults live in one place.
    guards: guardsSchema.prefault({}),
    // Optional without a default: a policy that does not use them hashes (policy-loader.ts) as it did before.
    sources: z.array(sourceSchema).optional().meta({ description: "Which HR or IdP source owns which user attributes (source authority)." }),
    dataQuality: dataQualitySchema.optional(),
    ssf: ssfPolicySchema.optional(),
  })
  .strict()
  .meta({ title: "SCIM Broker policy (broker.yaml)", description: "Groups, apps, guards, sources and the data-quality shield of SCIM Broker." });

export type PolicyInput = z.input<typeof policySchema>;
export type PolicyData = z.output<typeof policySchema>;
export type GroupData = z.output<typeof groupSchema>;
export type DataQualityData = z.output<typeof dataQualitySchema>;
export type SourceData = z.output<typeof sourceSchema>;
