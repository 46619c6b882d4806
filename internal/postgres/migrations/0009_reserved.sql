-- 0009: reserved for a migration of another branch (WebAuthn), which
-- replaces this placeholder when the branches are merged. It changes
-- nothing.
SELECT 1;
