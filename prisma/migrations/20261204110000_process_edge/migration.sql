-- Per-token request rate limit (src/auth/request-rate-limit.ts): requests per second; NULL = the broker's
-- default (BROKER_TOKEN_RATE_LIMIT), 0 = unlimited.
ALTER TABLE "api_token" ADD COLUMN "rate_limit" INTEGER;

-- The broker memberships of a leaver deleted while the mass-deprovision guard holds it
-- (src/lifecycle/held-membership-store.ts): parked until the review is approved, kept when it is denied.
CREATE TABLE "held_membership" (
    "group_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "source" TEXT NOT NULL,
    "cause" JSONB,
    "review_id" UUID NOT NULL,
    "held_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "held_membership_pkey" PRIMARY KEY ("group_id","user_id","source")
);

CREATE INDEX "held_membership_user_id_idx" ON "held_membership"("user_id");

ALTER TABLE "held_membership" ADD CONSTRAINT "held_membership_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "scim_group"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "held_membership" ADD CONSTRAINT "held_membership_review_id_fkey" FOREIGN KEY ("review_id") REFERENCES "review"("id") ON DELETE CASCADE ON UPDATE CASCADE;
