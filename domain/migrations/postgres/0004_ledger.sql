-- The SkyPoint ledger (ledger::): every change of a balance is an immutable entry; the account
-- row is the derived balance, changed in the same transaction as the entry it sums.
CREATE TABLE ledger_accounts (
    member_id  TEXT    PRIMARY KEY REFERENCES members (id),
    balance    BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    locked     BIGINT NOT NULL DEFAULT 0 CHECK (locked >= 0 AND locked <= balance),
    updated_at BIGINT NOT NULL
);

-- One entry per partner transaction (client_id, transaction_id): a retried request finds it
-- and gets the original answer; `request_hash` tells a retry from a different request.
CREATE TABLE ledger_entries (
    bit_reference  TEXT    PRIMARY KEY,
    member_id      TEXT    NOT NULL REFERENCES members (id),
    client_id      TEXT    NOT NULL,
    transaction_id TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('ACCRUAL', 'REDEMPTION', 'REVERSAL', 'ADJUSTMENT', 'EXPIRY')),
    points         BIGINT NOT NULL,
    balance_after  BIGINT NOT NULL,
    amount         BIGINT,
    currency       TEXT,
    request_hash   BYTEA    NOT NULL,
    created_at     BIGINT NOT NULL,
    UNIQUE (client_id, transaction_id)
);
CREATE INDEX ledger_entries_member ON ledger_entries (member_id, created_at);
