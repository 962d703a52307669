// RFC 7644 §3.14 versioning: meta.version is a weak ETag W/"<n>". If-Match on writes → 412 on mismatch;
// If-None-Match on reads → 304 when the client's copy is current.
import { preconditionFailed } from "../shared/errors.ts";
import { etagOf } from "./user-resource.ts";

const tags = (header: string) => header.split(",").map((t) => t.trim().replace(/^W\//, "")).filter(Boolean);

export function checkIfMatch(ifMatch: string | undefined, version: number): void {
  if (!ifMatch) return;
  const want = etagOf(version).replace(/^W\//, "");
  const list = tags(ifMatch);
  if (!list.includes("*") && !list.includes(want)) throw preconditionFailed(`resource version is ${etagOf(version)}, If-Match was ${ifMatch}`);
}

export function notModified(ifNoneMatch: string | undefined, version: number): boolean {
  if (!ifNoneMatch) return false;
  const list = tags(ifNoneMatch);
  return list.includes("*") || list.includes(etagOf(version).replace(/^W\//, ""));
}
