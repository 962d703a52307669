-- Exact resource counts without COUNT(*): totalResults of an unfiltered list (RFC 7644 §3.4.2) is read
-- from a sharded counter kept by row triggers in the writing transaction, so it is as exact as the rows a
-- snapshot sees (MVCC), costs O(shards) instead of a 100,000-row scan, and writers on different
-- connections update different shard rows (shard = backend pid mod 64), so they do not contend.
CREATE TABLE "resource_count" (
    "resource_type" TEXT NOT NULL,
    "shard" INTEGER NOT NULL,
    "n" BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT "resource_count_pkey" PRIMARY KEY ("resource_type", "shard")
);

CREATE FUNCTION "resource_count_bump"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_delta INTEGER := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
  v_shard INTEGER := pg_backend_pid() % 64;
BEGIN
  INSERT INTO resource_count (resource_type, shard, n) VALUES (TG_ARGV[0], v_shard, v_delta)
  ON CONFLICT (resource_type, shard) DO UPDATE SET n = resource_count.n + v_delta;
  RETURN NULL;
END $$;

CREATE TRIGGER "scim_user_count" AFTER INSERT OR DELETE ON "scim_user" FOR EACH ROW EXECUTE FUNCTION resource_count_bump('User');
CREATE TRIGGER "scim_group_count" AFTER INSERT OR DELETE ON "scim_group" FOR EACH ROW EXECUTE FUNCTION resource_count_bump('Group');

INSERT INTO resource_count (resource_type, shard, n) SELECT 'User', 0, count(*) FROM scim_user;
INSERT INTO resource_count (resource_type, shard, n) SELECT 'Group', 0, count(*) FROM scim_group;
