// CSV import for HR systems without a SCIM client: the use case behind `scim-broker import` and
// POST /admin/v1/import. Each row goes through the same user use case as a SCIM write (UserService
// create / replace / patch with the source in the WriteContext), so change records, lifecycle events,
// rules, the fan-out outbox and the mass-deprovision guard apply exactly as they do for SCIM.
//
// The story:
//   1. stream the file through csv-parse (never the whole file in memory), the header first;
//   2. per batch of rows: parse each row into the attributes it sets (csv-mapping.ts), look the batch's
//      users up by employeeNumber within the source and its managers, in one statement each;
//   3. per row: merge into the stored user (row-merge.ts); a row that changes nothing is "unchanged" and
//      writes nothing (no change record, no version bump), so importing the same file twice is a no-op;
//      otherwise replace (If-Match: the version just read) or create — the batch's new people together,
//      set-at-a-time as a /Bulk of creates (UserService.createMany), before the row-by-row writes;
//   4. a manager named by a row that comes later in the file is set once every row is in.
// A bad row is reported with its line in the file and skipped; the others proceed.
import type { Readable } from "node:stream";
import { isDeepStrictEqual } from "node:util";
import type pg from "pg";
import { parse, CsvError, type Info } from "csv-parse";
import { DomainError } from "../shared/errors.ts";
import { normaliseUserBody } from "../scim/dialect.ts";
import { etagOf, settleActive, toColumns, validateUser } from "../scim/user-resource.ts";
import { ENTERPRISE_SCHEMA, PATCH_OP } from "../scim/schemas.ts";
import type { CreateOutcome, UserService } from "../scim/user-service.ts";
import type { WriteContext } from "../scim/write-context.ts";
import { identifierKey } from "../domain/identifier.ts";
import { defaultMapping, planHeader, rowToPatch, RowError, type HeaderPlan, type ImportMapping, type RowPatch } from "./csv-mapping.ts";
import { mergeRow } from "./row-merge.ts";
import { managerCandidates, userNameOwners, usersByEmployeeNumber, type PersonRef } from "./import-repository.ts";
import type { UserRow } from "../store/rows.ts";

export interface ImportSummary {
  created: number; updated: number; unchanged: number; rejected: number;
  errors: Array<{ line: number; message: string }>;
}
export interface ImportProgress extends Omit<ImportSummary, "errors"> { rows: number; bytes: number }

export interface CsvImportDeps { pool: pg.Pool; users: UserService }
export interface CsvImportOptions {
  source: string;
  mapping?: ImportMapping;
  dryRun?: boolean;
  /** who imports (the source is added from `source`) */
  ctx: Omit<WriteContext, "source">;
  onProgress?(p: ImportProgress): void;
  /** rows written at once (each is one transaction) */
  concurrency?: number;
  batchSize?: number;
}

/** The error list keeps the first ones (the counts stay exact): a broken 100,000-row file must not answer megabytes. */
export const MAX_ERRORS = 10_000;
/** The message of the error that ends an import early (a broken CSV structure); CLI exit code 1. */
export const CSV_BROKEN = "not valid CSV";
/** One record may not exceed this (a missing closing quote would otherwise swallow the rest of the file). */
const MAX_RECORD_BYTES = 1024 * 1024;

type Outcome = "created" | "updated" | "unchanged";
/** PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back, retry it. */
const TRANSIENT = new Set(["40P01", "40001"]);
const MAX_ATTEMPTS = 5;
interface Row { line: number; cells: string[] }
interface Deferred { line: number; userId: string | null; ref: string; outcome: Outcome }

/** An HR source label, as on tokens (`token create --source`): users remember it; the guard counts by it. */
export function checkSource(source: unknown): string {
  if (typeof source !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(source))
    throw new DomainError("BAD_REQUEST", 400, "source is required: the HR source label (letters, digits, '.', '_' or '-'; up to 64)", "invalidValue");
  return source;
}

