// Parsing a receiver's stream configuration (SSF 1.0 §8.1.1): the receiver-supplied properties (delivery,
// events_requested, description) with their checks; transmitter-supplied ones may be sent back but must
// match (§8.1.1.3–4). Pure: the routes turn a thrown DomainError into a 400.
import { badRequest } from "../shared/errors.ts";
import { POLL_METHOD, PUSH_METHOD } from "./event-types.ts";

export interface ReceiverSupplied {
  method?: string;
  endpointUrl?: string | null;
  /** undefined: keep; null: remove; string: set */
  authorization?: string | null;
  eventsRequested?: string[];
  description?: string | null;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The body's receiver-supplied properties; only those present (PATCH semantics). */
export function receiverSupplied(body: unknown): ReceiverSupplied {
  if (!isObject(body)) throw badRequest("invalidSyntax", "the body must be a JSON object (SSF §8.1.1)");
  const out: ReceiverSupplied = {};
  if (body.delivery !== undefined) {
    const d = body.delivery;
    if (!isObject(d)) throw badRequest("invalidValue", "delivery must be an object with method and, for push, endpoint_url");
    // SSF 1.0 final names them method / endpoint_url; earlier drafts delivery_method / url.
    const method = d.method ?? d.delivery_method;
    const url = d.endpoint_url ?? d.url;
    if (method !== PUSH_METHOD && method !== POLL_METHOD) throw badRequest("invalidValue", `delivery.method must be ${PUSH_METHOD} (push) or ${POLL_METHOD} (poll)`);
    out.method = method;
    if (method === PUSH_METHOD) {
      if (typeof url !== "string" || !isHttpUrl(url)) throw badRequest("invalidValue", "push delivery needs delivery.endpoint_url, an http(s) URL (RFC 8935)");
      out.endpointUrl = url;
    } else out.endpointUrl = null; // poll: the transmitter supplies the URL (SSF §8.1.1)
    if (d.authorization_header !== undefined && d.authorization_header !== null && (typeof d.authorization_header !== "string" || d.authorization_header.length > 4096 || /[\r\n]/.test(d.authorization_header)))
      throw badRequest("invalidValue", "delivery.authorization_header must be a header value (one line, at most 4096 characters)");
    out.authorization = (d.authorization_header as string | null | undefined) ?? null;
  }
  if (body.events_requested !== undefined) {
    const e = body.events_requested;
    if (!Array.isArray(e) || e.some((x) => typeof x !== "string" || x.length > 500) || e.length > 100) throw badRequest("invalidValue", "events_requested must be an array of event-type URIs");
    out.eventsRequested = [...new Set(e as string[])];
  }
  if (body.description !== undefined) {
    if (body.description !== null && (typeof body.description !== "string" || body.description.length > 1000)) throw badRequest("invalidValue", "description must be a string of at most 1000 characters");
    out.description = body.description as string | null;
  }
  return out;
}

/** Transmitter-supplied properties sent back must equal ours (SSF §8.1.1.3); missing ones are ignored. */
export function checkTransmitterSupplied(body: Record<string, unknown>, current: Record<string, unknown>): void {
  for (const k of ["iss", "aud", "events_supported", "events_delivered", "min_verification_interval"]) {
    if (body[k] === undefined) continue;
    if (JSON.stringify(norm(body[k])) !== JSON.stringify(norm(current[k]))) throw badRequest("invalidValue", `${k} is supplied by the transmitter and cannot be changed`);
  }
}

const norm = (v: unknown) => (Array.isArray(v) ? [...v].map(String).sort() : typeof v === "string" ? [v] : v);

function isHttpUrl(s: string): boolean {
  try { const u = new URL(s); return (u.protocol === "https:" || u.protocol === "http:") && !u.username && !u.password; } catch { return false; }
}

/** stream_id from a query or body: a string, or a 400. */
export function streamIdOf(v: unknown): string {
  if (typeof v !== "string" || !v) throw badRequest("invalidValue", "stream_id is required");
  return v;
}
