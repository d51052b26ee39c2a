-- Credential rotation (POST /admin/providers/{id}/rotate): when a provider's credentials were last
-- replaced, in Unix milliseconds (NULL: never). Access tokens issued before it are refused; see
-- crates/iys-worker/README.md, "Credentials".
ALTER TABLE providers ADD COLUMN rotated_at INTEGER;
