-- Identifier keys (docs/identifiers.md): scim_user.user_name_key and scim_group.display_name_key now hold
-- identifierKey(value) — NFKC plus a full Unicode case fold, computed in JavaScript — instead of lower().
-- The columns and their unique indexes stay as they are; the broker's migrator (src/store/migrate.ts) runs
-- the data step src/store/identifier-rekey.ts in this migration's transaction to recompute the keys of
-- existing rows (the broker applies its migrations at start; `prisma migrate deploy` would skip the step).
SELECT 1;
