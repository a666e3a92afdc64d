//! Members and the link between a partner's Customer ID and a member's SkyJoy ID.
//! Where is a link decided? In [`link`]: both uniqueness rules are database constraints, so
//! concurrent requests cannot create two links.

use serde::Serialize;

use super::{CustomerId, DateOfBirth, Email, FullName, PhoneNumber, SkyJoyId};
use crate::store::{Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Stable subject identifier (OpenID Connect `sub`).
    pub id: String,
    pub skyjoy_id: SkyJoyId,
    pub phone: PhoneNumber,
    pub full_name: FullName,
    pub date_of_birth: Option<DateOfBirth>,
    pub email: Option<Email>,
    pub status: String,
    pub created_at_ms: i64,
}

impl Member {
    /// The day the member joined, `DD-MM-YYYY` in Vietnam (SkyJoy's `dateOfJoin`).
    pub fn date_of_join(&self) -> String {
        crate::clock::vietnam_day(self.created_at_ms)
    }
}

/// What sign-up (or a partner's onboarding) knows about a new member.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub phone: PhoneNumber,
    pub full_name: FullName,
    pub date_of_birth: Option<DateOfBirth>,
    pub email: Option<Email>,
}

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("a member with this phone number already exists")]
    PhoneTaken,
    /// ACCOUNT_ALREADY_LINKED: the member is linked to another Customer ID of this partner.
    #[error("This account is already linked in the system.")]
    AccountAlreadyLinked,
    /// CUSTOMER_ALREADY_LINKED: this Customer ID is linked to another member.
    #[error("This Customer ID is already linked to another SkyJoy account.")]
    CustomerAlreadyLinked,
    #[error("member not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for MemberError {
    fn from(e: sqlx::Error) -> Self {
        MemberError::Store(e.into())
    }
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    id: String,
    skyjoy_id: String,
    phone: String,
    full_name: String,
    date_of_birth: Option<String>,
    email: Option<String>,
    status: String,
    created_at: i64,
}
const MEMBER_COLUMNS: &str = "id, skyjoy_id, phone, full_name, date_of_birth, email, status, created_at";

fn from_row(r: MemberRow) -> Result<Member, MemberError> {
    // Rows were written from parsed values; a row that no longer parses is corruption, not input.
    let corrupt = |what: &str| MemberError::Store(StoreError::corrupt("members", format!("member {}: stored {what} is invalid", r.id)));
    Ok(Member {
        skyjoy_id: SkyJoyId::parse(&r.skyjoy_id).map_err(|_| corrupt("skyjoy_id"))?,
        phone: PhoneNumber::parse(&r.phone).map_err(|_| corrupt("phone"))?,
        full_name: FullName::parse(&r.full_name).map_err(|_| corrupt("full_name"))?,
        date_of_birth: r.date_of_birth.as_deref().map(DateOfBirth::parse_iso).transpose().map_err(|_| corrupt("date_of_birth"))?,
        email: r.email.as_deref().map(Email::parse).transpose().map_err(|_| corrupt("email"))?,
        status: r.status,
        created_at_ms: r.created_at,
        id: r.id,
    })
}

async fn find_by(db: &Db, column: &str, value: &str) -> Result<Option<Member>, MemberError> {
    let row: Option<MemberRow> = sqlx::query_as(&format!("SELECT {MEMBER_COLUMNS} FROM members WHERE {column} = $1 AND status <> 'DELETED'"))
        .bind(value)
        .fetch_optional(db.pool())
        .await?;
    row.map(from_row).transpose()
}

pub async fn find_by_phone(db: &Db, phone: &PhoneNumber) -> Result<Option<Member>, MemberError> {
    find_by(db, "phone", phone.as_str()).await
}

pub async fn find_by_skyjoy_id(db: &Db, id: &SkyJoyId) -> Result<Option<Member>, MemberError> {
    find_by(db, "skyjoy_id", id.as_str()).await
}

pub async fn find_by_id(db: &Db, id: &str) -> Result<Option<Member>, MemberError> {
    find_by(db, "id", id).await
}

/// Creates a member with a fresh SkyJoy ID (drawn again on the rare collision). The
/// `user.created` webhook goes out in the same transaction, to `via` (the partner whose sign-up
/// or onboarding created the member).
pub async fn create(db: &Db, new: NewMember, via: Option<&str>, now_ms: i64) -> Result<Member, MemberError> {
    let id = uuid::Uuid::new_v4().to_string();
    for _ in 0..8 {
        let skyjoy_id = SkyJoyId::random(&mut rand::thread_rng());
        let mut tx = db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO members (id, skyjoy_id, phone, full_name, date_of_birth, email, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(skyjoy_id.as_str())
        .bind(new.phone.as_str())
        .bind(new.full_name.as_str())
        .bind(new.date_of_birth.map(|d| d.iso()))
        .bind(new.email.as_ref().map(Email::as_str))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            let member = Member {
                id: id.clone(),
                skyjoy_id,
                phone: new.phone,
                full_name: new.full_name,
                date_of_birth: new.date_of_birth,
                email: new.email,
                status: "ACTIVE".into(),
                created_at_ms: now_ms,
            };
            let event = crate::events::Event {
                event_type: crate::events::EventType::UserCreated,
                member_id: id.clone(),
                actor_client_id: via.map(str::to_string),
                data: event_data(&member, via),
            };
            crate::events::publish(&mut tx, &event, now_ms).await?;
            tx.commit().await?;
            return Ok(member);
        }
        tx.rollback().await?;
        if find_by_phone(db, &new.phone).await?.is_some() {
            return Err(MemberError::PhoneTaken);
        }
    }
    Err(MemberError::Store(StoreError::Internal("could not draw an unused SkyJoy ID".into())))
}

