// Admin API of the console's People pages, mounted under /admin/v1 behind the admin scope (admin-router.ts).
// Read-only. Thin: the declarations (admin-route.ts) validate the query, people-repository.ts reads,
// provisioning-log.ts assembles. Errors are typed (shared/errors.ts), answered by the admin error edge.
//
//   GET /people?q=&ids=&limit=&offset=  → {total, offset, limit, items}: userName or email starting with q
//                                     (case-insensitive), or employeeNumber equal to q; everyone without q;
//                                     ids (comma-separated user ids) narrows to those users
//   GET /people/{user}/log          → the provisioning log ({user} = id or userName; a deleted user by its id
//                                     or by the userName its app accounts remember)
import type { Router } from "express";
import type pg from "pg";
import * as z from "zod";
import { notFound } from "../shared/errors.ts";
import { isUuid } from "../store/user-repository.ts";
import { personRecords, resolvePerson, searchPeople } from "./people-repository.ts";
import { buildProvisioningLog } from "./provisioning-log.ts";
import { route, routerOf, type AdminRoute } from "./admin-route.ts";
import { intParam, NullableTimestamp, Timestamp, userRef } from "./admin-schemas.ts";

export interface PeopleRouterDeps { pool: pg.Pool }

const MAX_PAGE = 200;

const PersonSummary = z.object({
  id: z.string(), userName: z.string(), displayName: z.string().nullable(), givenName: z.string().nullable(), familyName: z.string().nullable(),
  email: z.string().nullable(), employeeNumber: z.string().nullable(), department: z.string().nullable(), title: z.string().nullable(),
  userType: z.string().nullable(), active: z.boolean(), employmentStatus: z.string().nullable(), source: z.string().nullable(),
  lifecycleStatus: z.string().nullable(), updatedAt: Timestamp,
}).meta({ id: "PersonSummary" });

const LogEntry = z.looseObject({
  at: Timestamp, ref: z.string().meta({ description: "change:N, event:N, audit:N, dead-letter:N, sla:N" }), kind: z.string(),
  category: z.enum(["hr", "lifecycle", "entitlement", "app", "review", "exception", "policy"]), title: z.string(),
  app: z.string().optional(), group: z.string().optional(), cause: z.looseObject({}).optional(), details: z.record(z.string(), z.unknown()).optional(),
});
const AppView = z.looseObject({
  app: z.string(), status: z.string(), remoteId: z.string().nullable(), pendingSince: NullableTimestamp, deliveredAt: NullableTimestamp,
  attempts: z.number().int(), openDeadLetters: z.number().int(),
  lastSent: z.object({ at: Timestamp, what: z.string(), answer: z.string(), ok: z.boolean() }).nullable(),
  leaverSla: z.object({ requestedAt: Timestamp, confirmedAt: NullableTimestamp, durationMs: z.number().nullable() }).nullable(),
});
const ProvisioningLog = z.looseObject({
  person: z.looseObject({}).nullable(), id: z.string(), deleted: z.boolean(), groups: z.array(z.unknown()), apps: z.array(AppView),
  leaverSla: z.array(z.looseObject({})), entries: z.array(LogEntry), truncated: z.boolean(),
}).meta({ id: "ProvisioningLog" });

export function peopleRoutes(d: PeopleRouterDeps): AdminRoute[] {
  return [
    route({
      method: "get", path: "/people", tag: "people", summary: "Search people by userName, e-mail (prefix) or employee number",
      query: z.object({
        q: z.string().max(256).optional().meta({ description: "userName or e-mail prefix, or an exact employeeNumber" }),
        ids: z.string().optional()
          .refine((s) => s === undefined || ((xs) => xs.length <= MAX_PAGE && xs.every(isUuid))(s.split(",").map((x) => x.trim()).filter(Boolean)), { error: `must be up to ${MAX_PAGE} user ids, comma-separated` })
          .meta({ description: "narrow to these user ids (comma-separated)" }),
        limit: intParam(1, MAX_PAGE, "page size (default 50)").optional(), offset: intParam(0, 1_000_000).optional(),
      }),
      response: z.object({ total: z.number().int(), offset: z.number().int(), limit: z.number().int(), items: z.array(PersonSummary) }),
      handle: async ({ query: q }) => {
        const limit = q.limit ?? 50, offset = q.offset ?? 0;
        const ids = q.ids?.split(",").map((x) => x.trim()).filter(Boolean);
        const page = await searchPeople(d.pool, { query: q.q, ids, limit, offset });
        return { total: page.total, offset, limit, items: page.items };
      },
    }),
    route({
      method: "get", path: "/people/{user}/log", tag: "people", summary: "A person's provisioning log: HR changes, lifecycle events, causes, and per app what was sent and answered",
      params: z.object({ user: userRef }), errors: [404], response: ProvisioningLog,
      handle: async ({ params }) => {
        const ref = params.user;
        const id = await resolvePerson(d.pool, ref);
        if (!id) throw notFound(`User ${ref}`);
        const records = await personRecords(d.pool, id);
        if (!records.user && !records.changes.length && !records.accounts.length && !records.audit.length) throw notFound(`User ${ref}`);
        return buildProvisioningLog(id, records);
      },
    }),
  ];
}

export const peopleRouter = (d: PeopleRouterDeps): Router => routerOf(peopleRoutes(d));
