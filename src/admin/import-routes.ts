// Admin API of the CSV import, mounted under /admin/v1 behind the admin scope (admin-router.ts). Thin: read
// the query, stream the request body into the use case (src/import/csv-import.ts), answer its summary.
//
//   POST /import?source=NAME[&dryRun=true][&mapping=<mapping YAML or JSON, URL-encoded>]
//        Content-Type: text/csv, the file as the body (streamed: never held in memory)
//        → 200 {created, updated, unchanged, rejected, errors: [{line, message}]}
// Rows are written with the caller's token in their change records; a rejected row is in `errors` with its
// line in the file, never a failed request. Errors are typed (shared/errors.ts), answered by the app's
// central error handler.
import express, { type Request, type Router } from "express";
import type pg from "pg";
import { badRequest } from "../shared/errors.ts";
import type { Principal } from "../auth/authenticator.ts";
import type { UserService } from "../scim/user-service.ts";
import { checkSource, importCsv } from "../import/csv-import.ts";
import { parseMapping } from "../import/csv-mapping.ts";

export interface ImportRouterDeps { pool: pg.Pool; users: UserService }

const CSV_TYPES = ["text/csv", "application/csv", "text/plain"];
const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v.trim() : undefined);

function flag(name: string, v: unknown): boolean {
  const s = str(v);
  if (s === undefined || s === "false") return false;
  if (s === "true") return true;
  throw badRequest("invalidValue", `${name} must be true or false, got '${s}'`);
}

export function importRouter(d: ImportRouterDeps): Router {
  const r = express.Router();
  r.post("/import", async (req: Request, res) => {
    const source = checkSource(str(req.query.source));
    const dryRun = flag("dryRun", req.query.dryRun);
    const type = (req.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (!CSV_TYPES.includes(type)) throw badRequest("invalidValue", `send the file as the body with Content-Type: text/csv (got ${type || "none"})`);
    const mappingText = str(req.query.mapping);
    const mapping = mappingText ? parseMapping(mappingText, "mapping") : undefined;
    const p = req.user as Principal;
    const summary = await importCsv(req, {
      source, mapping, dryRun, ctx: { tokenId: p.tokenId, requestId: (req as { id?: string }).id ?? null, actor: `token:${p.name}` },
    }, d);
    res.json(summary);
  });
  return r;
}
