-- OpenID Shared Signals Framework 1.0 transmitter and receiver (src/ssf, docs/ssf.md).
-- CreateTable
CREATE TABLE "ssf_key" (
    "kid" TEXT NOT NULL,
    "alg" TEXT NOT NULL,
    "public_jwk" JSONB NOT NULL,
    "private_sealed" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "retired_at" TIMESTAMPTZ(3),

    CONSTRAINT "ssf_key_pkey" PRIMARY KEY ("kid")
);

-- CreateTable
CREATE TABLE "ssf_stream" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "owner_token_id" UUID,
    "name" TEXT,
    "iss" TEXT NOT NULL,
    "audience" TEXT[],
    "method" TEXT NOT NULL,
    "endpoint_url" TEXT,
    "auth_sealed" TEXT,
    "events_requested" TEXT[],
    "description" TEXT,
    "status" TEXT NOT NULL DEFAULT 'enabled',
    "status_reason" TEXT,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "retry_at" TIMESTAMPTZ(3),
    "quarantined_at" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "ssf_stream_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ssf_stream_subject" (
    "stream_id" UUID NOT NULL,
    "subject_key" TEXT NOT NULL,
    "subject" JSONB NOT NULL,
    "included" BOOLEAN NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "ssf_stream_subject_pkey" PRIMARY KEY ("stream_id","subject_key")
);

-- CreateTable
CREATE TABLE "ssf_set" (
    "id" BIGSERIAL NOT NULL,
    "stream_id" UUID NOT NULL,
    "jti" TEXT NOT NULL,
    "user_id" UUID,
    "event_type" TEXT NOT NULL,
    "claims" JSONB NOT NULL,
    "jws" TEXT,
    "priority" INTEGER NOT NULL DEFAULT 0,
    "state" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "delivered_at" TIMESTAMPTZ(3),
    "txid" xid8 NOT NULL DEFAULT pg_current_xact_id(),

    CONSTRAINT "ssf_set_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ssf_received_set" (
    "id" BIGSERIAL NOT NULL,
    "jti" TEXT NOT NULL,
    "iss" TEXT NOT NULL,
    "event_type" TEXT NOT NULL,
    "subject" JSONB NOT NULL,
    "user_id" UUID,
    "action" TEXT NOT NULL,
    "claims" JSONB NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "ssf_received_set_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ssf_stream_name_key" ON "ssf_stream"("name");

-- CreateIndex
CREATE INDEX "ssf_stream_owner_token_id_idx" ON "ssf_stream"("owner_token_id");

-- CreateIndex
CREATE UNIQUE INDEX "ssf_set_jti_key" ON "ssf_set"("jti");

-- CreateIndex
CREATE INDEX "ssf_set_stream_id_state_priority_id_idx" ON "ssf_set"("stream_id", "state", "priority", "id");

-- CreateIndex
CREATE INDEX "ssf_set_user_id_idx" ON "ssf_set"("user_id");

-- CreateIndex
CREATE UNIQUE INDEX "ssf_received_set_iss_jti_key" ON "ssf_received_set"("iss", "jti");

-- AddForeignKey
ALTER TABLE "ssf_stream_subject" ADD CONSTRAINT "ssf_stream_subject_stream_id_fkey" FOREIGN KEY ("stream_id") REFERENCES "ssf_stream"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ssf_set" ADD CONSTRAINT "ssf_set_stream_id_fkey" FOREIGN KEY ("stream_id") REFERENCES "ssf_stream"("id") ON DELETE CASCADE ON UPDATE CASCADE;

