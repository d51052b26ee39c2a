-- iys-worker D1 schema: provider registry, relay tokens, ledger, outbound work, pull cursors and changes.

-- Providers (service providers or their agents) the integrator lets through the relay.
CREATE TABLE providers (
  id            TEXT PRIMARY KEY,          -- "prv_<hex>"
  name          TEXT NOT NULL,
  username      TEXT NOT NULL UNIQUE,      -- what the provider sends as "username" to /oauth2/token
  password_hash TEXT NOT NULL,             -- "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>"
  scopes        TEXT NOT NULL,             -- JSON: [{"iysCode":123,"brands":[456],"types":["MESAJ"]}]
  mode          TEXT NOT NULL DEFAULT 'strict',   -- 'strict' | 'normalize'
  rate          REAL NOT NULL DEFAULT 10,  -- requests per second
  burst         INTEGER NOT NULL DEFAULT 20,
  created_at    TEXT NOT NULL,
  revoked_at    TEXT
);

-- Relay tokens, stored as SHA-256 of the token.
CREATE TABLE tokens (
  token_hash  TEXT PRIMARY KEY,
  provider_id TEXT NOT NULL REFERENCES providers(id),
  kind        TEXT NOT NULL,               -- 'access' | 'refresh'
  expires_at  INTEGER NOT NULL             -- unix seconds
);
CREATE INDEX tokens_provider ON tokens(provider_id);

-- The tamper-evident ledger: hash = SHA-256(prev_hash || canonical row). See crates/iys-worker/README.md.
CREATE TABLE ledger (
  seq            INTEGER PRIMARY KEY,      -- 1, 2, 3, … (no AUTOINCREMENT: the writer picks head+1)
  at             TEXT NOT NULL,
  provider       TEXT NOT NULL,
  request_id     TEXT NOT NULL,
  kind           TEXT NOT NULL,
  payload_sha256 TEXT NOT NULL,
  outcome        TEXT NOT NULL,
  iys_ids        TEXT NOT NULL,
  prev_hash      TEXT NOT NULL,
  hash           TEXT NOT NULL
);
CREATE INDEX ledger_provider ON ledger(provider, kind);

-- Outbound consents that go through the queue (batches, and single adds that timed out).
CREATE TABLE outbound (
  id              TEXT PRIMARY KEY,        -- relay subrequestId
  request_id      TEXT NOT NULL,           -- relay requestId (what the provider polls)
  idx             INTEGER NOT NULL,        -- position in the provider's request
  provider_id     TEXT NOT NULL,
  iys_code        TEXT NOT NULL,
  brand_code      TEXT NOT NULL,
  consent         TEXT NOT NULL,           -- wire JSON, exactly what is sent to IYS
  state           TEXT NOT NULL,           -- queued | sending | sent | success | failure
  needs_check     INTEGER NOT NULL DEFAULT 0,  -- 1: a send may have reached IYS; check status before resending
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_at         INTEGER NOT NULL DEFAULT 0,  -- unix ms, not before
  claim           TEXT,
  iys_request_id  TEXT,
  iys_subrequest_id TEXT,
  transaction_id  TEXT,
  creation_date   TEXT,
  error_code      TEXT,
  error_message   TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
CREATE INDEX outbound_request ON outbound(request_id, idx);
CREATE INDEX outbound_work ON outbound(iys_code, brand_code, state, next_at);
CREATE INDEX outbound_claim ON outbound(claim);

-- Pull cursors per (iysCode, brandCode, source).
CREATE TABLE pull_cursors (
  iys_code   TEXT NOT NULL,
  brand_code TEXT NOT NULL,
  source     TEXT NOT NULL,
  after      TEXT,
  pulled_at  TEXT,
  PRIMARY KEY (iys_code, brand_code, source)
);

-- Changes pulled from IYS; providers read them with their own cursor (the row id).
CREATE TABLE changes (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  iys_code       TEXT NOT NULL,
  brand_code     TEXT NOT NULL,
  source         TEXT NOT NULL,
  transaction_id TEXT,
  body           TEXT NOT NULL,
  pulled_at      TEXT NOT NULL,
  UNIQUE (iys_code, brand_code, source, transaction_id)
);
