-- Rules and lifecycle (src/lifecycle): policy versions, lifecycle events, the exceptions register, the
-- review queue, leavers held by the mass-deprovision guard, and per-user lifecycle state (the scheduled
-- start/end instant that the sweep fires). Per-user state lives in rows, so a restart loses nothing.
-- Partial and expression indexes cannot be declared in schema.prisma; they live only here (the models
-- say so).

-- CreateTable
CREATE TABLE "policy_version" (
    "id" BIGSERIAL NOT NULL,
    "version" TEXT NOT NULL,
    "yaml" TEXT NOT NULL,
    "file" TEXT,
    "applied_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "applied_by" TEXT,
    "converged_at" TIMESTAMPTZ(3),

    CONSTRAINT "policy_version_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "lifecycle_event" (
    "id" BIGSERIAL NOT NULL,
    "user_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "details" JSONB,
    "change_id" BIGINT,
    "source" TEXT,
    "cause" TEXT NOT NULL,
    "held" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "lifecycle_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "lifecycle_state" (
    "user_id" UUID NOT NULL,
    "status" TEXT NOT NULL,
    "next_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "lifecycle_state_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "membership_exception" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "user_id" UUID NOT NULL,
    "group_name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "approver" TEXT,
    "expires_at" TIMESTAMPTZ(3),
    "review_id" UUID,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),
    "revoked_by" TEXT,
    "revoke_reason" TEXT,
    "expired_at" TIMESTAMPTZ(3),

    CONSTRAINT "membership_exception_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "review" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "kind" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "user_id" UUID,
    "group_name" TEXT,
    "owner" TEXT,
    "source" TEXT,
    "dedupe_key" TEXT NOT NULL,
    "payload" JSONB NOT NULL DEFAULT '{}',
    "reason" TEXT,
    "decided_by" TEXT,
    "decided_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "review_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "held_leaver" (
    "review_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "user_name" TEXT NOT NULL,
    "change_id" BIGINT,
    "details" JSONB,
    "held_at" TIMESTAMPTZ(3) NOT NULL,
    "outcome" TEXT,
    "outcome_at" TIMESTAMPTZ(3),

    CONSTRAINT "held_leaver_pkey" PRIMARY KEY ("review_id","user_id")
);

-- CreateIndex
CREATE INDEX "lifecycle_event_user_id_id_idx" ON "lifecycle_event"("user_id", "id");

-- CreateIndex
CREATE INDEX "membership_exception_user_id_idx" ON "membership_exception"("user_id");

-- CreateIndex
CREATE INDEX "review_status_created_at_idx" ON "review"("status", "created_at");

-- CreateIndex
CREATE INDEX "review_user_id_idx" ON "review"("user_id");

-- CreateIndex
CREATE INDEX "held_leaver_user_id_idx" ON "held_leaver"("user_id");

-- AddForeignKey
ALTER TABLE "held_leaver" ADD CONSTRAINT "held_leaver_review_id_fkey" FOREIGN KEY ("review_id") REFERENCES "review"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Partial indexes (not expressible in schema.prisma):
-- the mass-deprovision guard counts the leavers of one HR source inside a sliding window, on every leaver;
CREATE INDEX "lifecycle_event_leaver_source_created_at_idx" ON "lifecycle_event" ("source", "created_at") WHERE "kind" = 'leaver';
-- … and that source's active population (an index-only count, not a scan of every user);
CREATE INDEX "scim_user_active_source_idx" ON "scim_user" ("source") WHERE "active";
-- the sweep finds due start/end dates and expiring exceptions without reading anything else;
CREATE INDEX "lifecycle_state_next_at_idx" ON "lifecycle_state" ("next_at") WHERE "next_at" IS NOT NULL;
CREATE INDEX "membership_exception_open_expires_at_idx" ON "membership_exception" ("expires_at")
  WHERE "expires_at" IS NOT NULL AND "revoked_at" IS NULL AND "expired_at" IS NULL;
-- one open review per subject (user + group + kind, or one mass-deprovision item per source).
CREATE UNIQUE INDEX "review_open_dedupe_key_key" ON "review" ("dedupe_key") WHERE "status" = 'pending';

-- The policy lock in SHARED mode and the id of the latest policy version, in one round trip for every HR
-- write (src/lifecycle/policy-holder.ts; keys are LOCKS.ns, LOCKS.policy there). A VOLATILE function runs
-- each of its queries with a fresh snapshot (READ COMMITTED), so the version is read AFTER the lock is
-- granted: a transaction that waited for an apply to record a version sees that version.
CREATE FUNCTION "broker_policy_lock_shared"() RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(1396855371, 1);
  RETURN (SELECT max("id") FROM "policy_version");
END
$$;

-- Users that existed before this migration get a state row whose next_at is their next future start or
-- end date, so the sweep fires them; the sweep re-classifies, so this approximation is safe.
INSERT INTO "lifecycle_state" ("user_id", "status", "next_at", "updated_at")
SELECT "id", 'unknown',
       LEAST(CASE WHEN "start_date" > now() THEN "start_date" END, CASE WHEN "end_date" > now() THEN "end_date" END),
       now()
FROM "scim_user";
