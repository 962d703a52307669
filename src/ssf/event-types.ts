// The event types the broker transmits, by URI: CAEP 1.0 §3, RISC 1.0 §2, the SSF 1.0 framework's own
// (verification §8.1.4, stream updated §8.1.5) and RFC 9967's SCIM provisioning events (§2.4 names them in
// lower case: the upper-case `SCIM` of drafts ≤ -09 is obsolete).

const CAEP = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC = "https://schemas.openid.net/secevent/risc/event-type/";
const SSF = "https://schemas.openid.net/secevent/ssf/event-type/";
const PROV = "urn:ietf:params:scim:event:prov:";

export const EVENT = Object.freeze({
  sessionRevoked: `${CAEP}session-revoked`,
  tokenClaimsChange: `${CAEP}token-claims-change`,
  credentialChange: `${CAEP}credential-change`,
  accountDisabled: `${RISC}account-disabled`,
  accountPurged: `${RISC}account-purged`,
  accountEnabled: `${RISC}account-enabled`,
  provCreate: `${PROV}create:notice`,
  provPatch: `${PROV}patch:notice`,
  provActivate: `${PROV}activate`,
  provDeactivate: `${PROV}deactivate`,
  provDelete: `${PROV}delete`,
  verification: `${SSF}verification`,
  streamUpdated: `${SSF}stream-updated`,
});

/** What a stream may request (events_supported); verification is sent whatever a stream requested (SSF §8.1.4). */
export const EVENTS_SUPPORTED: readonly string[] = Object.freeze([
  EVENT.sessionRevoked, EVENT.tokenClaimsChange, EVENT.credentialChange,
  EVENT.accountDisabled, EVENT.accountPurged, EVENT.accountEnabled,
  EVENT.provCreate, EVENT.provPatch, EVENT.provActivate, EVENT.provDeactivate, EVENT.provDelete,
]);

/** Short names accepted in broker.yaml (`session-revoked`, `prov:deactivate`) next to full URIs. */
export function eventUri(name: string): string | undefined {
  if (EVENTS_SUPPORTED.includes(name)) return name;
  return EVENTS_SUPPORTED.find((u) => u.endsWith(`/${name}`) || u === `urn:ietf:params:scim:event:${name}`);
}

/** events_delivered = events_requested ∩ events_supported (SSF §8.1.1), in the order the receiver asked. */
export function eventsDelivered(requested: readonly string[]): string[] {
  return [...new Set(requested.filter((e) => EVENTS_SUPPORTED.includes(e)))];
}

export const PUSH_METHOD = "urn:ietf:rfc:8935";
export const POLL_METHOD = "urn:ietf:rfc:8936";
