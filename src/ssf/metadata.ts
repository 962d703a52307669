// Transmitter configuration metadata (SSF 1.0 §7.1), served at /.well-known/ssf-configuration (§7.2).
import { POLL_METHOD, PUSH_METHOD } from "./event-types.ts";

export function transmitterMetadata(issuer: string): Record<string, unknown> {
  return {
    spec_version: "1_0",
    issuer,
    jwks_uri: `${issuer}/ssf/jwks.json`,
    delivery_methods_supported: [PUSH_METHOD, POLL_METHOD],
    configuration_endpoint: `${issuer}/ssf/stream`,
    status_endpoint: `${issuer}/ssf/status`,
    add_subject_endpoint: `${issuer}/ssf/subjects/add`,
    remove_subject_endpoint: `${issuer}/ssf/subjects/remove`,
    verification_endpoint: `${issuer}/ssf/verify`,
    // Receivers present a broker API token (README "Tokens", scope ssf) as an OAuth 2.0 bearer token (RFC 6750).
    authorization_schemes: [{ spec_urn: "urn:ietf:rfc:6749" }],
    // A new stream carries events about every user until the receiver removes subjects (§8.1.3).
    default_subjects: "ALL",
  };
}

/** The issuer: the broker's public URL (BROKER_PUBLIC_URL), else the origin the request reached. */
export function issuerFor(publicUrl: string | undefined, req: { protocol: string; get(h: string): string | undefined }): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, "");
  return `${req.protocol}://${req.get("host") ?? "localhost"}`;
}
