//! Accounts of a database that is served to several people: users with argon2-hashed passwords,
//! sign-in sessions (rotating refresh tokens), API keys, and who may do what with each
//! collection. Everything lives in the database's own store; the server (`semantik serve`)
//! and anything else that authenticates callers use [`Accounts`], so the access rule exists
//! once, in [`Accounts::permission`].
//!
//! A collection's access is its owner, the grants of read, write or admin to other users, and
//! `is_public` (read for every signed-in user). Administrators (the first user registered is
//! one) may do everything; a collection without an owner (created by the library directly)
//! belongs to the administrators. An API key acts for its user, optionally limited to some
//! collections and to a permission, and optionally expires. Secrets (refresh tokens, API keys)
//! are random 256-bit strings shown once and stored as their BLAKE3 hash.
//!
//! ```
//! use semantik_core::accounts::{Caller, NewUser, Permission};
//! use semantik_core::{CollectionConfig, Database};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path())?;
//! let accounts = db.accounts();
//! let admin = accounts.register(NewUser::new("ada", "ada@example.org", "correct horse"))?;
//! let bob = accounts.register(NewUser::new("bob", "bob@example.org", "battery staple"))?;
//! assert!(admin.is_admin && !bob.is_admin);
//!
//! let notes = db.create_collection(CollectionConfig::new("notes").with_model("semantik-test/hash-256"))?;
//! accounts.set_owner(notes.id(), admin.id)?;
//! assert_eq!(accounts.permission(&Caller::User(bob.clone()), notes.id())?, None);
//! accounts.grant(notes.id(), bob.id, Some(Permission::Read))?;
//! assert_eq!(accounts.permission(&Caller::User(bob), notes.id())?, Some(Permission::Read));
//!
//! let signed_in = accounts.login("ada", "correct horse")?;
//! assert_eq!(signed_in.id, admin.id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::collection::CollectionId;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::storage::{self, Store, WriteBatch, keys};

/// How long a sign-in session (its refresh token) lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Writes of the accounts, one at a time (a username is taken once; the first user is the
/// only one made administrator).
#[derive(Debug, Default)]
pub(crate) struct Writes(Mutex<()>);

/// Stable id of a user (a UUIDv7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(Uuid);

/// Stable id of an API key (a UUIDv7); the key's secret is something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKeyId(Uuid);

macro_rules! uuid_id {
    ($t:ident, $what:literal) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Uuid::parse_str(s)
                    .map($t)
                    .map_err(|_| Error::invalid(format!("not a {} id: {s:?}", $what)))
            }
        }
    };
}
uuid_id!(UserId, "user");
uuid_id!(ApiKeyId, "API key");

/// What a caller may do with a collection; each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Read and search it.
    Read,
    /// Also add, index and remove documents, and run its operations.
    Write,
    /// Also change its settings and access, and delete it.
    Admin,
}

/// A user, as shown (never with the password's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Its unique sign-in name.
    pub username: String,
    /// Its e-mail address.
    pub email: String,
    /// Its full name, if given.
    pub full_name: Option<String>,
    /// Whether it administers the database (may do everything).
    pub is_admin: bool,
    /// When it registered.
    pub created_at: SystemTime,
}

/// A user to register.
#[derive(Clone)]
#[non_exhaustive]
pub struct NewUser {
    /// 1 to 64 letters, digits, `.`, `_` or `-`; unique regardless of case.
    pub username: String,
    /// An address with an `@`.
    pub email: String,
    /// At least [`MIN_PASSWORD_CHARS`] characters.
    pub password: String,
    /// Optional.
    pub full_name: Option<String>,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("full_name", &self.full_name)
            .finish_non_exhaustive()
    }
}

impl NewUser {
    /// A user with no full name.
    pub fn new(
        username: impl Into<String>,
        email: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        NewUser {
            username: username.into(),
            email: email.into(),
            password: password.into(),
            full_name: None,
        }
    }

