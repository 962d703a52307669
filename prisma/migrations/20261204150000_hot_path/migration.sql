-- The HR hot path (issue 10): the token cache's invalidation signal, and the indexes the SCIM reads plan on.

-- Every change of an api_token row (created, revoked, re-enabled, deleted, rate changed) — by the admin API,
-- the CLI or plain SQL — notifies its id after commit; each broker process drops that token from its cache
-- (src/auth/token-store.ts).
CREATE FUNCTION "api_token_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('api_token_changed', (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END)::text);
  RETURN NULL;
END $$;
CREATE TRIGGER "api_token_notify" AFTER INSERT OR UPDATE OR DELETE ON "api_token"
  FOR EACH ROW EXECUTE FUNCTION "api_token_notify"();