/// The member for `new.phone`, created if there is none yet. `true` when it was created.
pub async fn find_or_create(db: &Db, new: NewMember, via: Option<&str>, now_ms: i64) -> Result<(Member, bool), MemberError> {
    if let Some(m) = find_by_phone(db, &new.phone).await? {
        return Ok((m, false));
    }
    match create(db, new.clone(), via, now_ms).await {
        Ok(m) => Ok((m, true)),
        // someone else created it between our look-up and insert
        Err(MemberError::PhoneTaken) => Ok((find_by_phone(db, &new.phone).await?.ok_or(MemberError::NotFound)?, false)),
        Err(e) => Err(e),
    }
}

/// How [`link`] ended when it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linked {
    Created,
    AlreadyLinked,
}

/// Links a partner's Customer ID to a member:
/// not linked with this partner → link; linked to the same Customer ID → nothing to do;
/// linked to another Customer ID → [`MemberError::AccountAlreadyLinked`]; the Customer ID
/// linked to another member → [`MemberError::CustomerAlreadyLinked`].
pub async fn link(db: &Db, client_id: &str, customer_id: &CustomerId, member_id: &str, now_ms: i64) -> Result<Linked, MemberError> {
    let inserted = sqlx::query(
        "INSERT INTO partner_links (client_id, customer_id, member_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(client_id)
    .bind(customer_id.as_str())
    .bind(member_id)
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Linked::Created);
    }
    let existing: Option<String> = sqlx::query_scalar("SELECT customer_id FROM partner_links WHERE client_id = $1 AND member_id = $2")
        .bind(client_id)
        .bind(member_id)
        .fetch_optional(db.pool())
        .await?;
    match existing {
        Some(c) if c == customer_id.as_str() => Ok(Linked::AlreadyLinked),
        Some(_) => Err(MemberError::AccountAlreadyLinked),
        None => Err(MemberError::CustomerAlreadyLinked),
    }
}

/// What [`onboard`] did.
#[derive(Debug, Clone)]
pub struct Onboarded {
    pub member: Member,
    /// A new member was created for the phone number.
    pub created: bool,
}

/// A partner onboards its customer: no member with that phone → create one; then, with a
/// Customer ID, [`link`] it (same rules; a refused link creates nobody).
pub async fn onboard(db: &Db, client_id: &str, new: NewMember, customer_id: Option<&CustomerId>, now_ms: i64) -> Result<Onboarded, MemberError> {
    if let Some(customer_id) = customer_id {
        let existing = find_by_phone(db, &new.phone).await?;
        if let Some(owner) = member_of_customer(db, client_id, customer_id).await? {
            if existing.as_ref().is_none_or(|m| m.id != owner) {
                return Err(MemberError::CustomerAlreadyLinked);
            }
        }
        if let Some(m) = &existing {
            if customer_id_of(db, client_id, &m.id).await?.is_some_and(|c| &c != customer_id) {
                return Err(MemberError::AccountAlreadyLinked);
            }
        }
    }
    let (member, created) = find_or_create(db, new, Some(client_id), now_ms).await?;
    if let Some(customer_id) = customer_id {
        link(db, client_id, customer_id, &member.id, now_ms).await?;
    }
    Ok(Onboarded { member, created })
}

/// The member (id) a partner's Customer ID is linked to, if any.
pub async fn member_of_customer(db: &Db, client_id: &str, customer_id: &CustomerId) -> Result<Option<String>, MemberError> {
    Ok(sqlx::query_scalar("SELECT member_id FROM partner_links WHERE client_id = $1 AND customer_id = $2")
        .bind(client_id)
        .bind(customer_id.as_str())
        .fetch_optional(db.pool())
        .await?)
}

