// What the CLI's commands need of a broker built for one command. The composition root builds it
// (src/cli/cli-broker.ts, through broker.ts) and hands it to the command tree (cli-program.ts), so the
// commands here never import the composition root (docs/architecture.md, "The folders").
import type { FanoutService } from "../fanout/fanout-service.ts";
import type { Lifecycle } from "../lifecycle/lifecycle.ts";
import type { UserService } from "../scim/user-service.ts";
import type { Database } from "../store/database.ts";

export interface CliServices { db: Database; users: UserService; lifecycle: Lifecycle; fanout: { service: FanoutService } }

/** Runs fn with the services of a broker built for this command (workers off), then stops it. */
export type WithCliServices = <T>(fn: (services: CliServices) => Promise<T>, opts?: { verbose?: boolean }) => Promise<T>;
