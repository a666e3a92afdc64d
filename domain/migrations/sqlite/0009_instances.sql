-- Member sessions (the tower-sessions store, server::http::sessions): in the database, so any
-- instance serves any request. `data` is the session's JSON.
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    data       TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Scheduled jobs run by one instance at a time (store::lease): whoever holds an unexpired
-- lease on the job's name runs it; a dead instance's lease runs out and another takes it.
CREATE TABLE job_leases (
    name        TEXT    PRIMARY KEY,
    owner       TEXT    NOT NULL,
    lease_until INTEGER NOT NULL
);
