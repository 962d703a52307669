-- The mass-deprovision guard's lock and counts in one round trip (issue 10; src/lifecycle/mass-deprovision.ts).
-- The per-source advisory lock is taken first; each count below is a statement of its own inside this
-- VOLATILE function, so in READ COMMITTED it reads with a snapshot taken after the lock was granted — a
-- leaver of the same source that committed while this one waited is counted. 1396852548 is LOCKS.guardNs
-- (src/lifecycle/policy-holder.ts). Two branches so that each count keeps its partial index on source.
CREATE FUNCTION "broker_guard_counts"(p_source TEXT, p_since TIMESTAMPTZ, p_user UUID)
  RETURNS TABLE ("leavers" BIGINT, "active_others" BIGINT, "left_others" BIGINT) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(1396852548, hashtext(coalesce(p_source, '')));
  IF p_source IS NULL THEN
    RETURN QUERY SELECT
      (SELECT count(*) FROM "lifecycle_event" WHERE "kind" = 'leaver' AND "source" IS NULL AND "created_at" > p_since),
      (SELECT count(*) FROM "scim_user" WHERE "source" IS NULL AND "active" AND "id" <> p_user),
      (SELECT count(DISTINCT e."user_id") FROM "lifecycle_event" e WHERE e."kind" = 'leaver' AND e."source" IS NULL AND e."created_at" > p_since
          AND e."user_id" <> p_user AND NOT EXISTS (SELECT 1 FROM "scim_user" u WHERE u."id" = e."user_id" AND u."active"));
  ELSE
    RETURN QUERY SELECT
      (SELECT count(*) FROM "lifecycle_event" WHERE "kind" = 'leaver' AND "source" = p_source AND "created_at" > p_since),
      (SELECT count(*) FROM "scim_user" WHERE "source" = p_source AND "active" AND "id" <> p_user),
      (SELECT count(DISTINCT e."user_id") FROM "lifecycle_event" e WHERE e."kind" = 'leaver' AND e."source" = p_source AND e."created_at" > p_since
          AND e."user_id" <> p_user AND NOT EXISTS (SELECT 1 FROM "scim_user" u WHERE u."id" = e."user_id" AND u."active"));
  END IF;
END
$$;
