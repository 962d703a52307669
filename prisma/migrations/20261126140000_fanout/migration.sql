-- Outbound fan-out (src/fanout): the id map and delivery state per (app, user) and (app, group), what has
-- been pushed to each app group, per-app health (quarantine, Retry-After pause, operator disable), dead
-- letters, leaver SLA records, the registry of live worker processes (crash recovery) and reconciliation
-- runs. Jobs themselves live in graphile_worker's tables, added in the HR request's transaction.
--
-- No foreign keys to scim_user/scim_group on purpose: a deleted user's remote ids are what deprovision it.
-- Beyond the Prisma models: the partial index on open leaver SLAs.

-- CreateTable
CREATE TABLE "app_account" (
    "app" TEXT NOT NULL,
    "user_id" UUID NOT NULL,
    "user_name" TEXT NOT NULL,
    "remote_id" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "leaver" BOOLEAN NOT NULL DEFAULT false,
    "change_id" BIGINT,
    "desired_version" INTEGER NOT NULL DEFAULT 1,
    "delivered_version" INTEGER NOT NULL DEFAULT 0,
    "delivered_hash" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" JSONB,
    "pending_since" TIMESTAMPTZ(3),
    "delivered_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lease_owner" TEXT,
    "lease_until" TIMESTAMPTZ(3),

    CONSTRAINT "app_account_pkey" PRIMARY KEY ("app","user_id")
);

-- CreateTable
CREATE TABLE "app_group" (
    "app" TEXT NOT NULL,
    "group_id" UUID NOT NULL,
    "group_name" TEXT NOT NULL,
    "remote_id" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "desired_version" INTEGER NOT NULL DEFAULT 1,
    "delivered_version" INTEGER NOT NULL DEFAULT 0,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" JSONB,
    "pending_since" TIMESTAMPTZ(3),
    "delivered_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lease_owner" TEXT,
    "lease_until" TIMESTAMPTZ(3),

    CONSTRAINT "app_group_pkey" PRIMARY KEY ("app","group_id")
);

-- CreateTable
CREATE TABLE "app_group_member" (
    "app" TEXT NOT NULL,
    "group_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "remote_user_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "app_group_member_pkey" PRIMARY KEY ("app","group_id","user_id")
);

-- CreateTable
CREATE TABLE "app_state" (
    "app" TEXT NOT NULL,
    "disabled" BOOLEAN NOT NULL DEFAULT false,
    "disabled_reason" TEXT,
    "quarantined" BOOLEAN NOT NULL DEFAULT false,
    "quarantined_since" TIMESTAMPTZ(3),
    "probe_at" TIMESTAMPTZ(3),
    "probe_count" INTEGER NOT NULL DEFAULT 0,
    "consecutive_failures" INTEGER NOT NULL DEFAULT 0,
    "failing_since" TIMESTAMPTZ(3),
    "last_success_at" TIMESTAMPTZ(3),
    "last_failure_at" TIMESTAMPTZ(3),
    "last_error" JSONB,
    "paused_until" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "app_state_pkey" PRIMARY KEY ("app")
);

-- CreateTable
CREATE TABLE "dead_letter" (
    "id" BIGSERIAL NOT NULL,
    "app" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "label" TEXT,
    "code" TEXT NOT NULL,
    "request" JSONB NOT NULL,
    "response_status" INTEGER,
    "response_body" TEXT,
    "message" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "replayed_at" TIMESTAMPTZ(3),

    CONSTRAINT "dead_letter_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "leaver_sla" (
    "id" BIGSERIAL NOT NULL,
    "user_id" UUID NOT NULL,
    "user_name" TEXT,
    "change_id" BIGINT,
    "requested_at" TIMESTAMPTZ(3) NOT NULL,
    "completed_at" TIMESTAMPTZ(3),
    "apps_total" INTEGER NOT NULL,
    "pending_apps" TEXT[],

    CONSTRAINT "leaver_sla_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "fanout_process" (
    "id" TEXT NOT NULL,
    "pool_id" TEXT,
    "lock_key" BIGINT NOT NULL,
    "host" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeat_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "fanout_process_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "reconcile_run" (
    "id" BIGSERIAL NOT NULL,
    "app" TEXT NOT NULL,
    "fix" BOOLEAN NOT NULL,
    "trigger" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    "report" JSONB,
    "error" TEXT,

    CONSTRAINT "reconcile_run_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "app_account_user_id_idx" ON "app_account"("user_id");

-- CreateIndex
CREATE INDEX "app_account_app_status_idx" ON "app_account"("app", "status");

-- CreateIndex
CREATE UNIQUE INDEX "app_account_app_remote_id_key" ON "app_account"("app", "remote_id");

-- CreateIndex
CREATE UNIQUE INDEX "app_group_app_remote_id_key" ON "app_group"("app", "remote_id");

-- CreateIndex
CREATE INDEX "app_group_member_app_user_id_idx" ON "app_group_member"("app", "user_id");

-- CreateIndex
CREATE INDEX "dead_letter_app_replayed_at_idx" ON "dead_letter"("app", "replayed_at");

-- CreateIndex
CREATE INDEX "leaver_sla_user_id_idx" ON "leaver_sla"("user_id");

-- CreateIndex
CREATE INDEX "leaver_sla_completed_at_idx" ON "leaver_sla"("completed_at");

-- CreateIndex
CREATE UNIQUE INDEX "fanout_process_lock_key_key" ON "fanout_process"("lock_key");

-- CreateIndex
CREATE INDEX "reconcile_run_app_started_at_idx" ON "reconcile_run"("app", "started_at");


-- Open leaver SLAs are looked up per user on every deprovision confirmation.
CREATE INDEX "leaver_sla_open_idx" ON "leaver_sla"("user_id") WHERE "completed_at" IS NULL;

-- OAuth2 access tokens shared by broker processes, encrypted (AES-256-GCM, src/fanout/secret-box.ts).
CREATE TABLE "app_token_cache" (
    "app" TEXT NOT NULL,
    "sealed" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "app_token_cache_pkey" PRIMARY KEY ("app")
);
