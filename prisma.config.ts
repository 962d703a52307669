// Prisma 6.19 CLI config: run the *wasm* schema engine through a pg driver adapter, so generate /
// migrate deploy / migrate diff need no downloaded binaries (this machine and CI reach npm only).
// NB: when this file exists the CLI does NOT load .env; export DATABASE_URL yourself.
import { defineConfig } from "prisma/config";
import { MigratePg, pgConfigFromUrl } from "./prisma/migrate-adapter.ts";

// schema.prisma's env("DATABASE_URL") must resolve even for `prisma generate`; if it doesn't, the 6.x
// CLI falls back to downloading a native query engine (fails offline).
process.env.DATABASE_URL ??= "postgresql://unset@localhost:5432/unset";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  adapter: async () => new MigratePg(pgConfigFromUrl(process.env.DATABASE_URL ?? "")),
});
