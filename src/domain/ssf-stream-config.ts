// Streams declared in broker.yaml (`ssf.streams`), next to the apps: an operator connects a receiver that
// does not manage its own stream (SSF 1.0 §8.1). zod only, so the policy schema can include it as it is.
import { z } from "zod";

export const ssfStreamConfigSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lower-case letters, digits, _ and -").meta({ description: "The stream's name (unique)." }),
    delivery: z
      .object({
        method: z.enum(["push", "poll"]).meta({ description: "push: RFC 8935 to url; poll: RFC 8936 at /ssf/poll/<stream_id>." }),
        url: z.string().url().optional().meta({ description: "The receiver's push endpoint (push only)." }),
        authorization: z.string().optional().meta({ description: 'Authorization header value for pushes, e.g. "Bearer ${RECEIVER_TOKEN}".' }),
      })
      .strict(),
    events: z.array(z.string().min(1)).min(1).meta({ description: "Event types: URIs or short names (session-revoked, account-disabled, token-claims-change, prov:deactivate …)." }),
    audience: z.string().min(1).optional().meta({ description: "The SETs' aud (default: the push endpoint's origin, or the stream's name)." }),
    description: z.string().optional(),
  })
  .strict()
  .refine((s) => s.delivery.method === "poll" || !!s.delivery.url, { message: "push delivery needs delivery.url", path: ["delivery", "url"] });

export const ssfPolicySchema = z
  .object({ streams: z.array(ssfStreamConfigSchema).default([]) })
  .strict()
  .meta({ description: "OpenID Shared Signals (CAEP, RISC, SCIM events) streams the broker transmits to (docs/ssf.md)." });

export type SsfStreamConfig = z.output<typeof ssfStreamConfigSchema>;
export type SsfPolicy = z.output<typeof ssfPolicySchema>;
