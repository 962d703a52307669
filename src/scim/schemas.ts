// SCIM schema definitions served by the broker: core User (RFC 7643 §4.1) with the enterprise extension
// (§4.3) and our HR extension, and core Group (§4.2). Declared on scimmy's SchemaDefinition so validation,
// /Schemas and attribute look-ups (caseExact, multiValued, type) all come from one definition.
//
// scimmy keeps schema definitions in process-wide statics (docs/scimmy.md 10). We extend them once,
// idempotently, from here; nothing else in the broker touches SCIMMY.Schemas.
import SCIMMY from "scimmy";

export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
export const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
export const ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
export const HR_SCHEMA = "urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User";
export const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
export const LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
export const SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
export const BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
export const BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
export const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";

export const EMPLOYMENT_STATUSES = ["pre-hire", "active", "leave", "terminated"] as const;
export type EmploymentStatus = (typeof EMPLOYMENT_STATUSES)[number];

const { SchemaDefinition, Attribute } = SCIMMY.Types;

/** Our HR extension: what HR feeds know and the core/enterprise schemas lack. */
export const hrExtension = new SchemaDefinition("BrokerUser", HR_SCHEMA, "HR lifecycle attributes used by SCIM Broker", [
  // Unlike the RFC 7643 canonicalValues (suggestions, §7), this list is closed: the lifecycle classifies
  // joiners, leavers and leave by these values, and an unknown one must not pass as "not terminated".
  new Attribute("string", "employmentStatus", {
    canonicalValues: [...EMPLOYMENT_STATUSES],
    description: "Employment status from the HR system of record. Only these values are accepted: pre-hire | active | leave | terminated.",
  }),
  new Attribute("dateTime", "startDate", { description: "First working day (RFC 3339)." }),
  new Attribute("dateTime", "endDate", { description: "Last working day or contract end (RFC 3339)." }),
  new Attribute("string", "location", { description: "Work location." }),
  new Attribute("complex", "sponsor", { description: "Owner of a contractor or non-human identity." }, [
    new Attribute("string", "value", { description: "The id of the owner's User." }),
    new Attribute("reference", "$ref", { referenceTypes: ["User"], description: "URI of the owner's User." }),
    new Attribute("string", "displayName", { mutable: false, description: "The owner's display name." }),
  ]),
]);

/**
 * The Group schema as the broker serves it (RFC 7643 §4.2): members are Users only — nested groups are
 * refused (group-resource.ts) — and members.display is the member's userName, set by the server, so it
 * is readOnly (§7: a client's value is ignored). scimmy's own Group definition advertises Group members and
 * an immutable display; it is shared with other users of scimmy in the process, so it is not changed but
 * replaced here, keeping its displayName attribute.
 */
export const groupSchema = new SchemaDefinition("Group", GROUP_SCHEMA, "Group", [
  SCIMMY.Schemas.Group.definition.attribute("displayName") as InstanceType<typeof Attribute>,
  new Attribute("complex", "members", { multiValued: true, uniqueness: false, description: "The Users that are members of this Group (nested groups are not supported)." }, [
    new Attribute("string", "value", { mutable: "immutable", description: "The id of a member User." }),
    new Attribute("string", "display", { mutable: false, description: "The member's userName, set by the server; a client's value is ignored." }),
    new Attribute("reference", "$ref", { mutable: "immutable", referenceTypes: ["User"], description: "The URI of the member User." }),
    new Attribute("string", "type", { mutable: "immutable", canonicalValues: ["User"], description: "Always 'User': nested groups are not supported." }),
  ]),
]);

/**
 * canonicalValues scimmy enforces as a closed list but RFC 7643 §7 calls "suggested canonical values that
 * MAY be used": `${schema URN}:${attribute path}` → the suggestions, served again in /Schemas. Filled once
 * by declareSchemas (scimmy's definitions are process-wide statics, see the header).
 */
const suggestions = new Map<string, string[]>();

type AttributeLike = { name: string; config: { canonicalValues: string[] | false }; subAttributes?: AttributeLike[] };

/** Turns the core and enterprise User schemas' closed canonicalValues into suggestions (RFC 7643 §7). */
function relaxCanonicalValues(schemaId: string, attributes: AttributeLike[], prefix = ""): void {
  for (const a of attributes) {
    const path = `${prefix}${a.name}`;
    if (Array.isArray(a.config.canonicalValues)) {
      suggestions.set(`${schemaId}:${path}`, [...a.config.canonicalValues]);
      a.config.canonicalValues = false; // type, mutability and required checks stay
    }
    if (a.subAttributes) relaxCanonicalValues(schemaId, a.subAttributes, `${path}.`);
  }
}

let declared = false;
/**
 * Extends scimmy's User schema with the enterprise and HR extensions, and turns its canonicalValues into
 * suggestions (idempotent). Entra sends `roles[].type` "WindowsAzureActiveDirectoryRole" (docs/scim-clients.md);
 * RFC 7643 §4.1.2 defines no vocabulary for roles or x509Certificates at all, yet scimmy refused every value.
 */
export function declareSchemas(): void {
  if (declared) return;
  declared = true;
  const user = SCIMMY.Schemas.User.definition;
  const ids = user.attributes.filter((a: unknown) => a instanceof SchemaDefinition).map((a: any) => a.id);
  relaxCanonicalValues(USER_SCHEMA, user.attributes.filter((a: unknown) => a instanceof Attribute) as unknown as AttributeLike[]);
  relaxCanonicalValues(ENTERPRISE_SCHEMA, SCIMMY.Schemas.EnterpriseUser.definition.attributes as unknown as AttributeLike[]);
  if (!ids.includes(ENTERPRISE_SCHEMA)) SCIMMY.Schemas.User.extend(SCIMMY.Schemas.EnterpriseUser as any, false);
  if (!ids.includes(HR_SCHEMA)) SCIMMY.Schemas.User.extend(hrExtension as any, false);
}

/** The suggested canonicalValues of an attribute relaxed by declareSchemas, for /Schemas. */
export const suggestedValues = (schemaId: string, path: string) => suggestions.get(`${schemaId}:${path}`);

export const userDefinition = () => (declareSchemas(), SCIMMY.Schemas.User.definition);
export const groupDefinition = () => groupSchema;