export async function importCsv(input: Readable, o: CsvImportOptions, d: CsvImportDeps): Promise<ImportSummary> {
  checkSource(o.source);
  const mapping = o.mapping ?? defaultMapping();
  const run = new ImportRun(o, d, mapping);
  const parser = parse({
    bom: true, delimiter: mapping.delimiter, info: true, skip_empty_lines: true, relax_column_count: true,
    relax_quotes: true, max_record_size: MAX_RECORD_BYTES,
  });
  input.once("error", (e) => parser.destroy(e));
  input.pipe(parser);
  let plan: HeaderPlan | undefined;
  let width = 0;
  let batch: Row[] = [];
  const lines = lineCounter();
  let lastEnd = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: Info }>) {
      const { start: line, end } = lines(record, info);
      lastEnd = end;
      if (!plan) { plan = planHeader(record, mapping); width = record.length; continue; }
      if (record.length !== width) { run.reject(line, `has ${record.length} fields, the header has ${width}`); continue; }
      batch.push({ line, cells: record });
      if (batch.length >= (o.batchSize ?? 200)) {
        await run.batch(batch, plan);
        batch = [];
        run.progress(parser.info);
      }
    }
  } catch (e) {
    if (!(e instanceof CsvError)) throw e;
    // The file's structure is broken from here on (an unbalanced quote…): what follows cannot be trusted.
    // The broken record starts after the last good one (csv-parse names the line where it gave up).
    if (plan && batch.length) await run.batch(batch, plan);
    if (plan) await run.resolveDeferredManagers();
    run.reject(lastEnd + 1, `${CSV_BROKEN}: ${e.message}; the rows from here on were not imported`, false);
    run.progress(parser.info);
    return run.summary();
  }
  if (!plan) throw new DomainError("BAD_REQUEST", 400, "the file is empty: expected a header line and rows", "invalidValue");
  if (batch.length) await run.batch(batch, plan);
  await run.resolveDeferredManagers();
  run.progress(parser.info);
  return run.summary();
}

/**
 * The file lines where a record starts and ends. csv-parse's info.lines is the line where it ends, counting
 * CR and LF separately inside quoted cells (a quoted CRLF adds two): `crlfSoFar` carries that surplus
 * forward, then the record's own line breaks lead back to its first line.
 */
function lineCounter(): (record: string[], info: Info) => { start: number; end: number } {
  let crlfSoFar = 0;
  return (record, info) => {
    let breaks = 0;
    for (const c of record) {
      if (!c.includes("\n") && !c.includes("\r")) continue;
      crlfSoFar += (c.match(/\r\n/g) ?? []).length;
      breaks += (c.match(/\r\n|\r|\n/g) ?? []).length;
    }
    const end = Number(info.lines) - crlfSoFar;
    return { start: end - breaks, end };
  };
}

class ImportRun {
  readonly counts = { created: 0, updated: 0, unchanged: 0, rejected: 0 };
  readonly errors: ImportSummary["errors"] = [];
  rows = 0;
  /** every employeeNumber / userName (lower case) of the file so far → its line: duplicates are errors */
  private readonly numbers = new Map<string, number>();
  private readonly userNames = new Map<string, number>();
  private readonly deferred: Deferred[] = [];
  private readonly ctx: WriteContext;

  constructor(private readonly o: CsvImportOptions, private readonly d: CsvImportDeps, private readonly mapping: ImportMapping) {
    this.ctx = { ...o.ctx, source: o.source };
  }

  // In file order: a batch's new people are written before its other rows.
  summary(): ImportSummary { return { ...this.counts, errors: [...this.errors].sort((a, b) => a.line - b.line) }; }

  progress(info: Info): void { this.o.onProgress?.({ rows: this.rows, bytes: Number(info.bytes), ...this.counts }); }

  reject(line: number, message: string, count = true): void {
    if (count) { this.counts.rejected++; this.rows++; }
    if (this.errors.length < MAX_ERRORS) this.errors.push({ line, message });
  }

