// The folder rule of docs/architecture.md, checked in CI (`npm run check:deps`): imports point down the
// list of layers below, never up, and no file imports itself back through others. A new folder under
// src/ must be placed in LAYERS, or the check fails (see "unplaced" below).
/** Top to bottom: a layer may import the layers after it, never one before it. */
const LAYERS = [
  ["composition", "^src/(main|broker)\\.ts$|^src/cli/"],
  ["admin", "^src/admin/"],
  ["fanout", "^src/fanout/[^/]+\\.ts$"],
  ["fanout/reconcile", "^src/fanout/reconcile/"],
  ["ssf", "^src/ssf/"],
  ["fanout/delivery", "^src/fanout/delivery/"],
  ["fanout/apps", "^src/fanout/apps/"],
  ["fanout/client", "^src/fanout/client/"],
  ["import", "^src/import/"],
  ["lifecycle", "^src/lifecycle/"],
  ["rules", "^src/rules/"],
  ["http", "^src/http/"],
  ["scim", "^src/scim/"],
  ["auth", "^src/auth/"],
  ["audit", "^src/audit/"],
  ["store", "^src/store/"],
  ["jobs", "^src/jobs/"],
  ["domain", "^src/domain/"],
  ["shared", "^src/(shared|config|generated|types)/"],
  ["console", "^src/console/"],
];

const upward = LAYERS.slice(1).map(([name, path], i) => ({
  name: `${name}-imports-upward`,
  comment: `${name} may import only the layers below it (docs/architecture.md, "The folders")`,
  severity: "error",
  from: { path },
  to: { path: LAYERS.slice(0, i + 1).map(([, p]) => `(${p})`).join("|") },
}));

module.exports = {
  forbidden: [
    { name: "no-circular", comment: "files must not import each other in a loop", severity: "error", from: {}, to: { circular: true } },
    ...upward,
    {
      name: "client-without-database",
      comment: "fanout/client speaks HTTP to apps and knows nothing of PostgreSQL",
      severity: "error",
      from: { path: "^src/fanout/client/" },
      to: { path: "^src/(store|jobs|generated)/|^node_modules/(pg|@prisma|graphile-worker)/" },
    },
    {
      name: "console-imports-nothing-of-ours",
      severity: "error",
      from: { path: "^src/console/" },
      to: { path: "^src/(?!console/)" },
    },
    {
      name: "unplaced",
      comment: "every file under src/ belongs to a layer of this file",
      severity: "error",
      from: { path: "^src/", pathNot: LAYERS.map(([, p]) => `(${p})`).join("|") },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/generated/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"], extensions: [".ts", ".js"] },
  },
};
