-- When each relay refresh token was issued, in Unix milliseconds: the start of the grant that made
-- it, before the credential was read. A refresh token issued before the provider's `rotated_at` is
-- refused, so a grant racing a rotation cannot leave a token that outlives it. NULL: issued before
-- this column; refused only for a provider that has been rotated, whose client then logs in with its
-- password again. See crates/iys-worker/README.md, "Credentials".
ALTER TABLE tokens ADD COLUMN issued_ms INTEGER;
