-- Benefits in super apps (benefits::): Joygate is the ISV of the Alipay Connect benefit APIs
-- (counterparts.md §2). A platform (the super apps' server) is known by the Client-Id it gave us;
-- every message both ways is signed (§2.5) with RSA-2048 keys kept here per platform and owner.
CREATE TABLE benefit_platforms (
    client_id  TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    base_url   TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

-- Key versions (keyVersion in the Signature header), never reused and never changed once
-- written. owner ISV: ours (private PKCS#8 + public X.509, DER), the newest activated unretired
-- one signs. owner PLATFORM: the platform's public keys, any unretired version verifies.
CREATE TABLE benefit_keys (
    client_id     TEXT    NOT NULL REFERENCES benefit_platforms (client_id),
    owner         TEXT    NOT NULL CHECK (owner IN ('ISV', 'PLATFORM')),
    key_version   BIGINT  NOT NULL CHECK (key_version > 0),
    public_spki   BYTEA    NOT NULL,
    private_pkcs8 BYTEA,
    activated_at  BIGINT,
    retired_at    BIGINT,
    created_at    BIGINT  NOT NULL,
    PRIMARY KEY (client_id, owner, key_version),
    CHECK ((owner = 'ISV' AND private_pkcs8 IS NOT NULL) OR (owner = 'PLATFORM' AND private_pkcs8 IS NULL))
);

-- One type of benefit (benefitTemplateId), synced to one platform for some client codes (super
-- apps). budget_left moves with one conditional UPDATE in the issue and reverse transactions.
-- client_codes, content and budget_total are immutable once first_sync_at is set (the seed).
CREATE TABLE benefit_templates (
    template_id       TEXT    PRIMARY KEY,
    client_id         TEXT    NOT NULL REFERENCES benefit_platforms (client_id),
    partner_client_id TEXT    NOT NULL,
    product_code      TEXT    NOT NULL CHECK (product_code = 'SPICE_SECRET_VOUCHER'),
    title             TEXT    NOT NULL,
    content           TEXT    NOT NULL,
    client_codes      TEXT    NOT NULL,
    begin_at          BIGINT  NOT NULL,
    end_at            BIGINT  NOT NULL,
    budget_total      BIGINT  NOT NULL CHECK (budget_total > 0),
    budget_left       BIGINT  NOT NULL CHECK (budget_left >= 0 AND budget_left <= budget_total),
    currency          TEXT    NOT NULL,
    amount_value      BIGINT  NOT NULL CHECK (amount_value > 0),
    credential        TEXT    NOT NULL CHECK (credential IN ('CODE', 'CODE_PIN', 'URL')),
    url_base          TEXT,
    valid_days        BIGINT  CHECK (valid_days > 0),
    valid_until       BIGINT,
    sync_request_id   TEXT,
    first_sync_at     BIGINT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    CHECK (end_at > begin_at),
    CHECK ((valid_days IS NULL) <> (valid_until IS NULL)),
    CHECK ((credential = 'URL') = (url_base IS NOT NULL))
);

-- Each syncBenefit (benefitSyncRequestId): PENDING (queued) → PROCESSING (accepted, in review)
-- → SUCCESS | FAIL (syncFailCode, syncFailReason), once.
CREATE TABLE benefit_syncs (
    sync_request_id TEXT    PRIMARY KEY,
    template_id     TEXT    NOT NULL REFERENCES benefit_templates (template_id),
    status          TEXT    NOT NULL CHECK (status IN ('PENDING', 'PROCESSING', 'SUCCESS', 'FAIL')),
    fail_code       TEXT,
    fail_reason     TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX benefit_syncs_template ON benefit_syncs (template_id, created_at);

-- issueBenefit requests, kept forever (benefitIssueRequestId is unique without a time limit).
-- ISSUED → REVERSED; TOMBSTONE: a reversal that came before (or instead of) its issue, so a
-- late issue with that id is refused.
CREATE TABLE benefit_issues (
    client_id        TEXT    NOT NULL REFERENCES benefit_platforms (client_id),
    issue_request_id TEXT    NOT NULL,
    template_id      TEXT,
    user_id          TEXT,
    client_code      TEXT,
    quantity         BIGINT  CHECK (quantity > 0),
    state            TEXT    NOT NULL CHECK (state IN ('ISSUED', 'REVERSED', 'TOMBSTONE')),
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    PRIMARY KEY (client_id, issue_request_id)
);

-- Benefit instances: ACTIVATED → USED | REVERSED | EXPIRED, each once (instances::transition).
-- Codes are random (CSPRNG) and unique across all templates. use_sync_status follows the
-- syncUsedBenefit call (benefitUseRequestId = use_request_id).
CREATE TABLE benefit_instances (
    instance_id        TEXT    PRIMARY KEY,
    client_id          TEXT    NOT NULL,
    issue_request_id   TEXT    NOT NULL,
    seq                BIGINT  NOT NULL,
    template_id        TEXT    NOT NULL REFERENCES benefit_templates (template_id),
    user_id            TEXT    NOT NULL,
    client_code        TEXT    NOT NULL,
    code               TEXT    NOT NULL UNIQUE,
    pin                TEXT,
    url                TEXT,
    status             TEXT    NOT NULL CHECK (status IN ('ACTIVATED', 'USED', 'REVERSED', 'EXPIRED')),
    activate_at        BIGINT  NOT NULL,
    expire_at          BIGINT  NOT NULL,
    status_at          BIGINT  NOT NULL,
    used_by            TEXT,
    partner_request_id TEXT,
    use_request_id     TEXT    UNIQUE,
    use_sync_status    TEXT    CHECK (use_sync_status IN ('PENDING', 'SUCCESS', 'FAIL')),
    use_sync_code      TEXT,
    FOREIGN KEY (client_id, issue_request_id) REFERENCES benefit_issues (client_id, issue_request_id),
    UNIQUE (client_id, issue_request_id, seq)
);
CREATE INDEX benefit_instances_expiry ON benefit_instances (status, expire_at);
CREATE INDEX benefit_instances_template ON benefit_instances (template_id, activate_at);
