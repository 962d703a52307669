// Admin API of the CSV import, mounted under /admin/v1 behind the admin scope (admin-router.ts). Thin: read
// the query, stream the request body into the use case (src/import/csv-import.ts), answer its summary.
//
//   POST /import?source=NAME[&dryRun=true][&mapping=<mapping YAML or JSON, URL-encoded>]
//        Content-Type: text/csv, the file as the body (streamed: never held in memory)
//        → 200 {created, updated, unchanged, rejected, errors: [{line, message}]}
// Rows are written with the caller's token in their change records; a rejected row is in `errors` with its
// line in the file, never a failed request. Errors are typed (shared/errors.ts), answered by the admin
// error edge.
import type { Request, Router } from "express";
import type pg from "pg";
import * as z from "zod";
import { badRequest } from "../shared/errors.ts";
import type { Principal } from "../auth/authenticator.ts";
import type { UserService } from "../scim/user-service.ts";
import { checkSource, importCsv } from "../import/csv-import.ts";
import { parseMapping } from "../import/csv-mapping.ts";
import { route, routerOf, type AdminRoute } from "./admin-route.ts";
import { boolParam } from "./admin-schemas.ts";

export interface ImportRouterDeps { pool: pg.Pool; users: UserService }

const CSV_TYPES = ["text/csv", "application/csv", "text/plain"];

export const ImportSummary = z.object({
  created: z.number().int(), updated: z.number().int(), unchanged: z.number().int(), rejected: z.number().int(),
  errors: z.array(z.object({ line: z.number().int().meta({ description: "the line in the file" }), message: z.string() })),
}).meta({ id: "ImportSummary" });

export function importRoutes(d: ImportRouterDeps): AdminRoute[] {
  return [route({
    method: "post", path: "/import", tag: "import", summary: "Import an HR CSV (streamed; idempotent: upsert by employeeNumber within the source)",
    query: z.object({
      source: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: "must be an HR source label (letters, digits, '.', '_' or '-'; up to 64)" })
        .meta({ description: "the HR source the rows come from" }),
      dryRun: boolParam("count what would change, write nothing").optional(),
      mapping: z.string().max(64 * 1024).optional().meta({ description: "a column mapping (YAML or JSON), URL-encoded" }),
    }),
    body: { schema: z.string(), streamed: true, content: Object.fromEntries(CSV_TYPES.map((t) => [t, z.string().meta({ description: "the CSV file, with a header row" })])) },
    errors: [413], response: ImportSummary,
    handle: async ({ query }, req: Request) => {
      const source = checkSource(query.source);
      const type = (req.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (!CSV_TYPES.includes(type)) throw badRequest("invalidValue", `send the file as the body with Content-Type: text/csv (got ${type || "none"})`);
      const mapping = query.mapping ? parseMapping(query.mapping, "mapping") : undefined;
      const p = req.user as Principal;
      return importCsv(req, {
        source, mapping, dryRun: query.dryRun ?? false, ctx: { tokenId: p.tokenId, requestId: (req as { id?: string }).id ?? null, actor: `token:${p.name}` },
      }, d);
    },
  })];
}

export const importRouter = (d: ImportRouterDeps): Router => routerOf(importRoutes(d));
