#!/usr/bin/env node
// CLI entry (package bin): runs the TypeScript sources through tsx so `npx scim-broker …` works right
// after `npm ci`, with no build step.
import { register } from "tsx/esm/api";
register();
await import("../src/cli/main.ts");
