-- The SkyPoint ledger (ledger::): every change of a balance is an immutable entry; the account
-- row is the derived balance, changed in the same transaction as the entry it sums.
CREATE TABLE ledger_accounts (
    member_id  TEXT    PRIMARY KEY REFERENCES members (id),
    balance    INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    locked     INTEGER NOT NULL DEFAULT 0 CHECK (locked >= 0 AND locked <= balance),
    updated_at INTEGER NOT NULL
);

-- One entry per partner transaction (client_id, transaction_id): a retried request finds it
-- and gets the original answer; `request_hash` tells a retry from a different request.
CREATE TABLE ledger_entries (
    bit_reference  TEXT    PRIMARY KEY,
    member_id      TEXT    NOT NULL REFERENCES members (id),
    client_id      TEXT    NOT NULL,
    transaction_id TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('ACCRUAL', 'REDEMPTION', 'REVERSAL', 'ADJUSTMENT', 'EXPIRY')),
    points         INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL,
    amount         INTEGER,
    currency       TEXT,
    request_hash   BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    UNIQUE (client_id, transaction_id)
);
CREATE INDEX ledger_entries_member ON ledger_entries (member_id, created_at);
