-- Tiki VIP webview payments (tikivip::). Payment partners (super apps) are registered with the
-- credentials Tiki gives them: partner_code, client_id (UUID) and client_secret (signatures both
-- ways), and where their side of the contract lives (api_base_url) and how their payment screen
-- opens (URL or app deep link).
CREATE TABLE tikivip_partners (
    partner_code  TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    client_id     TEXT    NOT NULL UNIQUE,
    client_secret TEXT    NOT NULL,
    api_base_url  TEXT    NOT NULL,
    open_mode     TEXT    NOT NULL DEFAULT 'url' CHECK (open_mode IN ('url', 'deeplink')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- A partner's customer, as the partner identifies it (identify_code), and the VIP membership.
CREATE TABLE tikivip_customers (
    id            TEXT    PRIMARY KEY,
    partner_code  TEXT    NOT NULL REFERENCES tikivip_partners (partner_code),
    identify_code TEXT    NOT NULL,
    phone         TEXT    NOT NULL,
    full_name     TEXT,
    vip_plan      TEXT,
    vip_until     BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (partner_code, identify_code)
);

-- Single-use, short-lived links into the webview (url_open): only the hash is stored.
CREATE TABLE tikivip_open_links (
    token_hash  BYTEA    PRIMARY KEY,
    customer_id TEXT    NOT NULL REFERENCES tikivip_customers (id),
    request_id  TEXT    NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- One payment of a plan. At most one PENDING transaction per customer and plan (double taps,
-- back button and reload reuse it). status: PENDING → SUCCESS | FAILURE | CANCELLED, once.
CREATE TABLE tikivip_transactions (
    tiki_transaction_id    TEXT    PRIMARY KEY,
    partner_code           TEXT    NOT NULL REFERENCES tikivip_partners (partner_code),
    customer_id            TEXT    NOT NULL REFERENCES tikivip_customers (id),
    plan_code              TEXT    NOT NULL,
    amount                 BIGINT NOT NULL CHECK (amount > 0),
    status                 TEXT    NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAILURE', 'CANCELLED')),
    partner_transaction_id TEXT,
    payment_url            TEXT,
    partner_banking_method TEXT,
    refunded_amount        BIGINT NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
    vip_granted            BOOLEAN NOT NULL DEFAULT FALSE,
    checked_at             BIGINT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE UNIQUE INDEX tikivip_one_open_payment ON tikivip_transactions (customer_id, plan_code) WHERE status = 'PENDING';
CREATE INDEX tikivip_transactions_pending ON tikivip_transactions (status, checked_at);
CREATE INDEX tikivip_transactions_day ON tikivip_transactions (partner_code, created_at);

-- Refunds: requested by an operator (page or CLI), sent by the outbox, idempotent on request_id.
CREATE TABLE tikivip_refunds (
    request_id          TEXT    PRIMARY KEY,
    tiki_transaction_id TEXT    NOT NULL REFERENCES tikivip_transactions (tiki_transaction_id),
    amount              BIGINT NOT NULL CHECK (amount > 0),
    reason              TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED')),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
