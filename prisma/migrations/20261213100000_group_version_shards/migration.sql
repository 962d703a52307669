-- A group's version and lastModified move when its members change (RFC 7644 §3.14: members are part of the
-- representation). Bumping them on the group's own row locked that row until the writer committed, and
-- every joiner, mover and leaver of a broad rule group (all-staff) bumps the same group: concurrent HR
-- writes committed one after another behind that lock (docs/performance.md). Membership bumps now go to
-- group_version_shard, one row per (group, writing connection's shard = backend pid mod 64), so
-- concurrent writers update different rows; a group's version is its row's version plus the sum of its
-- shards' bumps, and its lastModified the later of the row's and the shards' (src/store/group-repository.ts).
-- Both only grow, so an ETag never repeats. The foreign key's KEY SHARE lock does not conflict with the
-- group row's own updates (FOR NO KEY UPDATE), only with its deletion, which cascades.
CREATE TABLE "group_version_shard" (
    "group_id" UUID NOT NULL,
    "shard" INTEGER NOT NULL,
    "bumps" BIGINT NOT NULL DEFAULT 0,
    "touched_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "group_version_shard_pkey" PRIMARY KEY ("group_id", "shard")
);
ALTER TABLE "group_version_shard" ADD CONSTRAINT "group_version_shard_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "scim_group"("id") ON DELETE CASCADE ON UPDATE CASCADE;
