import { expect } from "chai";
import { subjectKeys, subjectOf } from "../../../src/ssf/receiver-subject.ts";

describe("SSF receiver: the subject of a received SET (RFC 9493)", () => {
  it("when the subject is an email, opaque id or iss_sub, then it is matched by email or by identifier", () => {
    expect(subjectKeys({ format: "email", email: " a@example.com " })).to.deep.equal([{ by: "email", value: "a@example.com" }]);
    expect(subjectKeys({ format: "opaque", id: "E123" })).to.deep.equal([{ by: "identifier", value: "E123" }]);
    expect(subjectKeys({ format: "iss_sub", iss: "https://idp", sub: "00u1" })).to.deep.equal([{ by: "identifier", value: "00u1" }]);
    expect(subjectKeys({ format: "account", uri: "acct:b@example.com" })).to.deep.equal([{ by: "email", value: "b@example.com" }]);
  });

  it("when the subject is aliases or a complex subject, then each identifier is tried in order", () => {
    expect(subjectKeys({ format: "aliases", identifiers: [{ format: "email", email: "a@example.com" }, { format: "opaque", id: "x" }] }))
      .to.deep.equal([{ by: "email", value: "a@example.com" }, { by: "identifier", value: "x" }]);
    expect(subjectKeys({ user: { format: "email", email: "c@example.com" }, session: { format: "opaque", id: "s" } }))
      .to.deep.equal([{ by: "email", value: "c@example.com" }]);
  });

  it("when the subject is unknown, malformed or too deep, then nothing matches", () => {
    for (const s of [null, "a@example.com", [], { format: "phone_number", phone_number: "+1" }, { format: "email" }, { format: "opaque", id: " " }])
      expect(subjectKeys(s)).to.deep.equal([]);
    const deep = { format: "aliases", identifiers: [{ format: "aliases", identifiers: [{ format: "aliases", identifiers: [{ format: "aliases", identifiers: [{ format: "email", email: "d@x" }] }] }] }] };
    expect(subjectKeys(deep)).to.deep.equal([]);
  });

  it("when the SET has a top-level sub_id, then it wins over the event's subject", () => {
    expect(subjectOf({ sub_id: { format: "opaque", id: "top" } }, { subject: { format: "opaque", id: "ev" } })).to.deep.equal({ format: "opaque", id: "top" });
    expect(subjectOf({}, { subject: { format: "opaque", id: "ev" } })).to.deep.equal({ format: "opaque", id: "ev" });
  });
});
