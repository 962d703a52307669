-- Whether any SSF stream is live, known without a read (issue 10): every HR write used to read the live
-- streams in its transaction, even on a broker that has none. Each change of a stream's row that can change
-- that answer (created, deleted, its status changed) — by the stream API or plain SQL — notifies after
-- commit; each broker process then reads the streams again at its next HR write (src/ssf/stream-presence.ts).
CREATE FUNCTION "ssf_stream_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('ssf_stream_changed', '');
  RETURN NULL;
END $$;
CREATE TRIGGER "ssf_stream_notify" AFTER INSERT OR DELETE OR UPDATE OF "status" ON "ssf_stream"
  FOR EACH STATEMENT EXECUTE FUNCTION "ssf_stream_notify"();
