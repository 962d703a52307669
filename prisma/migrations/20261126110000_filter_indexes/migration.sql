-- Indexes for the SQL that SCIM filters compile to (src/scim/filter-sql.ts). caseExact:false attributes
-- compare as lower(column) = lower($1) (RFC 7643 §2.2), so the useful indexes are on lower(column); prefix
-- searches (sw) on userName use a text_pattern_ops index. Expression indexes cannot be declared in
-- schema.prisma; they live only here (prisma/schema.prisma says so beside the model).
DROP INDEX IF EXISTS "scim_user_department_idx";
DROP INDEX IF EXISTS "scim_user_employment_status_idx";
CREATE INDEX "scim_user_lower_department_idx" ON "scim_user" (lower("department"));
CREATE INDEX "scim_user_lower_cost_center_idx" ON "scim_user" (lower("cost_center"));
CREATE INDEX "scim_user_lower_employment_status_idx" ON "scim_user" (lower("employment_status"));
CREATE INDEX "scim_user_lower_manager_id_idx" ON "scim_user" (lower("manager_id"));
CREATE INDEX "scim_user_user_name_key_pattern_idx" ON "scim_user" ("user_name_key" text_pattern_ops);
CREATE INDEX "scim_user_end_date_idx" ON "scim_user" ("end_date") WHERE "end_date" IS NOT NULL;
CREATE INDEX "scim_user_start_date_idx" ON "scim_user" ("start_date") WHERE "start_date" IS NOT NULL;
