// scimmy signals invalid input with TypeError (schema coercion) or SCIMMY.Types.Error (PatchOp, Filter).
// Both become DomainErrors here so the HTTP edge sees one error type (RFC 7644 §3.12).
//
// Their messages go to client authors as `detail`. scimmy's own validation messages name the attribute
// and what was expected ("Attribute 'active' expected value type 'boolean' but found type 'number'") and
// are kept. But some inputs make scimmy (or the JavaScript engine under it) fail inside its own code, and
// then the message is an engine internal ("Cannot convert undefined or null to object", "'set' on proxy:
// trap returned falsish…"): it says nothing to a client author and shows our internals. Those are replaced
// by a message about the request — which operation, or that a value has the wrong shape.
import SCIMMY from "scimmy";
import { DomainError, badRequest, type ScimType } from "../shared/errors.ts";

/** Messages that come from the JavaScript engine or scimmy's internals, not from schema validation. */
export const ENGINE_MESSAGE = new RegExp([
  String.raw`Cannot (read|convert|add|set|assign|create|define|destructure|access|use)\b`, "undefined", String.raw`null to object`,
  "is not a function", "is not iterable", "is not extensible", "not extensible", "is not defined", "is not a constructor",
  String.raw`trap returned`, String.raw`on proxy`, String.raw`\[object \w+\]`, "Maximum call stack", "to primitive value",
  String.raw`parameter .* in \w+ (constructor|instance|method)`, "SchemaDefinition", "Invalid array length",
].join("|"), "i");

/** Describes operation n (1-based) of a PATCH for a message, e.g. "'remove' of 'emails.value'". */
export type OperationName = (n: number) => string | undefined;

export function fromScimmy(e: unknown, fallback: ScimType = "invalidValue", operation?: OperationName): DomainError {
  if (e instanceof DomainError) return e;
  if (e instanceof SCIMMY.Types.Error) {
    const err = e as unknown as { status: number; scimType?: ScimType; message: string };
    const status = Number(err.status) || 400;
    const code = status === 404 ? "NOT_FOUND" : status === 409 ? "CONFLICT" : status >= 500 ? "INTERNAL" : "BAD_REQUEST";
    const scimType = err.scimType ?? (status === 400 ? fallback : undefined);
    return new DomainError(code, status, forClients(err.message, operation, scimType), scimType);
  }
  if (e instanceof TypeError || e instanceof SyntaxError || e instanceof RangeError) return badRequest(fallback, forClients(e.message, operation, fallback));
  throw e; // not an input problem: let the edge report it as 500
}

/** The message itself when it is scimmy's validation message; otherwise one about the request. */
export function forClients(message: string, operation?: OperationName, scimType?: ScimType): string {
  if (!ENGINE_MESSAGE.test(message)) return message;
  if (scimType === "invalidFilter")
    return "the filter cannot be parsed (RFC 7644 §3.4.2.2): each expression is an attribute path, an operator " +
      "(eq ne co sw ew gt ge lt le pr) and, except for pr, a value (a quoted string, a number, true, false or null)";
  const op = /for '(\w+)' op of operation (\d+)/.exec(message);
  if (op) {
    const n = Number(op[2]);
    return `operation ${n} (${operation?.(n) ?? `'${op[1]}'`}) cannot be applied to this resource: ` +
      "the path or the value does not fit the attribute's definition (see /Schemas)";
  }
  return "the request does not fit the resource's schema (see /Schemas): a value has the wrong shape, " +
    "e.g. an object where a string or a list is expected";
}
