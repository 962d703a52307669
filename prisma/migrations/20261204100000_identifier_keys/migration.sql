-- Identifier keys (docs/identifiers.md): scim_user.user_name_key and scim_group.display_name_key now hold
-- identifierKey(value) — NFKC plus a full Unicode case fold, computed in JavaScript — instead of lower(),
-- and scim_user.email_keys holds the key of each emails[].value (aligned with data->'emails'), so that
-- filters on identifiers compare the same keys in SQL and in memory. The broker's migrator
-- (src/store/migrate.ts) runs the data step src/store/identifier-rekey.ts in this migration's transaction
-- to compute the keys of existing rows (the broker applies its migrations at start; `prisma migrate
-- deploy` would skip the step).
ALTER TABLE "scim_user" ADD COLUMN "email_keys" TEXT[];