  async batch(rows: Row[], plan: HeaderPlan): Promise<void> {
    const parsed: Array<{ line: number; patch: RowPatch }> = [];
    for (const r of rows) {
      let patch: RowPatch;
      try { patch = rowToPatch(r.cells, plan, this.mapping); } catch (e) {
        if (!(e instanceof RowError)) throw e;
        this.reject(r.line, e.message);
        continue;
      }
      const dupNumber = this.numbers.get(patch.employeeNumber);
      const dupName = this.userNames.get(identifierKey(patch.userName));
      if (dupNumber !== undefined) { this.reject(r.line, `employeeNumber '${patch.employeeNumber}' already appears on line ${dupNumber}`); continue; }
      if (dupName !== undefined) { this.reject(r.line, `userName '${patch.userName}' already appears on line ${dupName}`); continue; }
      this.numbers.set(patch.employeeNumber, r.line);
      this.userNames.set(identifierKey(patch.userName), r.line);
      parsed.push({ line: r.line, patch });
    }
    const refs = [...new Set(parsed.map((p) => p.patch.manager).filter((m): m is string => !!m))];
    const [existing, managers, owners] = await Promise.all([
      usersByEmployeeNumber(this.d.pool, this.o.source, parsed.map((p) => p.patch.employeeNumber)),
      managerCandidates(this.d.pool, this.o.source, refs),
      this.o.dryRun ? userNameOwners(this.d.pool, parsed.map((p) => p.patch.userName)) : Promise.resolve(new Map<string, string>()),
    ]);
    // A manager on an earlier row of this batch is not in the database yet when the batch is looked up: the
    // row waits for that row's write (always an earlier one, so never a cycle) and is written once, with its
    // manager. Rows are taken in file order, so the earlier row is already being written.
    const written = new Map<string, { index: number; id: Promise<string | null>; settle(id: string | null): void }>();
    parsed.forEach((p, index) => {
      let settle!: (id: string | null) => void;
      const entry = { index, id: new Promise<string | null>((r) => { settle = r; }), settle: (id: string | null) => settle(id) };
      written.set(p.patch.employeeNumber, entry);
      if (!written.has(identifierKey(p.patch.userName))) written.set(identifierKey(p.patch.userName), entry);
    });
    const earlier = (ref: string | null | undefined, index: number) => {
      const w = ref ? written.get(ref) ?? written.get(identifierKey(ref)) : undefined;
      return w && w.index < index ? w.id : undefined;
    };
    // New people whose manager does not wait for a row of this batch are created set-at-a-time, as a /Bulk
    // of creates is (UserService.createMany: same checks and hooks per user, one transaction); the others
    // (updates, and reports of a manager created just now) go row by row below, after them.
    const queue = this.o.dryRun ? parsed.map((_, i) => i) : await this.createNew(parsed, existing, managers, written, earlier);
    let next = 0;
    const worker = async () => {
      while (next < queue.length) {
        const index = queue[next++]!;
        const { line, patch } = parsed[index]!;
        let id: string | null = null;
        try {
          id = await this.row(line, patch, existing.get(patch.employeeNumber) ?? [], managers, owners, earlier(patch.manager, index));
        } catch (e) {
          // A row the broker refuses (validation, uniqueness…) is the row's problem; anything else (the
          // database gone) stops the import.
          if (e instanceof RowError || (e instanceof DomainError && e.status < 500)) this.reject(line, e.message);
          else throw e;
        } finally {
          written.get(patch.employeeNumber)!.settle(id);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 8, queue.length) }, worker));
  }

  /**
   * Creates the batch's new people whose manager is known (stored, empty, or not in this batch: then set at
   * the end, as `row` does) in one UserService.createMany; settles their ids. Returns the indexes left for
   * the row-by-row path, in file order. A deadlock or serialisation failure rolled the whole set back: it
   * runs again.
   */
  private async createNew(parsed: Array<{ line: number; patch: RowPatch }>, existing: Map<string, UserRow[]>, managers: PersonRef[],
    written: Map<string, { settle(id: string | null): void }>, earlier: (ref: string | null | undefined, index: number) => Promise<string | null> | undefined): Promise<number[]> {
    const rest: number[] = [];
    const news: Array<{ index: number; managerId: string | null | undefined; body: Record<string, unknown> }> = [];
    parsed.forEach(({ patch }, index) => {
      const managerId = resolveManager(patch.manager, managers);
      if (existing.get(patch.employeeNumber)?.length || (managerId === undefined && earlier(patch.manager, index))) rest.push(index);
      else news.push({ index, managerId, body: mergeRow(null, patch, managerId) });
    });
    if (news.length < 2) return parsed.map((_, i) => i); // one create: the row path is the same thing
    let outcomes: CreateOutcome[];
    for (let attempt = 0; ; attempt++) {
      try { outcomes = await this.d.users.createMany(news.map((n) => n.body), this.ctx); break; } catch (e) {
        if (attempt < MAX_ATTEMPTS - 1 && TRANSIENT.has((e as { code?: string }).code ?? "")) continue;
        throw e;
      }
    }
    news.forEach(({ index, managerId }, k) => {
      const { line, patch } = parsed[index]!;
      const o = outcomes[k]!;
      if (o.error) { this.reject(line, o.error.message); written.get(patch.employeeNumber)!.settle(null); return; }
      this.counts.created++;
      this.rows++;
      if (patch.manager && managerId === undefined) this.deferred.push({ line, userId: o.row.id, ref: patch.manager, outcome: "created" });
      written.get(patch.employeeNumber)!.settle(o.row.id);
    });
    return rest;
  }

  /** Writes one row (or, in a dry run, decides what it would do); resolves with the user's id. */
  private async row(line: number, patch: RowPatch, matches: UserRow[], managers: PersonRef[], owners: Map<string, string>, managerRow?: Promise<string | null>): Promise<string | null> {
    if (matches.length > 1) throw new RowError(`employeeNumber '${patch.employeeNumber}' matches ${matches.length} users of source '${this.o.source}'; fix them first`);
    // undefined for a manager not found yet: the stored one stays until resolveDeferredManagers
    let managerId = resolveManager(patch.manager, managers);
    if (managerId === undefined && managerRow && !this.o.dryRun) managerId = (await managerRow) ?? undefined;
    let before = matches[0] ?? null;
    const owner = owners.get(identifierKey(patch.userName));
    if (this.o.dryRun && owner !== undefined && owner !== before?.id) throw new RowError(`userName '${patch.userName}' is already taken`);
    let outcome: Outcome;
    for (let attempt = 0; ; attempt++) {
      const body = mergeRow(before?.data ?? null, patch, managerId);
      if (before && unchanged(body, before)) { outcome = "unchanged"; break; }
      if (this.o.dryRun) {
        if (!before) validateUser(normaliseUserBody(structuredClone(body))); // the checks the create would make
        outcome = before ? "updated" : "created";
        break;
      }
      try {
        if (before) { await this.d.users.replace(before.id, body, this.ctx, etagOf(before.version)); outcome = "updated"; }
        else { before = await this.d.users.create(body, this.ctx); outcome = "created"; }
        break;
      } catch (e) {
        if (attempt >= MAX_ATTEMPTS - 1) throw e;
        // Written by someone else between our read and our write: read again and decide again.
        if (e instanceof DomainError && e.code === "PRECONDITION_FAILED" && before) { before = await this.d.users.get(before.id); continue; }
        // Two rows' transactions touching the same groups can deadlock (PostgreSQL aborts one of them) or
        // fail serialisation: the aborted one wrote nothing and is simply run again.
        if (TRANSIENT.has((e as { code?: string }).code ?? "")) continue;
        throw e;
      }
    }
    this.counts[outcome]++;
    this.rows++;
    if (patch.manager && managerId === undefined) this.deferred.push({ line, userId: before?.id ?? null, ref: patch.manager, outcome });
    return before?.id ?? null;
  }

  /** Managers named by rows further down the file: set now that every row is in (a dry run only checks). */
  async resolveDeferredManagers(): Promise<void> {
    if (!this.deferred.length) return;
    const missing = (ref: string) => `manager '${ref}' is not an employeeNumber or userName of source '${this.o.source}'; the row was imported without it`;
    if (this.o.dryRun) {
      for (const x of this.deferred) if (!this.numbers.has(x.ref) && !this.userNames.has(identifierKey(x.ref))) this.reject(x.line, missing(x.ref), false);
      return;
    }
    for (let i = 0; i < this.deferred.length; i += 500) {
      const chunk = this.deferred.slice(i, i + 500);
      const candidates = await managerCandidates(this.d.pool, this.o.source, [...new Set(chunk.map((x) => x.ref))]);
      for (const x of chunk) {
        const id = resolveManager(x.ref, candidates);
        if (!id || !x.userId) { this.reject(x.line, missing(x.ref), false); continue; }
        try {
          await this.d.users.patch(x.userId, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: `${ENTERPRISE_SCHEMA}:manager`, value: { value: id } }] }, this.ctx);
        } catch (e) {
          if (!(e instanceof DomainError && e.status < 500)) throw e;
          this.reject(x.line, `manager: ${e.message}`, false);
          continue;
        }
        if (x.outcome === "unchanged") { this.counts.unchanged--; this.counts.updated++; }
      }
    }
  }
}

/** The write would change nothing: the same resource (and `active`) as the stored one. */
function unchanged(body: Record<string, unknown>, before: UserRow): boolean {
  // Exactly what UserService.replace computes before writing (validate, then settle an unassigned active).
  const resource = validateUser(normaliseUserBody(structuredClone(body)));
  return isDeepStrictEqual(toColumns(settleActive(resource, before, resource.active)).data, before.data);
}

/** By employeeNumber first, then by userName; undefined when not (yet) found, null for an empty cell. */
function resolveManager(ref: string | null | undefined, candidates: PersonRef[]): string | null | undefined {
  if (ref === undefined) return undefined;
  if (ref === null) return null;
  return (candidates.find((c) => c.employeeNumber === ref) ?? candidates.find((c) => c.userNameKey === identifierKey(ref)))?.id;
}