    /// Sets the full name.
    pub fn with_full_name(mut self, full_name: impl Into<String>) -> Self {
        self.full_name = Some(full_name.into());
        self
    }
}

/// An API key, as shown (its secret is shown once, when created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// The user it acts for.
    pub user: UserId,
    /// What its owner called it.
    pub name: String,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it stops working (`None`: never).
    pub expires_at: Option<SystemTime>,
    /// The only collections it reaches (`None`: every one its user reaches).
    pub collections: Option<Vec<CollectionId>>,
    /// The most it may do (`None`: what its user may do).
    pub permission: Option<Permission>,
}

/// An API key to create.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewApiKey {
    /// What to call it.
    pub name: String,
    /// How long it works (`None`: until revoked).
    pub lifetime: Option<Duration>,
    /// The only collections it reaches (`None`: every one its user reaches).
    pub collections: Option<Vec<CollectionId>>,
    /// The most it may do (`None`: what its user may do).
    pub permission: Option<Permission>,
}

impl NewApiKey {
    /// An unlimited key named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        NewApiKey {
            name: name.into(),
            lifetime: None,
            collections: None,
            permission: None,
        }
    }

    /// Makes it expire `lifetime` after its creation.
    pub fn expiring_after(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Limits it to `collections`.
    pub fn limited_to(mut self, collections: impl IntoIterator<Item = CollectionId>) -> Self {
        self.collections = Some(collections.into_iter().collect());
        self
    }

    /// Limits it to `permission`.
    pub fn with_permission(mut self, permission: Permission) -> Self {
        self.permission = Some(permission);
        self
    }
}

/// Who a collection belongs to and who else may use it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CollectionAccess {
    /// Its owner (`None`: the administrators').
    pub owner: Option<UserId>,
    /// Whether every signed-in user may read it.
    pub is_public: bool,
    /// What other users may do with it.
    pub grants: BTreeMap<UserId, Permission>,
}

/// Someone making a request: a signed-in user, or an API key and the user it acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A user with a session.
    User(User),
    /// An API key of `user`.
    Key {
        /// The user the key acts for.
        user: User,
        /// The key.
        key: ApiKey,
    },
}

impl Caller {
    /// The user acting.
    pub fn user(&self) -> &User {
        match self {
            Caller::User(u) | Caller::Key { user: u, .. } => u,
        }
    }
}

/// A user as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserRecord {
    #[serde(flatten)]
    user: User,
    /// The argon2 PHC string of the password.
    password_hash: String,
}

/// A sign-in session as stored, under the hash of its refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionRecord {
    user: UserId,
    expires_at: SystemTime,
}

/// An API key as stored, under the hash of its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyRecord {
    #[serde(flatten)]
    key: ApiKey,
}

/// The accounts of a database (see the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct Accounts {
    engine: Arc<Engine>,
}

impl Accounts {
    pub(crate) fn new(engine: Arc<Engine>) -> Self {
        Accounts { engine }
    }

    fn store(&self) -> Result<Arc<dyn Store>> {
        self.engine.store()
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        let store = self.store()?;
        store.apply(batch)?;
        store.flush()
    }

