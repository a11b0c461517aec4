-- Seeds a migrated database for bench/scale.sh: :users users (user 1 an admin), one workspace
-- `big` owned by user 1 with :members members, :pending pending invitations and :past past
-- ones (accepted, revoked or expired), and :sessions sessions of user 1. Plain SQL: 1M users
-- in well under a minute on Postgres.
--
--   psql -v users=1000000 -v members=10000 -v pending=10 -v past=100000 -v sessions=1000 -f …
BEGIN;
INSERT INTO users (id, email, name, email_verified, avatar_tone, role, banned, created_at, updated_at)
SELECT 'user_' || lpad(to_hex(n), 32, '0'), 'user' || n || '@scale.test', 'User ' || n, true, 0,
       CASE WHEN n = 1 THEN 'admin' ELSE 'user' END, false,
       now() - ((:users - n) || ' seconds')::interval, now()
FROM generate_series(1, :users) AS n;
INSERT INTO workspaces (id, slug, name, owner_id, created_at, updated_at)
VALUES ('ws_' || lpad('b16', 32, '0'), 'big', 'Big', 'user_' || lpad(to_hex(1), 32, '0'), now(), now());
INSERT INTO workspace_roles (id, workspace_id, name, name_key, description, system_key, sort_order, permissions, created_at, updated_at)
VALUES
  ('wsrole_' || lpad('1', 32, '0'), 'ws_' || lpad('b16', 32, '0'), 'Owner', 'owner', null, 'OWNER', 0,
   '["workspace.delete","workspace.settings.edit","workspace.roles.manage","workspace.members.invite","workspace.members.remove","workspace.members.change_role"]', now(), now()),
  ('wsrole_' || lpad('2', 32, '0'), 'ws_' || lpad('b16', 32, '0'), 'Admin', 'admin', null, 'ADMIN', 1, '[]', now(), now()),
  ('wsrole_' || lpad('3', 32, '0'), 'ws_' || lpad('b16', 32, '0'), 'Member', 'member', null, 'MEMBER', 2, '[]', now(), now());
-- Members are users spread over the whole table (user 1, the owner, first).
INSERT INTO workspace_members (id, workspace_id, user_id, role_id, created_at, updated_at)
SELECT 'mbr_' || lpad(to_hex(n), 32, '0'), 'ws_' || lpad('b16', 32, '0'),
       'user_' || lpad(to_hex((n - 1) * (:users / :members) + 1), 32, '0'),
       'wsrole_' || lpad(CASE WHEN n = 1 THEN '1' ELSE '3' END, 32, '0'), now() + (n || ' ms')::interval, now()
FROM generate_series(1, :members) AS n;
UPDATE workspace_members m SET search_text = lower(u.name) || E'\n' || lower(u.email)
FROM users u WHERE u.id = m.user_id;
-- The first :pending are pending; of the rest a third each accepted, revoked and expired.
INSERT INTO workspace_invites (id, workspace_id, email, role_id, invited_by_id, token_hash, expires_at, accepted_at, revoked_at, created_at)
SELECT 'inv_' || lpad(to_hex(n), 32, '0'), 'ws_' || lpad('b16', 32, '0'), 'invited' || n || '@scale.test', null,
       'mbr_' || lpad(to_hex(1), 32, '0'), md5('t' || n) || md5('u' || n),
       now() + CASE WHEN n <= :pending THEN interval '7 days' ELSE interval '-1 day' END,
       CASE WHEN n > :pending AND n % 3 = 0 THEN now() ELSE null END,
       CASE WHEN n > :pending AND n % 3 = 1 THEN now() ELSE null END,
       now() - (n || ' seconds')::interval
FROM generate_series(1, :pending + :past) AS n;
INSERT INTO sessions (id, token_hash, user_id, expires_at, created_at, updated_at)
SELECT 'sess_' || lpad(to_hex(n), 32, '0'), md5('s' || n) || md5('r' || n), 'user_' || lpad(to_hex(1), 32, '0'),
       now() + interval '7 days', now() - (n || ' seconds')::interval, now()
FROM generate_series(1, :sessions) AS n;
COMMIT;
-- As autovacuum leaves the tables once it has passed: statistics, the visibility map, and the
-- trigram indexes' pending lists (rows inserted after an index exists wait there, scanned by
-- every search, until a vacuum or gin_pending_list_limit moves them in).
VACUUM ANALYZE;
