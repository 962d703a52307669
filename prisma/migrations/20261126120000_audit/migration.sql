-- Audit log (src/audit): an append-only record of every entitlement change, with its cause. Writers only
-- INSERT, inside their own write transactions and without any shared lock; a sealer (sealAudit in
-- src/audit/audit-store.ts) later chains the committed rows in seq order: chain_index, prev_hash, hash.
--
-- Not expressible in prisma/schema.prisma (so `prisma migrate diff` cannot see them; the model says so):
-- the audit_next_seq() default and its sequence, the CHECK constraint, the partial and expression
-- indexes, and the triggers.

-- CACHE 1 is load-bearing: the sealer reads the sequence's last_value as "every seq handed out so far".
-- With a cache a backend could hold pre-allocated values below that mark and use them later.
CREATE SEQUENCE "audit_event_seq_seq" AS BIGINT CACHE 1;

-- Assigns the transaction's xid *before* taking a seq, so a transaction holding seq s always has an xid
-- older than any xid assigned after s was handed out. The sealer's fence relies on exactly that; a
-- plain `bigserial` default gives no such order (nextval may run before the xid is assigned).
CREATE FUNCTION audit_next_seq() RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_current_xact_id();
  RETURN nextval('audit_event_seq_seq');
END $$;

CREATE TABLE "audit_event" (
    "seq" BIGINT NOT NULL DEFAULT audit_next_seq(),
    "txid" xid8 NOT NULL DEFAULT pg_current_xact_id(),
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "kind" TEXT NOT NULL,
    "user_id" TEXT,
    "group_name" TEXT,
    "app" TEXT,
    "cause" JSONB NOT NULL DEFAULT '{}',
    "details" JSONB,
    "chain_index" BIGINT,
    "prev_hash" TEXT,
    "hash" TEXT,

    CONSTRAINT "audit_event_pkey" PRIMARY KEY ("seq"),
    CONSTRAINT "audit_event_sealed_together" CHECK (("chain_index" IS NULL) = ("hash" IS NULL) AND ("hash" IS NULL) = ("prev_hash" IS NULL))
);
ALTER SEQUENCE "audit_event_seq_seq" OWNED BY "audit_event"."seq";

CREATE UNIQUE INDEX "audit_event_chain_index_key" ON "audit_event"("chain_index");
CREATE INDEX "audit_event_user_id_seq_idx" ON "audit_event"("user_id", "seq");
CREATE INDEX "audit_event_kind_seq_idx" ON "audit_event"("kind", "seq");
CREATE INDEX "audit_event_occurred_at_idx" ON "audit_event"("occurred_at");
-- Group names are matched case-insensitively, as SCIM compares displayName (RFC 7643 §4.2, caseExact false).
CREATE INDEX "audit_event_lower_group_name_seq_idx" ON "audit_event"(lower("group_name"), "seq");
-- The sealer's work list, and verify's "unsealed row below the sealed tip" check, stay small and cheap.
CREATE INDEX "audit_event_unsealed_idx" ON "audit_event"("seq") WHERE "chain_index" IS NULL;

-- Casual-tampering guard. INSERT may not arrive pre-sealed; UPDATE is allowed only to the sealer (which
-- sets scim_broker.audit_sealer for its transaction) and only to seal an unsealed row without touching its
-- content; DELETE and TRUNCATE are always rejected. The owner or a superuser can still disable or drop these
-- triggers (or set session_replication_role = replica): that is what the hash chain and `audit verify` detect.
CREATE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.chain_index IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL THEN
      RAISE EXCEPTION 'AUDIT_APPEND_ONLY: audit_event rows are inserted unsealed; only the sealer chains them';
    END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND current_setting('scim_broker.audit_sealer', true) = 'on'
     AND OLD.chain_index IS NULL
     AND (NEW.seq, NEW.txid, NEW.occurred_at, NEW.kind, NEW.user_id, NEW.group_name, NEW.app, NEW.cause, NEW.details)
         IS NOT DISTINCT FROM
         (OLD.seq, OLD.txid, OLD.occurred_at, OLD.kind, OLD.user_id, OLD.group_name, OLD.app, OLD.cause, OLD.details) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'AUDIT_APPEND_ONLY: % on audit_event is not allowed', TG_OP;
END $$;

CREATE TRIGGER "audit_event_append_only" BEFORE INSERT OR UPDATE OR DELETE ON "audit_event"
  FOR EACH ROW EXECUTE FUNCTION audit_event_guard();
CREATE TRIGGER "audit_event_no_truncate" BEFORE TRUNCATE ON "audit_event"
  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_guard();
