//! The tokens the provider issues, all RS256 JWTs with a `kid` from the [`KeyRing`]:
//! - ID tokens, built and signed with the `openidconnect` crate's types;
//! - access tokens (`typ: at+jwt`, RFC 9068) for userinfo and the partner APIs;
//! - and any other signed claims a later feature needs ([`sign_jwt`] / [`verify_jwt`]).
//!
//! Claims by scope (SkyJoy's scopes): always `sub` and `skyjoy_id`; `profile` → `name`;
//! `phone` → `phone_number` (+84 E.164) and `phone_number_verified`; `email` → `email`;
//! `dob` → `birthdate` (OpenID's `YYYY-MM-DD`).

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use openidconnect::{
    core::{CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreTokenType},
    AccessToken, AdditionalClaims, Audience, AuthorizationCode, EmptyExtraTokenFields, EndUserBirthday, EndUserEmail,
    EndUserName, EndUserPhoneNumber, IdTokenFields, IssuerUrl, Nonce, StandardClaims, StandardTokenResponse,
    SubjectIdentifier,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::{members::Member, signing_keys::KeyRing};

/// SkyJoy's claim beside the standard ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkyJoyClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skyjoy_id: Option<String>,
}
impl AdditionalClaims for SkyJoyClaims {}

pub type IdToken = openidconnect::IdToken<SkyJoyClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
pub type IdTokenClaims = openidconnect::IdTokenClaims<SkyJoyClaims, CoreGenderClaim>;
pub type UserInfoClaims = openidconnect::UserInfoClaims<SkyJoyClaims, CoreGenderClaim>;
pub type TokenFields =
    IdTokenFields<SkyJoyClaims, EmptyExtraTokenFields, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
/// The token endpoint's answer: `access_token`, `token_type`, `expires_in`, `refresh_token`,
/// `scope`, `id_token`.
pub type TokenResponse = StandardTokenResponse<TokenFields, CoreTokenType>;

/// The scopes the provider knows; others in a request are ignored.
pub const SCOPES: [&str; 5] = ["openid", "profile", "phone", "email", "dob"];
/// The scopes a partner's server may ask for with client_credentials (the SkyJoy partner APIs):
/// `partner` is all of them; the others each open one group of APIs. Which of them a partner may
/// have is set per client (`ClientSpec::scopes`). `benefit:use` is a partner shop's cashier
/// spending its benefits (README, "Benefits").
pub const PARTNER_SCOPES: [&str; 7] = [PARTNER_SCOPE, "user:read", "user:write", "point:read", "point:earn", "point:redeem", "benefit:use"];
pub const PARTNER_SCOPE: &str = "partner";
pub const CLAIMS: [&str; 12] = [
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "skyjoy_id", "name", "phone_number", "email", "birthdate",
];

/// Lifetimes of what the provider signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    pub access_ttl_s: i64,
    pub id_ttl_s: i64,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self { access_ttl_s: 600, id_ttl_s: 600 }
    }
}

fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

/// The standard claims `scope` releases about `member`.
pub fn standard_claims(member: &Member, scope: &str) -> StandardClaims<CoreGenderClaim> {
    let mut claims = StandardClaims::new(SubjectIdentifier::new(member.id.clone()));
    if has_scope(scope, "profile") {
        claims = claims.set_name(Some(EndUserName::new(member.full_name.to_string()).into()));
    }
    if has_scope(scope, "phone") {
        claims = claims.set_phone_number(Some(EndUserPhoneNumber::new(member.phone.to_string()))).set_phone_number_verified(Some(true));
    }
    if has_scope(scope, "email") {
        if let Some(email) = &member.email {
            claims = claims.set_email(Some(EndUserEmail::new(email.to_string()))).set_email_verified(Some(false));
        }
    }
    if has_scope(scope, "dob") {
        if let Some(dob) = &member.date_of_birth {
            claims = claims.set_birthdate(Some(EndUserBirthday::new(dob.iso())));
        }
    }
    claims
}

