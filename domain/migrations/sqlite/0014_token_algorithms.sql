-- Token signing algorithms (identity::signing_keys): one active key per algorithm, and each
-- client's choice for its ID and access tokens (`id_token_signed_response_alg`).
ALTER TABLE oidc_signing_keys ADD COLUMN alg TEXT NOT NULL DEFAULT 'RS256' CHECK (alg IN ('RS256', 'ES256', 'EdDSA'));
ALTER TABLE oidc_clients ADD COLUMN token_alg TEXT NOT NULL DEFAULT 'RS256' CHECK (token_alg IN ('RS256', 'ES256', 'EdDSA'));
