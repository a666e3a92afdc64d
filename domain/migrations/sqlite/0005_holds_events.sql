-- Locked points (ledger::holds): a hold takes points out of the available balance
-- (ledger_accounts.locked) without removing them, until it is released, captured (a REDEMPTION
-- entry) or expires. One hold per partner transaction (client_id, transaction_id).
CREATE TABLE ledger_holds (
    reference          TEXT    PRIMARY KEY,
    client_id          TEXT    NOT NULL,
    transaction_id     TEXT    NOT NULL,
    member_id          TEXT    NOT NULL REFERENCES members (id),
    points             INTEGER NOT NULL CHECK (points > 0),
    state              TEXT    NOT NULL CHECK (state IN ('HELD', 'RELEASED', 'CAPTURED', 'EXPIRED')),
    request_hash       BLOB    NOT NULL,
    expires_at         INTEGER NOT NULL,
    -- the REDEMPTION entry a capture wrote
    captured_reference TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (client_id, transaction_id)
);
CREATE INDEX ledger_holds_due ON ledger_holds (state, expires_at);
CREATE INDEX ledger_holds_member ON ledger_holds (member_id, state);

-- Partner webhook endpoints (events::webhooks): one secret per endpoint ("SecretKey"), the
-- event types it wants ('*' for all, else space-separated).
CREATE TABLE webhook_endpoints (
    id          TEXT    PRIMARY KEY,
    client_id   TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    event_types TEXT    NOT NULL DEFAULT '*',
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    UNIQUE (client_id, url)
);

-- Every event once, with the exact body every endpoint receives (retries send the same bytes).
-- Deliveries are outbox jobs `webhook.deliver` keyed `webhook:{event_id}:{endpoint_id}`; their
-- attempts (outbox_attempts) are the delivery log.
CREATE TABLE webhook_events (
    event_id   TEXT    PRIMARY KEY,
    event_type TEXT    NOT NULL,
    member_id  TEXT,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_events_member ON webhook_events (member_id, created_at);

-- Member notifications ("push"), written with the change they tell about; sent by the outbox
-- job `push.member` through the configured sender.
CREATE TABLE member_notifications (
    id         TEXT    PRIMARY KEY,
    member_id  TEXT    NOT NULL REFERENCES members (id),
    kind       TEXT    NOT NULL,
    title      TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at    INTEGER
);
CREATE INDEX member_notifications_member ON member_notifications (member_id, created_at);