fn skyjoy_claims(member: &Member) -> SkyJoyClaims {
    SkyJoyClaims { skyjoy_id: Some(member.skyjoy_id.to_string()) }
}

pub fn userinfo(member: &Member, scope: &str) -> UserInfoClaims {
    UserInfoClaims::new(standard_claims(member, scope), skyjoy_claims(member))
}

/// What an ID token is about.
pub struct IdTokenInput<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub member: &'a Member,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time_ms: i64,
    pub access_token: Option<&'a str>,
    pub code: Option<&'a str>,
}

fn utc(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Signs an ID token (with `at_hash`/`c_hash` when the access token/code is given).
/// RSA signing costs about 0.3 ms: call from a blocking thread on hot paths.
pub fn id_token(ring: &KeyRing, policy: &TokenPolicy, input: &IdTokenInput<'_>, now_ms: i64) -> Result<IdToken, TokenError> {
    let issuer = IssuerUrl::new(input.issuer.to_string()).map_err(|_| TokenError::Malformed)?;
    let claims = IdTokenClaims::new(
        issuer,
        vec![Audience::new(input.client_id.to_string())],
        utc(now_ms + policy.id_ttl_s * 1000),
        utc(now_ms),
        standard_claims(input.member, input.scope),
        skyjoy_claims(input.member),
    )
    .set_nonce(input.nonce.map(|n| Nonce::new(n.to_string())))
    .set_auth_time(Some(utc(input.auth_time_ms)));
    let access = input.access_token.map(|t| AccessToken::new(t.to_string()));
    let code = input.code.map(|c| AuthorizationCode::new(c.to_string()));
    IdToken::new(claims, ring.active.as_ref(), CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, access.as_ref(), code.as_ref())
        .map_err(|_| TokenError::Malformed)
}

/// An access token's claims (RFC 9068 profile). `gid` names the grant for member tokens, so a
/// revoked grant stops its access tokens too; client_credentials tokens have `sub == client_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skyjoy_id: Option<String>,
}

impl AccessClaims {
    pub fn new(issuer: &str, policy: &TokenPolicy, client_id: &str, subject: &str, scope: &str, now_ms: i64) -> Self {
        AccessClaims {
            iss: issuer.to_string(),
            sub: subject.to_string(),
            aud: issuer.to_string(),
            client_id: client_id.to_string(),
            exp: now_ms / 1000 + policy.access_ttl_s,
            iat: now_ms / 1000,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            scope: scope.to_string(),
            gid: None,
            skyjoy_id: None,
        }
    }

