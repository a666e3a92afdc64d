-- Loyalty reward tasks (rewards::). A client's command is stored as a ticket, then paid by the
-- outbox job `reward.task` into the SkyPoint ledger.

-- 1. A ledger kind for rewards, REWARD (a credit, like ACCRUAL, but visible as a reward in the
-- history and in webhooks): the kind's CHECK gains it.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('ACCRUAL', 'REDEMPTION', 'REVERSAL', 'ADJUSTMENT', 'EXPIRY', 'REWARD'));

-- 2. Tickets: one per command. A retried command finds its ticket by the business key
-- (client + action + trxId/refference, or member + local day for a check-in) or by the
-- Idempotency-Key header. state: queued → processing → success | failed (reason) | dead;
-- dead and failed tickets can be replayed (back to queued).
CREATE TABLE reward_tickets (
    ticket_id       TEXT    PRIMARY KEY,
    client_id       TEXT    NOT NULL,
    action          TEXT    NOT NULL CHECK (action IN ('transaction', 'luckydraw', 'register', 'registerreferral', 'transactionreferral', 'dailycheckin')),
    business_key    TEXT    NOT NULL,
    idempotency_key TEXT,
    -- SHA-256 of what the command says (its fields as parsed; not the signature): tells a retry from
    -- another command that reuses a key
    request_hash    BYTEA   NOT NULL,
    member_ref      TEXT    NOT NULL,
    -- the client's calendar day (its time zone) when the command arrived, YYYY-MM-DD
    local_day       TEXT    NOT NULL,
    -- the message as received (JSON text)
    envelope        TEXT    NOT NULL,
    -- true once the Data signature was verified (at the gateway, or by the worker when the key
    -- could not be fetched at receipt)
    verified        BOOLEAN NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'processing', 'success', 'failed', 'dead')),
    reason          TEXT,
    message         TEXT,
    -- success: what was paid (JSON)
    result          TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    UNIQUE (client_id, business_key),
    UNIQUE (client_id, idempotency_key),
    CHECK ((state = 'failed') = (reason IS NOT NULL)),
    CHECK (state <> 'success' OR result IS NOT NULL)
);
CREATE INDEX reward_tickets_state ON reward_tickets (state, action, created_at);
CREATE INDEX reward_tickets_created ON reward_tickets (created_at);
-- a member's tickets (one waits for the registration or referral of its member still in flight)
CREATE INDEX reward_tickets_member ON reward_tickets (client_id, member_ref, action);

-- Rewards given at most once per member (register): the key is taken in the transaction that pays.
CREATE TABLE reward_grants (
    client_id  TEXT    NOT NULL,
    grant_key  TEXT    NOT NULL,
    ticket_id  TEXT    NOT NULL REFERENCES reward_tickets (ticket_id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, grant_key)
);

-- Who referred a member (registerreferral): one referrer per member, rewarded once per pair;
-- transactionreferral pays the referrer found here.
CREATE TABLE reward_referrals (
    client_id    TEXT    NOT NULL,
    member_ref   TEXT    NOT NULL,
    referrer_ref TEXT    NOT NULL,
    ticket_id    TEXT    NOT NULL REFERENCES reward_tickets (ticket_id),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (client_id, member_ref)
);

-- Daily check-ins: one per member and local day, with the streak it made.
CREATE TABLE reward_checkins (
    client_id  TEXT    NOT NULL,
    member_ref TEXT    NOT NULL,
    day        TEXT    NOT NULL,
    streak     BIGINT NOT NULL CHECK (streak >= 1),
    points     BIGINT NOT NULL CHECK (points >= 0),
    ticket_id  TEXT    NOT NULL REFERENCES reward_tickets (ticket_id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, member_ref, day)
);

-- Lucky draws: the prize drawn for a ticket, stored before it is paid, so a retry or a replay
-- pays the same prize; and the draws per member and local day (the daily limit).
CREATE TABLE reward_draws (
    ticket_id  TEXT    PRIMARY KEY REFERENCES reward_tickets (ticket_id),
    client_id  TEXT    NOT NULL,
    member_ref TEXT    NOT NULL,
    day        TEXT    NOT NULL,
    prize      BIGINT NOT NULL CHECK (prize >= 0),
    points     BIGINT NOT NULL CHECK (points >= 0),
    created_at BIGINT NOT NULL
);
CREATE TABLE reward_draw_days (
    client_id  TEXT    NOT NULL,
    member_ref TEXT    NOT NULL,
    day        TEXT    NOT NULL,
    draws      BIGINT NOT NULL CHECK (draws >= 0),
    PRIMARY KEY (client_id, member_ref, day)
);
