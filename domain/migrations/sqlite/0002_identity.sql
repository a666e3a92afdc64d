-- One-time sign-in codes sent by SMS (identity::otp). The code itself is never stored: only
-- SHA-256(id || code), where the random id doubles as the salt.
CREATE TABLE otp_challenges (
    id          TEXT    PRIMARY KEY,
    phone       TEXT    NOT NULL,
    client_ip   TEXT    NOT NULL,
    code_hash   BLOB    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER
);
CREATE INDEX otp_challenges_phone ON otp_challenges (phone, created_at);
CREATE INDEX otp_challenges_ip ON otp_challenges (client_ip, created_at);

-- Members: one per phone number, known to partners by their SkyJoy ID. `id` is the OpenID
-- Connect subject.
CREATE TABLE members (
    id            TEXT    PRIMARY KEY,
    skyjoy_id     TEXT    NOT NULL UNIQUE,
    phone         TEXT    NOT NULL UNIQUE,
    full_name     TEXT    NOT NULL,
    date_of_birth TEXT,
    email         TEXT,
    status        TEXT    NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'LOCKED', 'DELETED')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- A partner's Customer ID linked to a member: one link per member per partner, and one member
-- per Customer ID per partner (identity::members::link).
CREATE TABLE partner_links (
    client_id   TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    member_id   TEXT    NOT NULL REFERENCES members (id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (client_id, member_id),
    UNIQUE (client_id, customer_id)
);

-- Token signing keys (identity::signing_keys). The newest unretired key signs; retired keys
-- stay published in the JWKS until every token they signed has expired.
CREATE TABLE oidc_signing_keys (
    kid           TEXT    PRIMARY KEY,
    private_pkcs8 BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    retired_at    INTEGER,
    publish_until INTEGER
);

-- Partner applications allowed to sign members in (identity::clients).
CREATE TABLE oidc_clients (
    client_id     TEXT    PRIMARY KEY,
    secret_hash   BLOB,
    name          TEXT    NOT NULL,
    redirect_uris TEXT    NOT NULL,
    web_origins   TEXT    NOT NULL,
    logo_uri      TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