    /// Registers a user; the first one registered administers the database.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad username, e-mail address or password;
    /// [`Error::UserExists`] for a name taken (in any case).
    pub fn register(&self, new: NewUser) -> Result<User> {
        check_username(&new.username)?;
        if !new.email.contains('@') || new.email.len() > 254 {
            return Err(Error::invalid("email must be an address with an @"));
        }
        if new.password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(Error::invalid(format!(
                "password must have at least {MIN_PASSWORD_CHARS} characters"
            )));
        }
        let password_hash = hash_password(&new.password)?;
        let _one = self.engine.account_writes.0.lock().expect("accounts lock");
        let store = self.store()?;
        let name_key = keys::user_name(&new.username.to_lowercase());
        if store.get(&name_key)?.is_some() {
            return Err(Error::UserExists { name: new.username });
        }
        let first = store.scan_prefix(&[keys::USER_NAME]).next().is_none();
        let user = User {
            id: UserId(Uuid::now_v7()),
            username: new.username,
            email: new.email,
            full_name: new.full_name.filter(|n| !n.is_empty()),
            is_admin: first,
            created_at: SystemTime::now(),
        };
        let mut batch = WriteBatch::new();
        batch.put(name_key, user.id.0.as_bytes().to_vec());
        batch.put_json(
            keys::user(user.id.0),
            &UserRecord {
                user: user.clone(),
                password_hash,
            },
        )?;
        self.write(batch)?;
        Ok(user)
    }

    /// The user whose name (in any case) and password these are.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`], the same for an unknown name as for a wrong password (and
    /// taking as long).
    pub fn login(&self, username: &str, password: &str) -> Result<User> {
        let record = match self.user_by_name(username)? {
            Some(r) => r,
            None => {
                // As much work as a real check, so the time does not tell the name is free.
                let _ = verify_password(password, DECOY_HASH.get_or_init(decoy_hash));
                return Err(bad_login());
            }
        };
        if verify_password(password, &record.password_hash) {
            Ok(record.user)
        } else {
            Err(bad_login())
        }
    }

    fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let store = self.store()?;
        let Some(id) = store.get(&keys::user_name(&username.to_lowercase()))? else {
            return Ok(None);
        };
        let id = Uuid::from_slice(&id).map_err(|_| Error::corrupt("user name index"))?;
        storage::get_json(store.as_ref(), "user", &keys::user(id))
    }

    /// The user `id`.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] when there is no such user (any more).
    pub fn user(&self, id: UserId) -> Result<User> {
        storage::get_json::<UserRecord>(self.store()?.as_ref(), "user", &keys::user(id.0))?
            .map(|r| r.user)
            .ok_or_else(|| unauthenticated("no such user"))
    }

    /// The user named `username` (in any case), if there is one.
    pub fn user_named(&self, username: &str) -> Result<Option<User>> {
        Ok(self.user_by_name(username)?.map(|r| r.user))
    }

    /// Starts a sign-in session of `user`: its refresh token, valid for [`SESSION_LIFETIME`].
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] for an unknown user.
    pub fn start_session(&self, user: UserId) -> Result<String> {
        self.user(user)?;
        let token = secret("smr_");
        let mut batch = WriteBatch::new();
        batch.put_json(
            keys::session(&digest(&token)),
            &SessionRecord {
                user,
                expires_at: SystemTime::now() + SESSION_LIFETIME,
            },
        )?;
        self.write(batch)?;
        Ok(token)
    }

    /// Trades a refresh token for a new one (the old one stops working) and its user.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] for a token unknown, revoked, used already or expired.
    pub fn refresh(&self, refresh_token: &str) -> Result<(User, String)> {
        let _one = self.engine.account_writes.0.lock().expect("accounts lock");
        let key = keys::session(&digest(refresh_token));
        let store = self.store()?;
        let session: SessionRecord = storage::get_json(store.as_ref(), "session", &key)?
            .ok_or_else(|| unauthenticated("refresh token unknown or revoked"))?;
        let mut batch = WriteBatch::new();
        batch.delete(key);
        if session.expires_at <= SystemTime::now() {
            self.write(batch)?;
            return Err(unauthenticated("refresh token expired"));
        }
        let user = self.user(session.user)?;
        let token = secret("smr_");
        batch.put_json(
            keys::session(&digest(&token)),
            &SessionRecord {
                user: user.id,
                expires_at: SystemTime::now() + SESSION_LIFETIME,
            },
        )?;
        self.write(batch)?;
        Ok((user, token))
    }

    /// Ends the session of a refresh token (nothing to do for one unknown).
    pub fn end_session(&self, refresh_token: &str) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(keys::session(&digest(refresh_token)));
        self.write(batch)
    }

    /// Creates an API key of `user`; returns it and its secret, which is shown only now.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty name; [`Error::Unauthenticated`] for an
    /// unknown user.
    pub fn create_api_key(&self, user: UserId, new: NewApiKey) -> Result<(ApiKey, String)> {
        self.user(user)?;
        if new.name.trim().is_empty() || new.name.len() > 128 {
            return Err(Error::invalid("an API key's name is 1 to 128 bytes"));
        }
        let now = SystemTime::now();
        let key = ApiKey {
            id: ApiKeyId(Uuid::now_v7()),
            user,
            name: new.name,
            created_at: now,
            expires_at: new.lifetime.and_then(|d| now.checked_add(d)),
            collections: new.collections,
            permission: new.permission,
        };
        let secret = secret("smk_");
        let mut batch = WriteBatch::new();
        batch.put_json(
            keys::api_key(&digest(&secret)),
            &KeyRecord { key: key.clone() },
        )?;
        self.write(batch)?;
        Ok((key, secret))
    }

    /// The caller an API key's secret stands for.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] for a secret unknown, revoked or expired.
    pub fn api_key_caller(&self, secret: &str) -> Result<Caller> {
        let record: KeyRecord = storage::get_json(
            self.store()?.as_ref(),
            "API key",
            &keys::api_key(&digest(secret)),
        )?
        .ok_or_else(|| unauthenticated("API key unknown or revoked"))?;
        if record
            .key
            .expires_at
            .is_some_and(|t| t <= SystemTime::now())
        {
            return Err(unauthenticated("API key expired"));
        }
        Ok(Caller::Key {
            user: self.user(record.key.user)?,
            key: record.key,
        })
    }

    /// The API keys of `user`, oldest first.
    pub fn api_keys(&self, user: UserId) -> Result<Vec<ApiKey>> {
        Ok(self
            .key_records()?
            .into_iter()
            .map(|(_, r)| r.key)
            .filter(|k| k.user == user)
            .collect())
    }

    fn key_records(&self) -> Result<Vec<(Vec<u8>, KeyRecord)>> {
        let store = self.store()?;
        let mut all = store
            .scan_prefix(&[keys::API_KEY])
            .map(|e| {
                let (k, v) = e?;
                Ok((k, storage::decode_json::<KeyRecord>("API key", &v)?))
            })
            .collect::<Result<Vec<_>>>()?;
        all.sort_by_key(|(_, r)| r.key.id);
        Ok(all)
    }

    /// Revokes `user`'s API key `id`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `user` has no such key.
    pub fn revoke_api_key(&self, user: UserId, id: ApiKeyId) -> Result<()> {
        let (key, _) = self
            .key_records()?
            .into_iter()
            .find(|(_, r)| r.key.id == id && r.key.user == user)
            .ok_or_else(|| Error::invalid(format!("no API key {id}")))?;
        let mut batch = WriteBatch::new();
        batch.delete(key);
        self.write(batch)
    }

    /// Who collection `id` belongs to and who else may use it.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`].
    pub fn access(&self, id: CollectionId) -> Result<CollectionAccess> {
        self.engine.record(id)?;
        Ok(storage::get_json(
            self.store()?.as_ref(),
            "collection access",
            &keys::access(id.0),
        )?
        .unwrap_or_default())
    }

    fn change_access(&self, id: CollectionId, f: impl FnOnce(&mut CollectionAccess)) -> Result<()> {
        let _one = self.engine.account_writes.0.lock().expect("accounts lock");
        let mut access = self.access(id)?;
        f(&mut access);
        let mut batch = WriteBatch::new();
        batch.put_json(keys::access(id.0), &access)?;
        self.write(batch)
    }

    /// The collections `user` owns, in id order.
    pub fn owned_by(&self, user: UserId) -> Result<Vec<CollectionId>> {
        let store = self.store()?;
        let mut owned = Vec::new();
        for entry in storage::scan_suffixes(store.as_ref(), &[keys::ACCESS]) {
            let (id, value) = entry?;
            let access: CollectionAccess = storage::decode_json("collection access", &value)?;
            if access.owner == Some(user) {
                let id = Uuid::from_slice(&id).map_err(|_| Error::corrupt("access key"))?;
                owned.push(CollectionId(id));
            }
        }
        Ok(owned)
    }

    /// Makes `owner` the owner of collection `id`.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`]; [`Error::Unauthenticated`] for an unknown user.
    pub fn set_owner(&self, id: CollectionId, owner: UserId) -> Result<()> {
        self.user(owner)?;
        self.change_access(id, |a| {
            a.owner = Some(owner);
            a.grants.remove(&owner);
        })
    }

    /// Lets every signed-in user read collection `id`, or stops that.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`].
    pub fn set_public(&self, id: CollectionId, is_public: bool) -> Result<()> {
        self.change_access(id, |a| a.is_public = is_public)
    }

    /// Grants `user` `permission` on collection `id` (`None`: takes any grant back).
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`]; [`Error::Unauthenticated`] for an unknown user.
    pub fn grant(
        &self,
        id: CollectionId,
        user: UserId,
        permission: Option<Permission>,
    ) -> Result<()> {
        self.user(user)?;
        self.change_access(id, |a| match permission {
            Some(p) => {
                a.grants.insert(user, p);
            }
            None => {
                a.grants.remove(&user);
            }
        })
    }

    /// What `caller` may do with collection `id` (`None`: nothing, not even know it exists).
    ///
    /// Administrators and the owner: admin; a grant: what it grants; a public collection:
    /// read. An API key never gives more than its permission, nor reaches a collection outside
    /// its list.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`].
    pub fn permission(&self, caller: &Caller, id: CollectionId) -> Result<Option<Permission>> {
        let access = self.access(id)?;
        let user = caller.user();
        let mut p = if user.is_admin || access.owner == Some(user.id) {
            Some(Permission::Admin)
        } else {
            let granted = access.grants.get(&user.id).copied();
            let public = access.is_public.then_some(Permission::Read);
            granted.max(public)
        };
        if let Caller::Key { key, .. } = caller {
            if key.collections.as_ref().is_some_and(|c| !c.contains(&id)) {
                p = None;
            }
            if let Some(limit) = key.permission {
                p = p.map(|p| p.min(limit));
            }
        }
        Ok(p)
    }

    /// The secret that signs this database's access tokens: 32 random bytes made the first
    /// time it is asked for and kept in the database, so tokens outlive a restart.
    pub fn token_secret(&self) -> Result<Vec<u8>> {
        let key = keys::meta("token_secret");
        if let Some(s) = self.store()?.get(&key)? {
            return Ok(s);
        }
        let _one = self.engine.account_writes.0.lock().expect("accounts lock");
        if let Some(s) = self.store()?.get(&key)? {
            return Ok(s);
        }
        let s: [u8; 32] = rand::random();
        let mut batch = WriteBatch::new();
        batch.put(key, s.to_vec());
        self.write(batch)?;
        Ok(s.to_vec())
    }
}

fn check_username(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "username must be 1 to 64 letters, digits, '.', '_' or '-'",
        ))
    }
}

fn unauthenticated(message: &str) -> Error {
    Error::Unauthenticated {
        message: message.into(),
    }
}

fn bad_login() -> Error {
    unauthenticated("wrong username or password")
}

/// A new random secret: `prefix` and 64 hex digits.
fn secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    let mut s = String::with_capacity(prefix.len() + 64);
    s.push_str(prefix);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// What a secret is stored under.
fn digest(secret: &str) -> [u8; 32] {
    *blake3::hash(secret.as_bytes()).as_bytes()
}

fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| Error::internal(format!("password salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("password hash: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

static DECOY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn decoy_hash() -> String {
    hash_password("not anyone's password").unwrap_or_default()
}
