// SCIM responses: always application/scim+json (RFC 7644 §3.1); the bodies are built in scim/response-bodies.ts.
import type { Response } from "express";

export const SCIM_CONTENT_TYPE = "application/scim+json; charset=utf-8";

export function sendScim(res: Response, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.status(status).set(headers);
  if (body === undefined) { res.end(); return; }
  res.set("Content-Type", SCIM_CONTENT_TYPE).send(JSON.stringify(body));
}
