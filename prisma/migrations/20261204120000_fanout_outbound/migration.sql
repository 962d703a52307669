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

-- One dead letter per (app, user or group): a repeated failure updates it (occurrences, attempts, the last
-- error and when) instead of adding another. Existing duplicates merge into their newest row.
ALTER TABLE "dead_letter" ADD COLUMN "occurrences" INTEGER NOT NULL DEFAULT 1, ADD COLUMN "updated_at" TIMESTAMPTZ(3);
UPDATE "dead_letter" SET "updated_at" = "created_at";
ALTER TABLE "dead_letter" ALTER COLUMN "updated_at" SET NOT NULL, ALTER COLUMN "updated_at" SET DEFAULT CURRENT_TIMESTAMP;
WITH ranked AS (
  SELECT "id", row_number() OVER w AS rn, count(*) OVER w AS n, sum("attempts") OVER w AS total, min("created_at") OVER w AS first
    FROM "dead_letter" WINDOW w AS (PARTITION BY "app", "kind", "key" ORDER BY "id" DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
UPDATE "dead_letter" d SET "occurrences" = r.n, "attempts" = r.total, "created_at" = r.first FROM ranked r WHERE d."id" = r."id" AND r.rn = 1;
DELETE FROM "dead_letter" d USING (SELECT "id", row_number() OVER (PARTITION BY "app", "kind", "key" ORDER BY "id" DESC) AS rn FROM "dead_letter") r
 WHERE d."id" = r."id" AND r.rn > 1;
CREATE UNIQUE INDEX "dead_letter_app_kind_key_key" ON "dead_letter"("app", "kind", "key");
