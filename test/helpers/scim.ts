// Small SCIM client for integration tests (supertest against the running broker).
import request from "supertest";
import { USER_SCHEMA, GROUP_SCHEMA, PATCH_OP, ENTERPRISE_SCHEMA, HR_SCHEMA } from "../../src/scim/schemas.ts";

export { USER_SCHEMA, GROUP_SCHEMA, PATCH_OP, ENTERPRISE_SCHEMA, HR_SCHEMA };
export const SCIM_TYPE = "application/scim+json";

export function scimClient(base: string, token: string) {
  const auth = { Authorization: `Bearer ${token}` };
  const r = () => request(base);
  return {
    get: (path: string, query?: Record<string, unknown>) => r().get(path).query(query ?? {}).set(auth),
    post: (path: string, body: unknown) => r().post(path).set(auth).set("Content-Type", SCIM_TYPE).send(body as object),
    put: (path: string, body: unknown) => r().put(path).set(auth).set("Content-Type", SCIM_TYPE).send(body as object),
    patch: (path: string, ops: unknown[]) => r().patch(path).set(auth).set("Content-Type", SCIM_TYPE).send({ schemas: [PATCH_OP], Operations: ops }),
    del: (path: string) => r().delete(path).set(auth),
    raw: r, auth,
  };
}

let n = 0;
/** A unique user body; each test makes its own data. */
export function userBody(over: Record<string, unknown> = {}) {
  n++;
  const name = `user${n}.${Date.now().toString(36)}@example.com`;
  return { schemas: [USER_SCHEMA], userName: name, name: { givenName: "Given", familyName: `Family${n}` }, emails: [{ value: name, type: "work", primary: true }], active: true, ...over };
}
