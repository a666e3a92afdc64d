-- Sign-in flows (identity::flows): one per /authorize or /embed visit. The random id is in the
-- page's URL and the form's CSRF token in the page, so an embedded sign-in with third-party
-- cookies blocked needs no cookie at all.
CREATE TABLE signin_flows (
    id             TEXT    PRIMARY KEY,
    csrf           TEXT    NOT NULL,
    client_id      TEXT    NOT NULL REFERENCES oidc_clients (client_id),
    redirect_uri   TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    state          TEXT,
    nonce          TEXT,
    code_challenge TEXT,
    response_mode  TEXT    NOT NULL CHECK (response_mode IN ('query', 'web_message')),
    action         TEXT    NOT NULL CHECK (action IN ('signin', 'signup')),
    lang           TEXT    NOT NULL,
    step           TEXT    NOT NULL DEFAULT 'phone' CHECK (step IN ('phone', 'code', 'profile', 'done', 'failed')),
    phone          TEXT,
    challenge_id   TEXT,
    member_id      TEXT    REFERENCES members (id),
    error          TEXT,
    code           TEXT,
    link_hint      TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX signin_flows_expiry ON signin_flows (expires_at);

-- A grant: a member's sign-in at a client (or a client's own client_credentials request
-- has none). Codes and refresh tokens belong to one grant; revoking the grant (a replayed
-- code, a reused refresh token, logout) kills all of them and the access tokens naming it.
CREATE TABLE oidc_grants (
    id         TEXT    PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES oidc_clients (client_id),
    member_id  TEXT    NOT NULL REFERENCES members (id),
    scope      TEXT    NOT NULL,
    nonce      TEXT,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX oidc_grants_member ON oidc_grants (member_id);

-- Authorization codes and refresh tokens: only SHA-256 of the token is stored.
CREATE TABLE oidc_codes (
    code_hash      BLOB    PRIMARY KEY,
    grant_id       TEXT    NOT NULL REFERENCES oidc_grants (id),
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);

CREATE TABLE oidc_refresh_tokens (
    token_hash BLOB    PRIMARY KEY,
    grant_id   TEXT    NOT NULL REFERENCES oidc_grants (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX oidc_refresh_tokens_grant ON oidc_refresh_tokens (grant_id);

-- A partner's customer handed to a sign-in (identity::link_requests): the partner registers
-- it server-to-server and passes the token as `link_token`; the hint is JSON (LinkHint).
CREATE TABLE link_requests (
    token_hash BLOB    PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES oidc_clients (client_id),
    hint       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX link_requests_expiry ON link_requests (expires_at);
