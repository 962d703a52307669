-- CSV import (src/import) upserts by employeeNumber within an HR source, and resolves the manager column
-- by employeeNumber within the source: one index serves both look-ups (a batch of rows per statement).
CREATE INDEX "scim_user_source_employee_number_idx" ON "scim_user"("source", "employee_number");
