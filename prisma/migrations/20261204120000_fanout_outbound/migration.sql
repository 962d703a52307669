-- Fan-out: operator truth and outbound correctness (README "Apps and fan-out").

-- A connection test requested by the CLI and run by a server worker (the CLI holds no app secret).
CREATE TABLE "app_test_run" (
    "id" BIGSERIAL NOT NULL,
    "app" TEXT NOT NULL,
    "requested_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    "result" JSONB,

    CONSTRAINT "app_test_run_pkey" PRIMARY KEY ("id")
);

-- The attribute paths last delivered to an app (src/fanout/owned-attributes.ts): what HR clears is removed.
ALTER TABLE "app_account" ADD COLUMN "delivered_attrs" TEXT[];

-- Quarantine kinds (outage | auth: status auth-failing) and the last release, whose older events are ignored.
ALTER TABLE "app_state" ADD COLUMN "quarantine_kind" TEXT, ADD COLUMN "released_at" TIMESTAMPTZ(3);
UPDATE "app_state" SET "quarantine_kind" = 'outage' WHERE "quarantined";