/// The Customer ID a partner linked to this member, if any.
pub async fn customer_id_of(db: &Db, client_id: &str, member_id: &str) -> Result<Option<CustomerId>, MemberError> {
    let c: Option<String> = sqlx::query_scalar("SELECT customer_id FROM partner_links WHERE client_id = $1 AND member_id = $2")
        .bind(client_id)
        .bind(member_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(c.and_then(|c| CustomerId::parse(&c).ok()))
}

/// `data` of the user.* events: SkyJoy's member fields (as in its `user.created` sample).
pub fn event_data(m: &Member, partner: Option<&str>) -> serde_json::Value {
    let (first, last) = m.full_name.first_and_last();
    serde_json::json!({
        "id": m.id,
        "member_id": m.skyjoy_id.as_str(),
        "partner": partner,
        "username": m.phone.as_str(),
        "phone_number": m.phone.as_str(),
        "country_code": "+84",
        "first_name": first,
        "last_name": last,
        "email": m.email.as_ref().map(|e| e.as_str()),
        "date_of_birth": m.date_of_birth, // DD-MM-YYYY
        "status": m.status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_db;

    fn new_member(phone: &str) -> NewMember {
        NewMember {
            phone: PhoneNumber::parse(phone).unwrap(),
            full_name: FullName::parse("Nguyễn Văn A").unwrap(),
            date_of_birth: Some(DateOfBirth::parse("01-01-1990").unwrap()),
            email: Some(Email::parse("a@example.vn").unwrap()),
        }
    }

    fn cid(s: &str) -> CustomerId {
        CustomerId::parse(s).unwrap()
    }

    #[tokio::test]
    async fn sign_up_gives_a_skyjoy_id_and_one_member_per_phone() {
        let (_d, db) = temp_db().await;
        let m = create(&db, new_member("0912345678"), None, 1).await.unwrap();
        assert!(m.skyjoy_id.as_str().starts_with("SJ"));
        assert_eq!(m.date_of_birth.unwrap().to_string(), "01-01-1990");
        assert_eq!(find_by_skyjoy_id(&db, &m.skyjoy_id).await.unwrap(), Some(m.clone()));
        assert!(matches!(create(&db, new_member("+84912345678"), None, 2).await, Err(MemberError::PhoneTaken)));
        let (same, created) = find_or_create(&db, new_member("84912345678"), None, 3).await.unwrap();
        assert_eq!((same.id, created), (m.id, false));
    }

    #[tokio::test]
    async fn the_four_linking_cases() {
        let (_d, db) = temp_db().await;
        let (a, created) = find_or_create(&db, new_member("0912345678"), None, 1).await.unwrap();
        assert!(created, "no member with that phone: created");
        assert_eq!(link(&db, "shop", &cid("CUS-1"), &a.id, 2).await.unwrap(), Linked::Created);
        assert_eq!(link(&db, "shop", &cid("CUS-1"), &a.id, 3).await.unwrap(), Linked::AlreadyLinked, "idempotent");
        let err = link(&db, "shop", &cid("CUS-2"), &a.id, 4).await.unwrap_err();
        assert!(matches!(err, MemberError::AccountAlreadyLinked));
        assert_eq!(err.to_string(), "This account is already linked in the system.");
        assert_eq!(link(&db, "airline", &cid("CUS-2"), &a.id, 5).await.unwrap(), Linked::Created, "another partner links freely");

        let (b, _) = find_or_create(&db, new_member("0987654321"), None, 6).await.unwrap();
        assert!(matches!(link(&db, "shop", &cid("CUS-1"), &b.id, 7).await, Err(MemberError::CustomerAlreadyLinked)));
        assert_eq!(customer_id_of(&db, "shop", &a.id).await.unwrap(), Some(cid("CUS-1")));
        assert_eq!(customer_id_of(&db, "shop", &b.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn concurrent_links_of_one_member_leave_exactly_one() {
        let (_d, db) = temp_db().await;
        let (a, _) = find_or_create(&db, new_member("0912345678"), None, 1).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (db, id) = (db.clone(), a.id.clone());
                tokio::spawn(async move { link(&db, "shop", &cid(&format!("CUS-{i}")), &id, 2).await })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(Linked::Created) => created += 1,
                Err(MemberError::AccountAlreadyLinked) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(created, 1);
    }

    #[tokio::test]
    async fn onboarding_creates_or_finds_and_links_without_half_applying() {
        let (_d, db) = temp_db().await;
        let first = onboard(&db, "shop", new_member("0912345678"), Some(&cid("CUS-1")), 1).await.unwrap();
        assert!(first.created);
        let again = onboard(&db, "shop", new_member("0912345678"), Some(&cid("CUS-1")), 2).await.unwrap();
        assert_eq!((again.member.id.as_str(), again.created), (first.member.id.as_str(), false), "idempotent");
        let err = onboard(&db, "shop", new_member("0912345678"), Some(&cid("CUS-2")), 3).await.unwrap_err();
        assert!(matches!(err, MemberError::AccountAlreadyLinked));
        let err = onboard(&db, "shop", new_member("0987654321"), Some(&cid("CUS-1")), 4).await.unwrap_err();
        assert!(matches!(err, MemberError::CustomerAlreadyLinked));
        assert!(find_by_phone(&db, &PhoneNumber::parse("0987654321").unwrap()).await.unwrap().is_none(), "nobody created");
        assert_eq!(first.member.date_of_join(), "01-01-1970");
    }
}
