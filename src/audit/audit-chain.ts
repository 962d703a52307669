// The audit hash chain, pure: canonical JSON, the hash of a row, sealing a run of rows, and verification
// — over an array (offline, e.g. an export) or incrementally (the store streams rows through it).
//
//   hash(row) = sha256_hex( prev_hash_hex || canonical_json(content(row)) )
//
// content(row) holds the row's chain position (chainIndex), its seq and every field a reader relies on, so
// editing any of them, renumbering rows or moving a row elsewhere in the chain changes some hash. The first
// row's prev_hash is GENESIS_HASH.
import { createHash } from "node:crypto";

export const GENESIS_HASH = "0".repeat(64);
// Bumped if content() ever changes, so old rows keep verifying under the format they were sealed with.
const CONTENT_VERSION = 1;

/** The fields of an audit row that the chain protects. `at` may be a Date or its ISO string (exports). */
export interface ChainContent {
  seq: number;
  at: Date | string;
  kind: string;
  userId: string | null;
  groupName: string | null;
  app: string | null;
  cause: unknown;
  details: unknown;
}
export interface ChainLink { chainIndex: number; prevHash: string; hash: string }
export type SealedRow = ChainContent & ChainLink;
/** A row that may not be sealed yet (chain fields null), as a query or an export returns it. */
export type MaybeSealedRow = ChainContent & { chainIndex: number | null; prevHash: string | null; hash: string | null };

/** A trusted point in the chain (recorded outside the database) to verify from or to compare with. */
export interface Checkpoint { chainIndex: number; hash: string }

/** Stable reason codes (CLI output, admin API). */
export type ChainBreakReason =
  | "hash_mismatch" // the row's content (or its stored hash) was changed
  | "prev_hash_mismatch" // the row does not link to the row before it: a row was changed and rehashed, removed or inserted
  | "row_missing" // a gap in chain_index: a row was deleted
  | "out_of_order" // chain_index or seq goes backwards or repeats: rows were reordered or duplicated
  | "checkpoint_mismatch" // the checkpoint row is gone or differs: history before it was rewritten or truncated
  | "out_of_band"; // an unsealed row sorts below the sealed tip: the sealer never leaves one, so it was inserted

export interface ChainBreak { chainIndex: number | null; seq: number | null; reason: ChainBreakReason; detail: string }

export interface ChainVerifyResult {
  ok: boolean;
  checked: number;
  tip: Checkpoint | null; // last verified row: record it to verify from there next time
  tipSeq: number | null;
  broken?: ChainBreak;
}

/**
 * Canonical JSON in the manner of RFC 8785 (JCS): object members sorted by key (UTF-16 code units),
 * no whitespace, ECMAScript number and string serialisation (what JSON.stringify does), undefined members
 * omitted. Deterministic for any value JSON.parse can return, so the jsonb round trip does not matter.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") {
    if (v === undefined || typeof v === "function" || typeof v === "symbol") return "null";
    if (typeof v === "bigint") return v.toString(); // not produced by JSON.parse; kept total for safety
    return JSON.stringify(v);
  }
  if (v instanceof Date) return JSON.stringify(v.toISOString());
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
}

// An unparseable `at` (a garbled export line) hashes as its raw text, so it fails verification, not the verifier.
const iso = (at: Date | string) => {
  const d = at instanceof Date ? at : new Date(at);
  return Number.isNaN(d.getTime()) ? String(at) : d.toISOString();
};

/** The canonical text of what the chain protects for one row at one position. */
export function contentText(row: ChainContent, chainIndex: number): string {
  return canonicalJson({
    v: CONTENT_VERSION, chainIndex, seq: row.seq, at: iso(row.at), kind: row.kind,
    userId: row.userId ?? null, groupName: row.groupName ?? null, app: row.app ?? null,
    cause: row.cause ?? null, details: row.details ?? null,
  });
}

export function computeHash(prevHash: string, row: ChainContent, chainIndex: number): string {
  return createHash("sha256").update(prevHash).update(contentText(row, chainIndex)).digest("hex");
}

/** Chains `rows` (already in seq order) after `tip` (null: start a new chain). Returns each row's link. */
export function sealRows<R extends ChainContent>(tip: Checkpoint | null, rows: readonly R[]): Array<R & ChainLink> {
  let prevHash = tip?.hash ?? GENESIS_HASH;
  let chainIndex = tip ? tip.chainIndex + 1 : 0;
  return rows.map((r) => {
    const hash = computeHash(prevHash, r, chainIndex);
    const sealed = { ...r, chainIndex, prevHash, hash };
    prevHash = hash;
    chainIndex += 1;
    return sealed;
  });
}

