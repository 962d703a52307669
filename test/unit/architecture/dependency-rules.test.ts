// The folder rule of docs/architecture.md is enforced by dependency-cruiser (.dependency-cruiser.cjs, run by
// `npm run check:deps` in CI). These tests prove the check has teeth: the tree passes it, and a tree with a
// file cycle, an upward import or a database import in the fan-out's HTTP client does not.
import { expect } from "chai";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cruise, type ICruiseResult } from "dependency-cruiser";

const require = createRequire(import.meta.url);
const config = require("../../../.dependency-cruiser.cjs") as { forbidden: unknown[]; options: Record<string, unknown> };

async function check(baseDir: string, tsConfig?: string): Promise<Array<{ rule: string; from: string; to: string }>> {
  const cwd = process.cwd();
  process.chdir(baseDir); // rules match paths relative to the repository root (^src/…)
  try {
    const { options } = config;
    const r = await cruise(["src"], {
      ruleSet: { forbidden: config.forbidden } as never, validate: true, outputType: "json",
      doNotFollow: options.doNotFollow as never, exclude: options.exclude as never, tsPreCompilationDeps: true,
      ...(tsConfig ? { tsConfig: { fileName: tsConfig } } : {}),
    });
    const out = (typeof r.output === "string" ? JSON.parse(r.output) : r.output) as ICruiseResult;
    return out.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
  } finally {
    process.chdir(cwd);
  }
}

describe("architecture: the dependency rule", function () {
  this.timeout(60_000);

  it("when the repository's src/ is checked, then no import points up and no files form a cycle", async () => {
    expect(await check(process.cwd(), "tsconfig.json")).to.deep.equal([]);
  });

  it("when a tree has a cycle, an upward import or a database import in the client, then each is a violation", async () => {
    const root = await mkdtemp(join(tmpdir(), "deprules-"));
    const files: Record<string, string> = {
      "src/domain/a.ts": `import { b } from "../domain/b.ts";\nexport const a = () => b;\n`,
      "src/domain/b.ts": `import { a } from "./a.ts";\nexport const b = () => a;\n`,
      "src/domain/up.ts": `import { admin } from "../admin/admin.ts";\nexport const up = admin;\n`,
      "src/admin/admin.ts": `export const admin = 1;\n`,
      "src/fanout/client/c.ts": `import { q } from "../../store/db.ts";\nexport const c = q;\n`,
      "src/store/db.ts": `export const q = 1;\n`,
    };
    try {
      for (const [p, text] of Object.entries(files)) {
        await mkdir(dirname(join(root, p)), { recursive: true });
        await writeFile(join(root, p), text);
      }
      const rules = new Set((await check(root)).map((v) => v.rule));
      expect([...rules].sort()).to.include.members(["client-without-database", "domain-imports-upward", "no-circular"]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
