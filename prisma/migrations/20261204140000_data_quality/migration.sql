-- Data-quality shield, source authority and policy replay (README "HR data quality").

-- The shield's hold on a user: access being given waits for the user's data-quality review.
CREATE TABLE "data_quality_hold" (
    "user_id" UUID NOT NULL,
    "review_id" UUID NOT NULL,
    "holds" TEXT[],
    "state" TEXT NOT NULL DEFAULT 'held',
    "held_data" JSONB,
    "held_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "data_quality_hold_pkey" PRIMARY KEY ("user_id")
);
CREATE INDEX "data_quality_hold_review_id_idx" ON "data_quality_hold"("review_id");

-- Identity clash (another user of the same source with the same employeeNumber) uses
-- scim_user_source_employee_number_idx of the import_lookup migration.

-- Policy replay: the change records of a window in (created_at, id) order, read in keyset batches.
DROP INDEX IF EXISTS "change_record_created_at_idx";
CREATE INDEX "change_record_created_at_id_idx" ON "change_record"("created_at", "id");
