// Admin API of the console's People pages, mounted under /admin/v1 behind the admin scope (admin-router.ts).
// Read-only. Thin: parse the query, read (people-repository.ts), assemble (provisioning-log.ts), answer JSON.
// Errors are typed (shared/errors.ts) and answered by the app's central error handler.
//
//   GET /people?q=&ids=&limit=&offset=  → {total, offset, limit, items}: userName or email starting with q
//                                     (case-insensitive), or employeeNumber equal to q; everyone without q;
//                                     ids (comma-separated user ids) narrows to those users
//   GET /people/:user/log           → the provisioning log (:user = id or userName; a deleted user by its id
//                                     or by the userName its app accounts remember)
import express, { type Router } from "express";
import type pg from "pg";
import { badRequest, notFound } from "../shared/errors.ts";
import { isUuid } from "../store/user-repository.ts";
import { personRecords, resolvePerson, searchPeople } from "./people-repository.ts";
import { buildProvisioningLog } from "./provisioning-log.ts";
import { parseInteger } from "./audit-routes.ts";

export interface PeopleRouterDeps { pool: pg.Pool }

const MAX_PAGE = 200;
const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v.trim() : undefined);

const intOf = (name: string, v: unknown, min: number, max: number, dflt: number): number => parseInteger(name, str(v), min, max) ?? dflt;

export function peopleRouter(d: PeopleRouterDeps): Router {
  const r = express.Router();
  r.get("/people", async (req, res) => {
    const q = str(req.query.q);
    if (q && q.length > 256) throw badRequest("invalidValue", "q is limited to 256 characters");
    const limit = intOf("limit", req.query.limit, 1, MAX_PAGE, 50);
    const offset = intOf("offset", req.query.offset, 0, 1_000_000, 0);
    const ids = str(req.query.ids)?.split(",").map((x) => x.trim()).filter(Boolean);
    if (ids && (ids.length > MAX_PAGE || ids.some((x) => !isUuid(x)))) throw badRequest("invalidValue", `ids must be up to ${MAX_PAGE} user ids, comma-separated`);
    const page = await searchPeople(d.pool, { query: q, ids, limit, offset });
    res.json({ total: page.total, offset, limit, items: page.items });
  });
  r.get("/people/:user/log", async (req, res) => {
    const ref = String(req.params.user);
    const id = await resolvePerson(d.pool, ref);
    if (!id) throw notFound(`User ${ref}`);
    const records = await personRecords(d.pool, id);
    if (!records.user && !records.changes.length && !records.accounts.length && !records.audit.length) throw notFound(`User ${ref}`);
    res.json(buildProvisioningLog(id, records));
  });
  return r;
}
