-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "scim_user" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "seq" BIGSERIAL NOT NULL,
    "user_name" TEXT NOT NULL,
    "user_name_key" TEXT NOT NULL,
    "external_id" TEXT,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "display_name" TEXT,
    "user_type" TEXT,
    "title" TEXT,
    "department" TEXT,
    "cost_center" TEXT,
    "division" TEXT,
    "organization" TEXT,
    "employee_number" TEXT,
    "manager_id" TEXT,
    "employment_status" TEXT,
    "start_date" TIMESTAMPTZ(3),
    "end_date" TIMESTAMPTZ(3),
    "location" TEXT,
    "sponsor_id" TEXT,
    "source" TEXT,
    "data" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "scim_user_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "scim_group" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "seq" BIGSERIAL NOT NULL,
    "display_name" TEXT NOT NULL,
    "display_name_key" TEXT NOT NULL,
    "external_id" TEXT,
    "data" JSONB NOT NULL,
    "managed" BOOLEAN NOT NULL DEFAULT false,
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "scim_group_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "group_member" (
    "group_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "source" TEXT NOT NULL DEFAULT 'manual',
    "cause" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "group_member_pkey" PRIMARY KEY ("group_id","user_id","source")
);

-- CreateTable
CREATE TABLE "change_record" (
    "id" BIGSERIAL NOT NULL,
    "resource_type" TEXT NOT NULL,
    "resource_id" UUID NOT NULL,
    "operation" TEXT NOT NULL,
    "changed" TEXT[],
    "before" JSONB,
    "after" JSONB,
    "token_id" UUID,
    "source" TEXT,
    "request_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "change_record_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_token" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "scopes" TEXT[],
    "source" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_token_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "scim_user_seq_key" ON "scim_user"("seq");

-- CreateIndex
CREATE UNIQUE INDEX "scim_user_user_name_key_key" ON "scim_user"("user_name_key");

-- CreateIndex
CREATE INDEX "scim_user_external_id_idx" ON "scim_user"("external_id");

-- CreateIndex
CREATE INDEX "scim_user_department_idx" ON "scim_user"("department");

-- CreateIndex
CREATE INDEX "scim_user_employment_status_idx" ON "scim_user"("employment_status");

-- CreateIndex
CREATE INDEX "scim_user_manager_id_idx" ON "scim_user"("manager_id");

-- CreateIndex
CREATE INDEX "scim_user_sponsor_id_idx" ON "scim_user"("sponsor_id");

-- CreateIndex
CREATE INDEX "scim_user_source_idx" ON "scim_user"("source");

-- CreateIndex
CREATE INDEX "scim_user_updated_at_idx" ON "scim_user"("updated_at");

-- CreateIndex
CREATE UNIQUE INDEX "scim_group_seq_key" ON "scim_group"("seq");

-- CreateIndex
CREATE UNIQUE INDEX "scim_group_display_name_key_key" ON "scim_group"("display_name_key");

-- CreateIndex
CREATE INDEX "scim_group_external_id_idx" ON "scim_group"("external_id");

-- CreateIndex
CREATE INDEX "group_member_user_id_idx" ON "group_member"("user_id");

-- CreateIndex
CREATE INDEX "change_record_resource_type_resource_id_idx" ON "change_record"("resource_type", "resource_id");

-- CreateIndex
CREATE INDEX "change_record_created_at_idx" ON "change_record"("created_at");

-- CreateIndex
CREATE UNIQUE INDEX "api_token_name_key" ON "api_token"("name");

-- CreateIndex
CREATE UNIQUE INDEX "api_token_token_hash_key" ON "api_token"("token_hash");

-- AddForeignKey
ALTER TABLE "group_member" ADD CONSTRAINT "group_member_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "scim_group"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "group_member" ADD CONSTRAINT "group_member_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "scim_user"("id") ON DELETE CASCADE ON UPDATE CASCADE;