/**
 * Checks sealed rows one at a time, in the order the chain claims (chain_index ascending), so a verifier
 * over millions of rows needs constant memory. Without `from` the chain must start at index 0 from the
 * genesis hash; with `from`, the first row must be the checkpoint row with the checkpoint's hash.
 */
export class ChainVerifier {
  private expectIndex: number;
  private expectPrev: string | null; // null: the first row after a checkpoint links to history not re-read
  private lastSeq = -Infinity;
  checked = 0;
  tip: Checkpoint | null = null;
  tipSeq: number | null = null;
  broken: ChainBreak | undefined;

  constructor(private readonly from?: Checkpoint) {
    this.expectIndex = from ? from.chainIndex : 0;
    this.expectPrev = from ? null : GENESIS_HASH;
  }

  /** Feeds the next row; returns the break (and keeps returning it) once the chain is broken. */
  push(row: SealedRow): ChainBreak | undefined {
    if (this.broken) return this.broken;
    const at = (reason: ChainBreakReason, detail: string) =>
      (this.broken = { chainIndex: row.chainIndex, seq: row.seq, reason, detail });
    if (typeof row.chainIndex !== "number" || typeof row.prevHash !== "string" || typeof row.hash !== "string") {
      return at("hash_mismatch", `row seq ${row.seq} has incomplete chain fields`);
    }
    const hash = computeHash(row.prevHash, row, row.chainIndex);
    if (this.from && this.checked === 0) {
      if (row.chainIndex !== this.from.chainIndex) return at("checkpoint_mismatch", `checkpoint row #${this.from.chainIndex} is missing (found #${row.chainIndex})`);
      if (hash !== this.from.hash || row.hash !== this.from.hash) return at("checkpoint_mismatch", `row #${row.chainIndex} no longer matches the checkpoint hash`);
    }
    if (row.chainIndex > this.expectIndex) return at("row_missing", `chain index ${this.expectIndex}${row.chainIndex - 1 > this.expectIndex ? `..${row.chainIndex - 1}` : ""} missing before #${row.chainIndex}`);
    if (row.chainIndex < this.expectIndex) return at("out_of_order", `chain index ${row.chainIndex} where ${this.expectIndex} was expected`);
    if (!(row.seq > this.lastSeq)) return at("out_of_order", `seq ${row.seq} does not follow seq ${this.lastSeq}`);
    if (this.expectPrev !== null && row.prevHash !== this.expectPrev) return at("prev_hash_mismatch", `row #${row.chainIndex} does not link to row #${row.chainIndex - 1}`);
    if (hash !== row.hash) return at("hash_mismatch", `row #${row.chainIndex} (seq ${row.seq}) does not match its hash`);
    this.expectIndex = row.chainIndex + 1;
    this.expectPrev = row.hash;
    this.lastSeq = row.seq;
    this.checked += 1;
    this.tip = { chainIndex: row.chainIndex, hash: row.hash };
    this.tipSeq = row.seq;
    return undefined;
  }

  /** Call after the last row: an empty chain is fine, unless a checkpoint promised a row. */
  finish(): ChainVerifyResult {
    if (!this.broken && this.from && this.checked === 0) {
      this.broken = { chainIndex: this.from.chainIndex, seq: null, reason: "checkpoint_mismatch", detail: `checkpoint row #${this.from.chainIndex} is missing: the chain was truncated` };
    }
    return { ok: !this.broken, checked: this.checked, tip: this.tip, tipSeq: this.tipSeq, ...(this.broken ? { broken: this.broken } : {}) };
  }
}

/** The break an unsealed row below the sealed tip represents (see "out_of_band"), if any. */
export function outOfBandBreak(tipSeq: number | null, unsealedSeq: number): ChainBreak | undefined {
  if (tipSeq === null || unsealedSeq > tipSeq) return undefined;
  return { chainIndex: null, seq: unsealedSeq, reason: "out_of_band", detail: `unsealed seq ${unsealedSeq} is below the sealed tip (seq ${tipSeq}); the sealer never leaves one behind` };
}

/**
 * Verifies a whole log held in memory — e.g. the lines of an unfiltered `audit export`: the sealed rows
 * in the order given, then every unsealed row must come after the sealed tip.
 */
export function verifyChain(rows: readonly MaybeSealedRow[], from?: Checkpoint): ChainVerifyResult {
  const v = new ChainVerifier(from);
  const unsealed: number[] = [];
  for (const r of rows) {
    if (r.chainIndex === null && r.prevHash === null && r.hash === null) unsealed.push(r.seq);
    else if (v.push(r as SealedRow)) break;
  }
  const result = v.finish();
  if (!result.ok) return result;
  for (const seq of unsealed) {
    const broken = outOfBandBreak(result.tipSeq, seq);
    if (broken) return { ...result, ok: false, broken };
  }
  return result;
}