    pub fn has_scope(&self, wanted: &str) -> bool {
        has_scope(&self.scope, wanted)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token is signed by an unknown key or with another algorithm")]
    UnknownKey,
    #[error("token signature does not match")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token was issued by someone else")]
    WrongIssuer,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// Signs `claims` as an RS256 JWT with the active key.
pub fn sign_jwt<T: Serialize>(ring: &KeyRing, typ: &str, claims: &T) -> String {
    let header = Header { alg: "RS256".into(), typ: Some(typ.into()), kid: Some(ring.active.kid.clone()) };
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header serialises"));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let signing_input = format!("{header}.{payload}");
    let signature = ring.active.sign_sha256(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Verifies an RS256 JWT against the published keys and returns its claims (expiry and issuer
/// are checked by [`verify_access_token`]; other callers check what they need).
pub fn verify_jwt<T: DeserializeOwned>(ring: &KeyRing, token: &str) -> Result<T, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if header.alg != "RS256" {
        return Err(TokenError::UnknownKey);
    }
    let key = header.kid.as_deref().and_then(|kid| ring.published_key(kid)).ok_or(TokenError::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Malformed)?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    key.verify_sha256(signing_input.as_bytes(), &signature).map_err(|_| TokenError::BadSignature)?;
    let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)
}

/// Verifies one of our access tokens: signature, issuer and expiry.
pub fn verify_access_token(ring: &KeyRing, issuer: &str, token: &str, now_ms: i64) -> Result<AccessClaims, TokenError> {
    let claims: AccessClaims = verify_jwt(ring, token)?;
    if claims.iss != issuer || claims.aud != issuer {
        return Err(TokenError::WrongIssuer);
    }
    if claims.exp * 1000 <= now_ms {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use openidconnect::{core::CoreJsonWebKeySet, ClientId, IdTokenVerifier};

    use super::*;
    use crate::{
        identity::{members, DateOfBirth, Email, FullName, PhoneNumber},
        store::testing::temp_db,
    };

    const T0: i64 = 1_763_800_000_000;
    const ISS: &str = "http://127.0.0.1:3000";

    async fn fixture() -> (crate::store::testing::TestDb, KeyRing, Member) {
        let (dir, db) = temp_db().await;
        let ring = KeyRing::load_or_create(&db, T0).await.unwrap();
        let new = members::NewMember {
            phone: PhoneNumber::parse("0912345678").unwrap(),
            full_name: FullName::parse("Nguyễn Văn A").unwrap(),
            date_of_birth: Some(DateOfBirth::parse("01-02-1990").unwrap()),
            email: Some(Email::parse("a@example.vn").unwrap()),
        };
        let member = members::create(&db, new, None, T0).await.unwrap();
        (dir, ring, member)
    }

    #[tokio::test]
    async fn id_tokens_carry_the_claims_their_scopes_release() {
        let (_d, ring, member) = fixture().await;
        let now = chrono::Utc::now().timestamp_millis();
        let input = IdTokenInput {
            issuer: ISS,
            client_id: "shop",
            member: &member,
            scope: "openid phone dob",
            nonce: Some("n-1"),
            auth_time_ms: now,
            access_token: Some("at"),
            code: None,
        };
        let token = id_token(&ring, &TokenPolicy::default(), &input, now).unwrap();
        let jwks: CoreJsonWebKeySet = ring.jwks.clone();
        let verifier = IdTokenVerifier::new_confidential_client(
            ClientId::new("shop".into()),
            openidconnect::ClientSecret::new("unused".into()),
            IssuerUrl::new(ISS.into()).unwrap(),
            jwks,
        );
        let claims = token.claims(&verifier, &Nonce::new("n-1".into())).unwrap();
        assert_eq!(claims.subject().as_str(), member.id);
        assert_eq!(claims.additional_claims().skyjoy_id.as_deref(), Some(member.skyjoy_id.as_str()));
        assert_eq!(claims.phone_number().map(|p| p.as_str()), Some("+84912345678"));
        assert_eq!(claims.birthdate().map(|b| b.as_str()), Some("1990-02-01"));
        assert!(claims.name().is_none() && claims.email().is_none(), "profile and email were not asked for");
        assert!(claims.access_token_hash().is_some());
    }

    #[tokio::test]
    async fn access_tokens_verify_and_tampering_is_caught() {
        let (_d, ring, member) = fixture().await;
        let policy = TokenPolicy::default();
        let claims = AccessClaims::new(ISS, &policy, "shop", &member.id, "openid phone", T0);
        let token = sign_jwt(&ring, "at+jwt", &claims);
        assert_eq!(verify_access_token(&ring, ISS, &token, T0 + 1).unwrap(), claims);
        assert_eq!(verify_access_token(&ring, ISS, &token, T0 + 600_000), Err(TokenError::Expired));
        assert_eq!(verify_access_token(&ring, "https://other", &token, T0), Err(TokenError::WrongIssuer));
        let mut forged = claims.clone();
        forged.scope = "openid phone email".into();
        let parts: Vec<&str> = token.split('.').collect();
        let swapped = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap()), parts[2]);
        assert_eq!(verify_access_token(&ring, ISS, &swapped, T0), Err(TokenError::BadSignature));
        let none_alg = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), parts[1]);
        assert_eq!(verify_access_token(&ring, ISS, &none_alg, T0), Err(TokenError::UnknownKey));
        assert_eq!(verify_access_token(&ring, ISS, "not.a.jwt.at-all", T0), Err(TokenError::Malformed));
    }
}
