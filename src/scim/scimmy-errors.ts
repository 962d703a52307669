// scimmy signals invalid input with TypeError (schema coercion) or SCIMMY.Types.Error (PatchOp, Filter).
// Both become DomainErrors here so the HTTP edge sees one error type (RFC 7644 §3.12).
import SCIMMY from "scimmy";
import { DomainError, badRequest, type ScimType } from "../shared/errors.ts";

export function fromScimmy(e: unknown, fallback: ScimType = "invalidValue"): DomainError {
  if (e instanceof DomainError) return e;
  if (e instanceof SCIMMY.Types.Error) {
    const err = e as unknown as { status: number; scimType?: ScimType; message: string };
    const status = Number(err.status) || 400;
    const code = status === 404 ? "NOT_FOUND" : status === 409 ? "CONFLICT" : status >= 500 ? "INTERNAL" : "BAD_REQUEST";
    return new DomainError(code, status, err.message, err.scimType ?? (status === 400 ? fallback : undefined));
  }
  if (e instanceof TypeError || e instanceof SyntaxError || e instanceof RangeError) return badRequest(fallback, e.message);
  throw e; // not an input problem: let the edge report it as 500
}
