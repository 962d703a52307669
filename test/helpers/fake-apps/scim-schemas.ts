// Schema classes for the fake apps, built on scimmy but isolated from its process-wide state
// (docs/scimmy.md 10): the broker extends SCIMMY.Schemas.User in place (enterprise + HR extension), so a
// fake *downstream* app using that class would accept the broker's private HR schema. Here each fake gets
// private SchemaDefinitions copied from scimmy's core User/Group (RFC 7643 §4.1, §4.2) plus the enterprise
// extension (§4.3), and Schema subclasses that scimmy's coerce and PatchOp.apply work with unchanged.
import SCIMMY from "scimmy";

const { Attribute, SchemaDefinition, Schema } = SCIMMY.Types;
/** Attributes SchemaDefinition adds itself (RFC 7643 §3.1 common attributes). */
const COMMON = new Set(["schemas", "id", "externalId", "meta"]);

function copyCore(source: SCIMMY.Types.SchemaDefinition): SCIMMY.Types.SchemaDefinition {
  const attributes = source.attributes.filter((a): a is SCIMMY.Types.Attribute => a instanceof Attribute && !COMMON.has(a.name));
  return new SchemaDefinition(source.name, source.id, source.description, attributes);
}

const userDefinition = copyCore(SCIMMY.Schemas.User.definition).extend(copyCore(SCIMMY.Schemas.EnterpriseUser.definition), false);
const groupDefinition = copyCore(SCIMMY.Schemas.Group.definition);

type Direction = "in" | "out" | "both";
type SchemaCtor = new (data?: object, direction?: string) => SCIMMY.Types.Schema;
const SchemaBase = Schema as unknown as SchemaCtor;

export class AppUser extends SchemaBase {
  static get definition(): SCIMMY.Types.SchemaDefinition {
    return userDefinition;
  }
  constructor(resource: object, direction: Direction = "both", basepath?: string) {
    super(resource, direction);
    Object.assign(this, userDefinition.coerce(resource, direction, basepath));
  }
}

export class AppGroup extends SchemaBase {
  static get definition(): SCIMMY.Types.SchemaDefinition {
    return groupDefinition;
  }
  constructor(resource: object, direction: Direction = "both", basepath?: string) {
    super(resource, direction);
    Object.assign(this, groupDefinition.coerce(resource, direction, basepath));
  }
}

export type AppSchemaClass = typeof AppUser | typeof AppGroup;

/** A plain JSON copy of a scimmy Schema instance (drops accessors, keeps what the client would see). */
export function plain<T = Record<string, unknown>>(value: unknown): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** scimmy PatchOp applied to a stored resource; returns the new plain resource (RFC 7644 §3.5.2). */
export async function applyPatch(schema: AppSchemaClass, stored: Record<string, unknown>, body: unknown): Promise<Record<string, unknown>> {
  const message = new SCIMMY.Messages.PatchOp(body as ConstructorParameters<typeof SCIMMY.Messages.PatchOp>[0]);
  const instance = new schema(stored, "both");
  const patched = await message.apply(instance);
  return patched === undefined ? stored : plain(patched);
}
