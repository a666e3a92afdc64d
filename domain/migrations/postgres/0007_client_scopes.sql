-- Which partner-API scopes a client may be granted with client_credentials (space-separated;
-- `partner` is all of them).
ALTER TABLE oidc_clients ADD COLUMN partner_scopes TEXT NOT NULL DEFAULT 'partner';
