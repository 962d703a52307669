import { expect } from "chai";
import fc from "fast-check";
import {
  canonicalJson, computeHash, GENESIS_HASH, sealRows, verifyChain,
  type ChainContent, type SealedRow,
} from "../../../src/audit/audit-chain.ts";

const content = (seq: number, over: Partial<ChainContent> = {}): ChainContent => ({
  seq, at: new Date(Date.UTC(2026, 10, 26, 12, 0, seq)), kind: "membership.added", userId: `u${seq}`,
  groupName: "Engineering", app: null, cause: { changeId: seq, rule: "eng", policyVersion: "v1" }, details: null, ...over,
});
const chain = (n: number): SealedRow[] => sealRows(null, Array.from({ length: n }, (_, i) => content(10 + i * 3)));
const clone = (rows: SealedRow[]) => rows.map((r) => ({ ...r }));

describe("audit/audit-chain", () => {
  it("when objects differ only in key order or undefined members, then their canonical JSON is the same", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, "x"], c: null }, z: undefined })).to.equal('{"a":{"c":null,"d":[1,"x"]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).to.equal(canonicalJson({ b: 2, a: 1 }));
    expect(canonicalJson(new Date("2026-01-02T03:04:05.006Z"))).to.equal('"2026-01-02T03:04:05.006Z"');
  });

  it("when rows are sealed, then each links to the previous hash and the first to the genesis hash", () => {
    const rows = chain(3);
    expect(rows.map((r) => r.chainIndex)).to.deep.equal([0, 1, 2]);
    expect(rows[0].prevHash).to.equal(GENESIS_HASH);
    expect(rows[1].prevHash).to.equal(rows[0].hash);
    expect(rows[2].hash).to.equal(computeHash(rows[1].hash, rows[2], 2));
    expect(rows[0].hash).to.match(/^[0-9a-f]{64}$/);
  });

  it("when a chain is sealed in two runs, then it equals the chain sealed in one run", () => {
    const all = Array.from({ length: 5 }, (_, i) => content(i + 1));
    const first = sealRows(null, all.slice(0, 2));
    const second = sealRows({ chainIndex: 1, hash: first[1].hash }, all.slice(2));
    expect([...first, ...second]).to.deep.equal(sealRows(null, all));
  });

  it("when the chain is intact, then verify is ok and reports the tip", () => {
    const rows = chain(4);
    expect(verifyChain(rows)).to.deep.include({ ok: true, checked: 4, tip: { chainIndex: 3, hash: rows[3].hash } });
    expect(verifyChain([])).to.deep.include({ ok: true, checked: 0, tip: null });
  });

  it("when a row's content is modified, then verify reports that row as hash_mismatch", () => {
    const rows = clone(chain(5));
    rows[2] = { ...rows[2], groupName: "Finance" };
    expect(verifyChain(rows).broken).to.deep.include({ chainIndex: 2, seq: rows[2].seq, reason: "hash_mismatch" });
  });

  it("when a row is modified and rehashed, then the next row no longer links to it", () => {
    const rows = clone(chain(5));
    rows[2] = { ...rows[2], userId: "someone-else" };
    rows[2].hash = computeHash(rows[2].prevHash, rows[2], 2);
    expect(verifyChain(rows).broken).to.deep.include({ chainIndex: 3, reason: "prev_hash_mismatch" });
  });

  it("when a row is deleted, then verify reports the gap at the row after it", () => {
    const rows = chain(5);
    const broken = verifyChain([...rows.slice(0, 2), ...rows.slice(3)]).broken!;
    expect(broken).to.deep.include({ chainIndex: 3, reason: "row_missing" });
    expect(broken.detail).to.contain("chain index 2 missing");
  });

  it("when a row is deleted and the rest renumbered, then the link breaks", () => {
    const rows = chain(5);
    const renumbered = [...rows.slice(0, 2), ...rows.slice(3).map((r) => ({ ...r, chainIndex: r.chainIndex - 1 }))];
    expect(verifyChain(renumbered).broken).to.deep.include({ chainIndex: 2, reason: "prev_hash_mismatch" });
  });

  it("when two rows are swapped, then verify reports them out of order", () => {
    const rows = clone(chain(5));
    [rows[1], rows[2]] = [rows[2], rows[1]];
    expect(verifyChain(rows).broken).to.deep.include({ chainIndex: 2, reason: "row_missing" });
    // swapping only their contents (keeping the positions) breaks the hashes instead
    const swapped = clone(chain(5));
    const a = swapped[1];
    swapped[1] = { ...swapped[2], chainIndex: 1, prevHash: a.prevHash, hash: a.hash };
    expect(verifyChain(swapped).ok).to.equal(false);
  });

  it("when a correctly hashed row is inserted in the middle, then the row after it is flagged", () => {
    const rows = chain(4);
    const forged = sealRows({ chainIndex: 0, hash: rows[0].hash }, [content(11, { kind: "membership.removed" })])[0];
    expect(verifyChain([rows[0], forged, ...rows.slice(1)]).broken).to.deep.include({ chainIndex: 1, reason: "out_of_order" });
  });

  it("when an unsealed row sorts below the sealed tip, then it is reported as inserted out of band", () => {
    const rows = chain(3);
    const pending = { ...content(rows[2].seq + 5), chainIndex: null, prevHash: null, hash: null };
    expect(verifyChain([...rows, pending]).ok).to.equal(true);
    const inserted = { ...content(rows[1].seq + 1), chainIndex: null, prevHash: null, hash: null };
    expect(verifyChain([...rows, inserted]).broken).to.deep.include({ chainIndex: null, seq: inserted.seq, reason: "out_of_band" });
  });

  it("when verifying from a checkpoint, then rows before it are not read and a truncated tail is caught", () => {
    const rows = chain(6);
    const cp = { chainIndex: 3, hash: rows[3].hash };
    expect(verifyChain(rows.slice(3), cp)).to.deep.include({ ok: true, checked: 3 });
    expect(verifyChain(rows.slice(4), cp).broken).to.deep.include({ reason: "checkpoint_mismatch" });
    expect(verifyChain([], cp).broken).to.deep.include({ reason: "checkpoint_mismatch", chainIndex: 3 });
    const changed = clone(rows.slice(3));
    changed[0].kind = "account.disabled";
    expect(verifyChain(changed, cp).broken).to.deep.include({ reason: "checkpoint_mismatch" });
  });

  describe("property: any single-row mutation of a valid chain is detected", () => {
    const json = fc.jsonValue({ maxDepth: 2 });
    const text = fc.string({ maxLength: 8 });
    const row = fc.record({
      at: fc.date({ min: new Date("2020-01-01"), max: new Date("2030-01-01"), noInvalidDate: true }),
      kind: fc.constantFrom("membership.added", "membership.removed", "account.disabled", "policy.applied"),
      userId: fc.option(text), groupName: fc.option(text), app: fc.option(text),
      cause: fc.dictionary(fc.constantFrom("changeId", "rule", "policyVersion", "actor"), fc.oneof(text, fc.integer())),
      details: fc.option(fc.dictionary(text, json)),
    });
    const validChain = fc.array(row, { minLength: 1, maxLength: 12 }).chain((rs) =>
      fc.uniqueArray(fc.integer({ min: 1, max: 1_000_000 }), { minLength: rs.length, maxLength: rs.length })
        .map((seqs) => sealRows(null, rs.map((r, i) => ({ ...r, seq: [...seqs].sort((a, b) => a - b)[i] })))));
    const field = fc.constantFrom<keyof SealedRow>("seq", "at", "kind", "userId", "groupName", "app", "cause", "details", "chainIndex", "prevHash", "hash");
    const replacement = fc.oneof(text, fc.integer(), fc.constant(null), json, fc.date({ noInvalidDate: true }));

    it("when one field of one row changes to a different value, then verify fails", () => {
      fc.assert(fc.property(validChain, fc.nat(), field, replacement, (rows, pick, key, value) => {
        const i = pick % rows.length;
        const original = rows[i][key];
        fc.pre(canonicalJson(value) !== canonicalJson(original));
        // a changed `at` counts only if it is a different instant once stored (timestamps keep milliseconds)
        if (key === "at") fc.pre(value instanceof Date && value.getTime() !== (original as Date).getTime());
        if (key === "seq" || key === "chainIndex") fc.pre(typeof value === "number");
        const mutated = clone(rows);
        (mutated[i] as unknown as Record<string, unknown>)[key] = value;
        return verifyChain(mutated).ok === false;
      }), { numRuns: 500 });
    });

    it("when one row is deleted (or, with a checkpoint at the tip, the last one), then verify fails", () => {
      fc.assert(fc.property(validChain, fc.nat(), (rows, pick) => {
        const i = pick % rows.length;
        const rest = rows.filter((_, j) => j !== i);
        const tip = rows.at(-1)!;
        if (i < rows.length - 1) return verifyChain(rest).ok === false;
        return verifyChain(rest.slice(-1), { chainIndex: tip.chainIndex, hash: tip.hash }).ok === false;
      }), { numRuns: 300 });
    });

    it("when two different rows trade places, then verify fails", () => {
      fc.assert(fc.property(validChain.filter((r) => r.length >= 2), fc.nat(), fc.nat(), (rows, a, b) => {
        const i = a % rows.length;
        const j = b % rows.length;
        fc.pre(i !== j);
        const swapped = clone(rows);
        [swapped[i], swapped[j]] = [swapped[j], swapped[i]];
        return verifyChain(swapped).ok === false;
      }), { numRuns: 300 });
    });
  });
});
