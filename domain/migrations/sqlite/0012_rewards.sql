-- Loyalty reward tasks (rewards::). A client's command is stored as a ticket, then paid by the
-- outbox job `reward.task` into the SkyPoint ledger.

-- 1. A ledger kind for rewards, REWARD (a credit, like ACCRUAL, but visible as a reward in the
-- history and in webhooks). SQLite cannot change a CHECK in place: ledger_entries is rebuilt
-- with the same columns, rows and index. ledger_lots (0010) references it, so its rows are set
-- aside and the table made again as it was, after (the foreign keys stay on throughout).
CREATE TABLE ledger_lots_saved AS SELECT bit_reference, member_id, earned_at, points, remaining FROM ledger_lots;
DROP TABLE ledger_lots;

CREATE TABLE ledger_entries_new (
    bit_reference  TEXT    PRIMARY KEY,
    member_id      TEXT    NOT NULL REFERENCES members (id),
    client_id      TEXT    NOT NULL,
    transaction_id TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('ACCRUAL', 'REDEMPTION', 'REVERSAL', 'ADJUSTMENT', 'EXPIRY', 'REWARD')),
    points         INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL,
    amount         INTEGER,
    currency       TEXT,
    request_hash   BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    UNIQUE (client_id, transaction_id)
);
INSERT INTO ledger_entries_new (bit_reference, member_id, client_id, transaction_id, kind, points, balance_after, amount, currency, request_hash, created_at)
    SELECT bit_reference, member_id, client_id, transaction_id, kind, points, balance_after, amount, currency, request_hash, created_at FROM ledger_entries;
DROP TABLE ledger_entries;
ALTER TABLE ledger_entries_new RENAME TO ledger_entries;
CREATE INDEX ledger_entries_member ON ledger_entries (member_id, created_at);

CREATE TABLE ledger_lots (
    bit_reference TEXT    PRIMARY KEY REFERENCES ledger_entries (bit_reference),
    member_id     TEXT    NOT NULL REFERENCES members (id),
    earned_at     INTEGER NOT NULL,
    points        INTEGER NOT NULL CHECK (points > 0),
    remaining     INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= points)
);
CREATE INDEX ledger_lots_open ON ledger_lots (member_id, earned_at, bit_reference) WHERE remaining > 0;
CREATE INDEX ledger_lots_due ON ledger_lots (earned_at) WHERE remaining > 0;
INSERT INTO ledger_lots (bit_reference, member_id, earned_at, points, remaining)
    SELECT bit_reference, member_id, earned_at, points, remaining FROM ledger_lots_saved;
DROP TABLE ledger_lots_saved;

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
    request_hash    BLOB    NOT NULL,
    member_ref      TEXT    NOT NULL,
    -- the client's calendar day (its time zone) when the command arrived, YYYY-MM-DD
    local_day       TEXT    NOT NULL,
    -- the message as received (JSON text)
    envelope        TEXT    NOT NULL,
    -- 1 once the Data signature was verified (at the gateway, or by the worker when the key
    -- could not be fetched at receipt)
    verified        INTEGER NOT NULL CHECK (verified IN (0, 1)),
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'processing', 'success', 'failed', 'dead')),
    reason          TEXT,
    message         TEXT,
    -- success: what was paid (JSON)
    result          TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER,
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
    created_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, grant_key)
);

-- Who referred a member (registerreferral): one referrer per member, rewarded once per pair;
-- transactionreferral pays the referrer found here.
CREATE TABLE reward_referrals (
    client_id    TEXT    NOT NULL,
    member_ref   TEXT    NOT NULL,
    referrer_ref TEXT    NOT NULL,
    ticket_id    TEXT    NOT NULL REFERENCES reward_tickets (ticket_id),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (client_id, member_ref)
);

-- Daily check-ins: one per member and local day, with the streak it made.
CREATE TABLE reward_checkins (
    client_id  TEXT    NOT NULL,
    member_ref TEXT    NOT NULL,
    day        TEXT    NOT NULL,
    streak     INTEGER NOT NULL CHECK (streak >= 1),
    points     INTEGER NOT NULL CHECK (points >= 0),
    ticket_id  TEXT    NOT NULL REFERENCES reward_tickets (ticket_id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, member_ref, day)
);

-- Lucky draws: the prize drawn for a ticket, stored before it is paid, so a retry or a replay
-- pays the same prize; and the draws per member and local day (the daily limit).
CREATE TABLE reward_draws (
    ticket_id  TEXT    PRIMARY KEY REFERENCES reward_tickets (ticket_id),
    client_id  TEXT    NOT NULL,
    member_ref TEXT    NOT NULL,
    day        TEXT    NOT NULL,
    prize      INTEGER NOT NULL CHECK (prize >= 0),
    points     INTEGER NOT NULL CHECK (points >= 0),
    created_at INTEGER NOT NULL
);
CREATE TABLE reward_draw_days (
    client_id  TEXT    NOT NULL,
    member_ref TEXT    NOT NULL,
    day        TEXT    NOT NULL,
    draws      INTEGER NOT NULL CHECK (draws >= 0),
    PRIMARY KEY (client_id, member_ref, day)
);
