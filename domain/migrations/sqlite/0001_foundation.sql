-- Durable jobs (the transactional outbox): written in the same transaction as the business
-- change they announce, delivered at least once by the worker in domain::outbox.
CREATE TABLE outbox_jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL,
    dedupe_key   TEXT    UNIQUE,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'running', 'done', 'dead')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX outbox_jobs_due ON outbox_jobs (state, run_at);

-- One row per delivery attempt: the delivery log operators read.
CREATE TABLE outbox_attempts (
    job_id      INTEGER NOT NULL REFERENCES outbox_jobs (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('ok', 'retry', 'dead')),
    error       TEXT,
    PRIMARY KEY (job_id, attempt)
);

-- Replay protection: signatures, nonces and message ids seen within their validity window.
CREATE TABLE seen_nonces (
    scope      TEXT    NOT NULL,
    nonce      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, nonce)
);
CREATE INDEX seen_nonces_expiry ON seen_nonces (expires_at);
