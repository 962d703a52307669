// SCIM schema definitions served by the broker: core User (RFC 7643 §4.1) with the enterprise extension
// (§4.3) and our HR extension, and core Group (§4.2). Declared on scimmy's SchemaDefinition so validation,
// /Schemas and attribute look-ups (caseExact, multiValued, type) all come from one definition.
//
// scimmy keeps schema definitions in process-wide statics (scimmy-notes trap 10). We extend them once,
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
  new Attribute("string", "employmentStatus", {
    canonicalValues: [...EMPLOYMENT_STATUSES],
    description: "Employment status from the HR system of record: pre-hire | active | leave | terminated.",
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

let declared = false;
/** Extends scimmy's User schema with the enterprise and HR extensions (idempotent). */
export function declareSchemas(): void {
  if (declared) return;
  declared = true;
  const user = SCIMMY.Schemas.User.definition;
  const ids = user.attributes.filter((a: unknown) => a instanceof SchemaDefinition).map((a: any) => a.id);
  if (!ids.includes(ENTERPRISE_SCHEMA)) SCIMMY.Schemas.User.extend(SCIMMY.Schemas.EnterpriseUser as any, false);
  if (!ids.includes(HR_SCHEMA)) SCIMMY.Schemas.User.extend(hrExtension as any, false);
}

export const userDefinition = () => (declareSchemas(), SCIMMY.Schemas.User.definition);
export const groupDefinition = () => SCIMMY.Schemas.Group.definition;
