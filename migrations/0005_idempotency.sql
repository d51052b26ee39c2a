-- Idempotency keys of `POST …/consents/request` (crates/iys-worker/src/relay.rs, `batch`): per
-- provider and key, the SHA-256 of the batch as validated and the answer given. A request claims
-- its key first (`answer` NULL: in progress); the answer is written in the same D1 batch as the
-- queued rows, and each row is inserted only while that claim holds, so rows never stand without
-- their key's answer nor an answer without its rows. Rows older than the TTL (24 h) are deleted
-- on the next keyed request; see crates/iys-worker/README.md, "Idempotency keys".
CREATE TABLE idempotency (
  provider_id TEXT NOT NULL,
  key TEXT NOT NULL,
  body_sha256 TEXT NOT NULL,
  -- The claiming request's random id (a stale claim is taken over under a new one).
  claim TEXT NOT NULL,
  -- The answer's JSON body ({"requestId", "subRequests"}); NULL while the claim is in progress.
  answer TEXT,
  -- Unix milliseconds of the claim.
  created_at INTEGER NOT NULL,
  PRIMARY KEY (provider_id, key)
);
CREATE INDEX idempotency_created ON idempotency(created_at);
