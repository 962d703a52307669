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

/** What a received event does to a known user (docs/ssf.md "Receiving"). */
export const ssfReceiveActionSchema = z.enum(["leaver", "review", "record"]).meta({
  description: "leaver: deactivate the user through the SCIM user service (the whole leaver path); review: open a data-quality review the owner decides; record: only record it.",
});

// A trusted SET issuer (RFC 8935 §2.2: the recipient validates the SET's issuer, audience and signature).
export const ssfReceiveIssuerSchema = z
  .object({
    issuer: z.string().min(1).meta({ description: "The SETs' iss, exactly as the transmitter writes it." }),
    jwksUri: z.string().url().meta({ description: "The issuer's JWKS (its SSF metadata's jwks_uri)." }),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).meta({ description: "The aud the SETs must carry (this broker as the issuer's stream names it)." }),
    actions: z
      .object({
        accountDisabled: ssfReceiveActionSchema.default("review").meta({ description: "RISC account-disabled (default: review)." }),
        sessionRevoked: ssfReceiveActionSchema.default("record").meta({ description: "CAEP session-revoked (default: record)." }),
      })
      .strict()
      .default({ accountDisabled: "review", sessionRevoked: "record" }),
    description: z.string().optional(),
  })
  .strict();

export const ssfReceiveSchema = z
  .object({ issuers: z.array(ssfReceiveIssuerSchema).default([]) })
  .strict()
  .refine((r) => new Set(r.issuers.map((i) => i.issuer)).size === r.issuers.length, { message: "each issuer is declared once", path: ["issuers"] })
  .meta({ description: "SETs the broker accepts at POST /ssf/receive (RFC 8935), from these issuers only." });

export const ssfPolicySchema = z
  .object({ streams: z.array(ssfStreamConfigSchema).default([]), receive: ssfReceiveSchema.optional() })
  .strict()
  .meta({ description: "OpenID Shared Signals (CAEP, RISC, SCIM events) streams the broker transmits to, and issuers it receives from (docs/ssf.md)." });

export type SsfStreamConfig = z.output<typeof ssfStreamConfigSchema>;
export type SsfPolicy = z.output<typeof ssfPolicySchema>;
export type SsfReceiveAction = z.output<typeof ssfReceiveActionSchema>;
export type SsfReceiveIssuer = z.output<typeof ssfReceiveIssuerSchema>;
