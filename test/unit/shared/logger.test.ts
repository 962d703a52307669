import { expect } from "chai";
import { createLogger, scrubSecrets } from "../../../src/shared/logger.ts";

const collect = () => {
  const lines: string[] = [];
  return { lines, destination: { write: (s: string) => { lines.push(s); } } };
};

describe("shared/logger: no secret reaches a log line", () => {
  it("when a line carries a URL with a query string, then the query string is redacted", () => {
    expect(scrubSecrets(`{"url":"/scim/v2/Users?access_token=scb_abcdefghijklmnop&filter=x"}`)).to.equal(`{"url":"/scim/v2/Users?[redacted]"}`);
    expect(scrubSecrets(`{"url":"https://app.example.com/scim/v2?api_key=s3cr3t"}`)).to.equal(`{"url":"https://app.example.com/scim/v2?[redacted]"}`);
    expect(scrubSecrets(`no endpoint GET /admin/v1/x?y=1`)).to.equal(`no endpoint GET /admin/v1/x?[redacted]`);
    expect(scrubSecrets(`is it done? yes`)).to.equal(`is it done? yes`);
  });

  it("when a line carries a token anywhere (message, error text, header), then it is redacted", () => {
    expect(scrubSecrets(`failed: Bearer eyJhbGciOiJIUzI1NiJ9.x.y`)).to.equal(`failed: Bearer [redacted]`);
    expect(scrubSecrets(`Authorization: Basic dXNlcjpwYXNz`)).to.equal(`Authorization: Basic [redacted]`);
    expect(scrubSecrets(`token scb_Zm9vYmFyYmF6cXV4MTIzNDU2 leaked`)).to.equal(`token scb_[redacted] leaked`);
    expect(scrubSecrets(`body client_secret=abc&password=hunter2`)).to.equal(`body client_secret=[redacted]&password=[redacted]`);
    expect(scrubSecrets(`connect postgresql://postgres:s3cr3t@127.0.0.1:5432/broker failed`)).to.equal(`connect postgresql://[redacted]@127.0.0.1:5432/broker failed`);
  });

  it("when the logger writes, then every line is scrubbed and known secret fields are censored", () => {
    const c = collect();
    const log = createLogger({ level: "info", destination: c.destination });
    log.info({ url: "/scim/v2/Users?access_token=scb_abcdefghijklmnopqrstuv", auth: { token: "t0ps3cret" } }, "request Bearer abc.def.ghi");
    log.error({ err: new Error("GET https://x.example/?token=abc failed") }, "boom");
    const all = c.lines.join("");
    expect(all).to.not.match(/scb_abcdef|t0ps3cret|abc\.def\.ghi|token=abc/);
    expect(c.lines).to.have.length(2);
    for (const l of c.lines) expect(() => JSON.parse(l)).to.not.throw();
  });
});
