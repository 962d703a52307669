import { expect } from "chai";
import { memberDelta } from "../../../src/fanout/delivery/group-task.ts";

const sets = (desired: Array<[string, string]>, pushed: Array<[string, string]>) => ({ desired: new Map(desired), pushed: new Map(pushed) });

describe("fanout/group-task memberDelta", () => {
  it("when members joined and left, then the delta adds the new app ids and removes the old ones", () => {
    const d = memberDelta(sets([["u1", "r1"], ["u2", "r2"]], [["u2", "r2"], ["u3", "r3"]]));
    expect(d).to.deep.equal({ add: [["u1", "r1"]], removeRemote: ["r3"], removeUsers: ["u3"], more: false });
  });

  it("when a member's account was re-created, then its new id is added and its old id removed, the user staying pushed", () => {
    const d = memberDelta(sets([["u1", "new"]], [["u1", "old"]]));
    expect(d).to.deep.equal({ add: [["u1", "new"]], removeRemote: ["old"], removeUsers: [], more: false });
  });

  it("when the delta exceeds the run's share, then additions go first and the rest is left for the next run", () => {
    const d = memberDelta(sets([["u1", "r1"], ["u2", "r2"]], [["u3", "r3"], ["u4", "r4"]]), 3);
    expect(d).to.deep.equal({ add: [["u1", "r1"], ["u2", "r2"]], removeRemote: ["r3"], removeUsers: ["u3"], more: true });
  });
});
