// Discovery endpoints (RFC 7644 §4): what the broker really supports, nothing more. Schema documents
// come from the same scimmy definitions that validate requests, so they cannot drift.
import SCIMMY from "scimmy";
import { ENTERPRISE_SCHEMA, GROUP_SCHEMA, HR_SCHEMA, USER_SCHEMA, declareSchemas, groupSchema, hrExtension, suggestedValues } from "./schemas.ts";

export interface DiscoveryLimits { bulk: { maxOperations: number; maxPayloadBytes: number }; paging: { defaultPageSize: number; maxPageSize: number } }

export function serviceProviderConfig(base: string, limits: DiscoveryLimits) {
  return {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    documentationUri: "https://github.com/scim-broker/scim-broker#readme",
    patch: { supported: true },
    bulk: { supported: true, maxOperations: limits.bulk.maxOperations, maxPayloadSize: limits.bulk.maxPayloadBytes },
    filter: { supported: true, maxResults: limits.paging.maxPageSize },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    // RFC 9865 §4 adds `pagination` to the core ServiceProviderConfig schema itself (its IANA section
    // amends urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig; there is no extension URN), at
    // the top level as in its example. cursorTimeout is left out: our cursors (a position in `seq`) do
    // not expire, and §4 lets an absent value mean "no timeout". Clients that validate strictly against
    // RFC 7643 §5 alone reject the attribute (README, "Discovery"; docs/scim-clients.md).
    pagination: {
      cursor: true, index: true, defaultPaginationMethod: "index",
      defaultPageSize: limits.paging.defaultPageSize, maxPageSize: limits.paging.maxPageSize,
    },
    authenticationSchemes: [{
      type: "oauthbearertoken", name: "OAuth Bearer Token", primary: true,
      description: "Bearer token issued with `scim-broker token create` (RFC 6750)",
      specUri: "https://www.rfc-editor.org/info/rfc6750",
    }],
    meta: { resourceType: "ServiceProviderConfig", location: `${base}/ServiceProviderConfig` },
  };
}

export function schemaDocuments(base: string) {
  declareSchemas();
  const loc = `${base}/Schemas`;
  return [
    SCIMMY.Schemas.User.definition.describe(loc),
    groupSchema.describe(loc),
    SCIMMY.Schemas.EnterpriseUser.definition.describe(loc),
    hrExtension.describe(loc),
  ].map((d) => withSuggestions(JSON.parse(JSON.stringify(d))));
}

interface AttributeDoc { name: string; canonicalValues?: string[]; subAttributes?: AttributeDoc[] }

/** Lists again the canonicalValues the broker accepts as suggestions only (RFC 7643 §7, schemas.ts). */
function withSuggestions<T extends { id: string; attributes: AttributeDoc[] }>(doc: T): T {
  const walk = (attributes: AttributeDoc[], prefix: string) => {
    for (const a of attributes) {
      const values = suggestedValues(doc.id, `${prefix}${a.name}`);
      if (values) a.canonicalValues = values;
      if (a.subAttributes) walk(a.subAttributes, `${prefix}${a.name}.`);
    }
  };
  walk(doc.attributes, "");
  return doc;
}

export function resourceTypes(base: string) {
  const rt = (id: string, endpoint: string, schema: string, description: string, extensions: string[]) => ({
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], id, name: id, endpoint, description, schema,
    ...(extensions.length ? { schemaExtensions: extensions.map((s) => ({ schema: s, required: false })) } : {}),
    meta: { resourceType: "ResourceType", location: `${base}/ResourceTypes/${id}` },
  });
  return [
    rt("User", "/Users", USER_SCHEMA, "Workers and other identities", [ENTERPRISE_SCHEMA, HR_SCHEMA]),
    rt("Group", "/Groups", GROUP_SCHEMA, "Groups, including those managed by the broker policy", []),
  ];
}
