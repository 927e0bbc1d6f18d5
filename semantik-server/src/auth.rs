//! Who is calling: `/api/v1/auth` (register, login, refresh, logout, me), short-lived JWT
//! access tokens signed with the database's own secret, API keys (`/api/v2/api-keys`), and the
//! grants of a collection (`/api/v2/collections/{id}/permissions`). The accounts themselves, and
//! the rule of who may do what, are `semantik_core::accounts`.
//!
//! Every v2 endpoint takes `Authorization: Bearer <access token or API key>`; a WebSocket may
//! also offer the token as the subprotocol `access_token.<jwt>`. A server started without
//! accounts (`--no-auth`, loopback only) lets every caller do everything.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use semantik_core::accounts::{
    Accounts, ApiKeyId, Caller, CollectionAccess, NewApiKey, NewUser, Permission, User, UserId,
};
use semantik_core::{Collection, CollectionId, Error, Operation, OperationId};

use crate::api::{Answer, Body, St, State, UrlPath, blocking, body, reply, seconds};
use crate::error::{ApiError, ErrorBody};

/// How long an access token is good for, unless configured otherwise.
pub const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The accounts of a server that has them, and its token keys.
pub(crate) struct Auth {
    accounts: Accounts,
    encoding: EncodingKey,
    decoding: DecodingKey,
    lifetime: Duration,
    max_collections: Option<usize>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's id.
    sub: String,
    /// Expiry, seconds since the epoch.
    exp: u64,
    /// Issued at.
    iat: u64,
}

impl Auth {
    pub(crate) fn new(
        accounts: Accounts,
        config: &crate::ServerConfig,
    ) -> semantik_core::Result<Self> {
        let secret = accounts.token_secret()?;
        Ok(Auth {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            accounts,
            lifetime: config.access_token_lifetime,
            max_collections: config.max_collections_per_user,
        })
    }

    fn access_token(&self, user: UserId) -> Result<String, ApiError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let claims = Claims {
            sub: user.to_string(),
            iat: now.as_secs(),
            exp: (now + self.lifetime).as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal", e.to_string())
        })
    }

    /// The caller a bearer credential (an access token or an API key) stands for.
    pub(crate) fn caller(&self, credential: &str) -> Result<Caller, ApiError> {
        if credential.starts_with("smk_") {
            return Ok(self.accounts.api_key_caller(credential)?);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(credential, &self.decoding, &validation)
            .map_err(|e| unauthorized(format!("access token: {e}")))?
            .claims;
        let id: UserId = claims
            .sub
            .parse()
            .map_err(|_| unauthorized("access token: no user"))?;
        Ok(Caller::User(self.accounts.user(id)?))
    }

    /// The answer of a sign-in: a new access token and refresh token.
    fn tokens(&self, user: &User, refresh_token: String) -> Answer {
        reply(
            StatusCode::OK,
            json!({
                "access_token": self.access_token(user.id)?,
                "refresh_token": refresh_token,
                "token_type": "bearer",
                "expires_in": self.lifetime.as_secs(),
                "user": user_json(user),
            }),
        )
    }
}

fn unauthorized(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "Unauthenticated", detail)
}

/// The caller of a request: someone signed in, or anyone when the server has no accounts.
#[derive(Debug, Clone)]
pub(crate) enum Who {
    /// A server without accounts: everything is allowed.
    Anyone,
    /// A signed-in user or an API key.
    Caller(Box<Caller>),
}

impl Who {
    fn caller(&self) -> Result<&Caller, ApiError> {
        match self {
            Who::Caller(c) => Ok(c),
            Who::Anyone => Err(no_accounts()),
        }
    }

    pub(crate) fn user(&self) -> Option<&User> {
        match self {
            Who::Caller(c) => Some(c.user()),
            Who::Anyone => None,
        }
    }
}

/// The credential of `Authorization: Bearer ...`, if there is one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(credential.trim())
}

/// The access token a WebSocket client offers as the subprotocol `access_token.<jwt>`.
pub(crate) fn subprotocol_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("access_token."))
}

impl FromRequestParts<State> for Who {
    type Rejection = ApiError;

    /// The caller a guard layer (`signed_in`) found already, or the one of the request's
    /// credential.
    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, ApiError> {
        if let Some(who) = parts.extensions.get::<Who>() {
            return Ok(who.clone());
        }
        if state.auth().is_none() {
            return Ok(Who::Anyone);
        }
        let (state, headers) = (state.clone(), parts.headers.clone());
        blocking(move || state.caller_of(&headers)).await
    }
}

/// Lets a request through only with a credential the server accepts, and leaves its caller
/// in the request's extensions: what guards `/mcp`, whose tools take the caller from there
/// and check each call's permissions.
pub(crate) async fn signed_in(
    axum::extract::State(state): axum::extract::State<State>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = request.headers().clone();
    match blocking(move || state.caller_of(&headers)).await {
        Ok(who) => {
            request.extensions_mut().insert(who);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

impl State {
    /// The caller of a request's credential: `Authorization: Bearer`, or for a WebSocket the
    /// subprotocol `access_token.<jwt>`. Anyone on a server without accounts.
    pub(crate) fn caller_of(&self, headers: &HeaderMap) -> Result<Who, ApiError> {
        let Some(auth) = self.auth() else {
            return Ok(Who::Anyone);
        };
        let credential = bearer(headers)
            .or_else(|| subprotocol_token(headers))
            .ok_or_else(|| {
                unauthorized(
                    "sign in: Authorization: Bearer <access token or API key> (a WebSocket may \
                     offer the subprotocol access_token.<jwt>)",
                )
            })?;
        auth.caller(credential).map(|c| Who::Caller(Box::new(c)))
    }

    /// Collection `id` if `who` may use it as `need` asks. A collection `who` may not even
    /// read is not found (its existence is not told); one it reads but may not change is 403.
    pub(crate) fn collection(
        &self,
        who: &Who,
        id: &str,
        need: Permission,
    ) -> Result<Collection, ApiError> {
        let id: CollectionId = id.parse()?;
        let col = self.db().collection_by_id(id)?;
        self.check(who, id, need)?;
        Ok(col)
    }

    /// Whether `who` may use collection `id` as `need` asks (see [`State::collection`]).
    pub(crate) fn check(
        &self,
        who: &Who,
        id: CollectionId,
        need: Permission,
    ) -> Result<(), ApiError> {
        let (Some(auth), Who::Caller(caller)) = (self.auth(), who) else {
            return Ok(());
        };
        match auth.accounts.permission(caller, id)? {
            Some(p) if p >= need => Ok(()),
            Some(p) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "PermissionDenied",
                format!(
                    "this needs {} permission on the collection; the caller has {}",
                    name(need),
                    name(p)
                ),
            )),
            None => Err(Error::CollectionNotFound {
                name: id.to_string(),
            }
            .into()),
        }
    }

    /// Operation `id` if `who` may use its collection as `need` asks. The operation of a
    /// collection that is gone (a deletion) is shown to whoever knows its id.
    pub(crate) fn operation(
        &self,
        who: &Who,
        id: &str,
        need: Permission,
    ) -> Result<Operation, ApiError> {
        let not_found = || ApiError::from(Error::OperationNotFound { id: id.to_string() });
        let op = self
            .db()
            .operation(id.parse::<OperationId>().map_err(|_| not_found())?)?;
        let collection = op.info().collection_id;
        if self.db().collection_by_id(collection).is_err() {
            return Ok(op);
        }
        match self.check(who, collection, need) {
            Err(e) if e.status == StatusCode::NOT_FOUND => Err(not_found()),
            r => r.map(|()| op),
        }
    }

    /// Who collection `id` belongs to, on a server with accounts.
    pub(crate) fn access(&self, id: CollectionId) -> Option<CollectionAccess> {
        self.auth()?.accounts.access(id).ok()
    }

    /// Whether `who` may read collection `id` (false for one gone).
    pub(crate) fn reads(&self, who: &Who, id: CollectionId) -> bool {
        self.check(who, id, Permission::Read).is_ok()
    }

    /// Sets the owner of collection `id` and whether it is public, each when given.
    pub(crate) fn set_access(
        &self,
        id: CollectionId,
        owner: Option<UserId>,
        is_public: Option<bool>,
    ) -> Result<(), ApiError> {
        let accounts = self.db().accounts();
        if let Some(user) = owner {
            accounts.set_owner(id, user)?;
        }
        if let Some(p) = is_public {
            accounts.set_public(id, p)?;
        }
        Ok(())
    }

    /// The collections `who` may read.
    pub(crate) fn readable_collections(
        &self,
        who: &Who,
    ) -> Result<Vec<semantik_core::CollectionInfo>, ApiError> {
        let mut all = self.db().collections()?;
        all.retain(|c| self.reads(who, c.id));
        Ok(all)
    }

    /// A collection as the API shows it: its settings and counts, and on a server with
    /// accounts its owner and whether it is public.
    pub(crate) fn collection_view(&self, info: &semantik_core::CollectionInfo) -> Value {
        let mut view = crate::api::collection_json(info);
        if let Some(a) = self.access(info.id) {
            view["owner_id"] = json!(a.owner.map(|o| o.to_string()));
            view["is_public"] = json!(a.is_public);
        }
        view
    }

    /// Whether `who` may create a collection: anyone signed in who owns fewer than the
    /// limit, but not with an API key limited to collections or to reading.
    pub(crate) fn may_create(&self, who: &Who) -> Result<(), ApiError> {
        let (Some(auth), Who::Caller(caller)) = (self.auth(), who) else {
            return Ok(());
        };
        if let Caller::Key { key, .. } = &**caller
            && (key.collections.is_some() || key.permission == Some(Permission::Read))
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "PermissionDenied",
                "this API key may not create collections",
            ));
        }
        if let Some(max) = auth.max_collections {
            let owned = auth.accounts.owned_by(caller.user().id)?.len();
            if owned >= max {
                return Err(Error::LimitExceeded {
                    limit: "MAX_COLLECTIONS_PER_USER".into(),
                    max: max as u64,
                }
                .into());
            }
        }
        Ok(())
    }
}

fn name(p: Permission) -> &'static str {
    match p {
        Permission::Read => "read",
        Permission::Write => "write",
        Permission::Admin => "admin",
    }
}

pub(crate) fn user_json(u: &User) -> Value {
    json!({
        "id": u.id.to_string(),
        "username": u.username,
        "email": u.email,
        "full_name": u.full_name,
        "is_admin": u.is_admin,
        "created_at": seconds(u.created_at),
    })
}

/// What a route of the accounts answers on a server without them.
fn no_accounts() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "this server has no accounts (--no-auth)",
    )
}

/// The accounts of a server that has them; 404 otherwise.
fn accounts_of(st: &State) -> Result<std::sync::Arc<Auth>, ApiError> {
    st.auth().cloned().ok_or_else(no_accounts)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Register {
    username: String,
    email: String,
    password: String,
    full_name: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = Register, security(()),
    responses((status = 201, description = "The user (the first one registered administers the server)", body = Object), (status = 409, description = "The name is taken", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn register(st: St, Body(bytes): Body) -> Answer {
    let auth = accounts_of(&st)?;
    let r: Register = body(&bytes)?;
    let mut new = NewUser::new(r.username, r.email, r.password);
    if let Some(n) = r.full_name {
        new = new.with_full_name(n);
    }
    let user = blocking(move || Ok(auth.accounts.register(new)?)).await?;
    reply(StatusCode::CREATED, user_json(&user))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    username: String,
    password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login, security(()),
    responses((status = 200, description = "`access_token`, `refresh_token`, `token_type`", body = Object), (status = 401, description = "Wrong name or password", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn login(st: St, Body(bytes): Body) -> Answer {
    let auth = accounts_of(&st)?;
    let l: Login = body(&bytes)?;
    let a = auth.clone();
    let (user, refresh) = blocking(move || {
        let user = a.accounts.login(&l.username, &l.password)?;
        let refresh = a.accounts.start_session(user.id)?;
        Ok((user, refresh))
    })
    .await?;
    auth.tokens(&user, refresh)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshToken {
    refresh_token: String,
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshToken, security(()),
    responses((status = 200, description = "A new `access_token` and `refresh_token`; the old refresh token no longer works", body = Object), (status = 401, description = "The refresh token is unknown, used, revoked or expired", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn refresh(st: St, Body(bytes): Body) -> Answer {
    let auth = accounts_of(&st)?;
    let r: RefreshToken = body(&bytes)?;
    let a = auth.clone();
    let (user, token) = blocking(move || Ok(a.accounts.refresh(&r.refresh_token)?)).await?;
    auth.tokens(&user, token)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshToken, security(()),
    responses((status = 200, description = "The session ended", body = Object), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn logout(st: St, Body(bytes): Body) -> Answer {
    let auth = accounts_of(&st)?;
    let r: RefreshToken = body(&bytes)?;
    blocking(move || Ok(auth.accounts.end_session(&r.refresh_token)?)).await?;
    reply(StatusCode::OK, json!({"detail": "signed out"}))
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, description = "The signed-in user", body = Object), (status = 401, description = "Not signed in", body = ErrorBody)))]
pub(crate) async fn me(who: Who) -> Answer {
    reply(StatusCode::OK, user_json(who.caller()?.user()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    name: String,
    /// Seconds until it stops working (none: until revoked).
    expires_in_seconds: Option<u64>,
    /// The only collections it reaches (ids; none: all its user reaches).
    collections: Option<Vec<String>>,
    /// read, write or admin: the most it may do (none: what its user may).
    #[schema(value_type = Option<String>)]
    permission: Option<Permission>,
}

fn key_json(k: &semantik_core::accounts::ApiKey) -> Value {
    json!({
        "id": k.id.to_string(),
        "name": k.name,
        "created_at": seconds(k.created_at),
        "expires_at": k.expires_at.map(seconds),
        "collections": k.collections.as_ref().map(|c| c.iter().map(ToString::to_string).collect::<Vec<_>>()),
        "permission": k.permission,
    })
}

/// Only a signed-in user (not an API key) manages API keys.
fn session_user(who: &Who) -> Result<User, ApiError> {
    match who.caller()? {
        Caller::User(u) => Ok(u.clone()),
        Caller::Key { .. } => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "PermissionDenied",
            "API keys are managed by their user signed in, not with a key",
        )),
    }
}

#[utoipa::path(post, path = "/api/v2/api-keys", tag = "auth", request_body = NewKey,
    responses((status = 201, description = "The key, and its `secret`, shown only now", body = Object), (status = 401, description = "Not signed in", body = ErrorBody), (status = 403, description = "Not allowed", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn create_key(st: St, who: Who, Body(bytes): Body) -> Answer {
    let user = session_user(&who)?;
    let n: NewKey = body(&bytes)?;
    let mut new = NewApiKey::new(n.name);
    if let Some(s) = n.expires_in_seconds {
        new = new.expiring_after(Duration::from_secs(s));
    }
    if let Some(p) = n.permission {
        new = new.with_permission(p);
    }
    let ids = n
        .collections
        .map(|c| {
            c.iter()
                .map(|id| match st.collection(&who, id, Permission::Read) {
                    Ok(c) => Ok(c.id()),
                    Err(e) if e.status == StatusCode::NOT_FOUND => Err(ApiError::unprocessable(
                        format!("collections: no collection {id:?}"),
                    )),
                    Err(e) => Err(e),
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .transpose()?;
    if let Some(ids) = ids {
        new = new.limited_to(ids);
    }
    let db = st.db();
    let (key, secret) = blocking(move || Ok(db.accounts().create_api_key(user.id, new)?)).await?;
    let mut v = key_json(&key);
    v["secret"] = json!(secret);
    reply(StatusCode::CREATED, v)
}

#[utoipa::path(get, path = "/api/v2/api-keys", tag = "auth",
    responses((status = 200, description = "`api_keys` of the signed-in user (never their secrets)", body = Object), (status = 401, description = "Not signed in", body = ErrorBody), (status = 403, description = "Not allowed", body = ErrorBody)))]
pub(crate) async fn list_keys(st: St, who: Who) -> Answer {
    let user = session_user(&who)?;
    let db = st.db();
    let keys = blocking(move || Ok(db.accounts().api_keys(user.id)?)).await?;
    reply(
        StatusCode::OK,
        json!({"api_keys": keys.iter().map(key_json).collect::<Vec<_>>()}),
    )
}

#[utoipa::path(delete, path = "/api/v2/api-keys/{id}", tag = "auth", params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, description = "Revoked", body = Object), (status = 401, description = "Not signed in", body = ErrorBody), (status = 403, description = "Not allowed", body = ErrorBody), (status = 404, description = "No such key of this user", body = ErrorBody)))]
pub(crate) async fn revoke_key(st: St, who: Who, UrlPath(id): UrlPath<String>) -> Answer {
    let user = session_user(&who)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such API key");
    let id: ApiKeyId = id.parse().map_err(|_| not_found())?;
    let db = st.db();
    blocking(move || {
        db.accounts()
            .revoke_api_key(user.id, id)
            .map_err(|_| not_found())
    })
    .await?;
    reply(StatusCode::OK, json!({"detail": "revoked"}))
}

fn access_json(db: &semantik_core::Database, a: &CollectionAccess) -> Value {
    let accounts = db.accounts();
    let who = |id: &UserId| {
        accounts.user(*id).map_or_else(
            |_| json!({"id": id.to_string()}),
            |u| json!({"id": id.to_string(), "username": u.username}),
        )
    };
    json!({
        "owner": a.owner.as_ref().map(who),
        "is_public": a.is_public,
        "grants": a.grants.iter().map(|(id, p)| {
            let mut g = who(id);
            g["permission"] = json!(p);
            g
        }).collect::<Vec<_>>(),
    })
}

#[utoipa::path(get, path = "/api/v2/collections/{id}/permissions", tag = "collections", params(("id" = String, Path, description = "The collection's id")),
    responses((status = 200, description = "`owner`, `is_public` and `grants`", body = Object), (status = 403, description = "Not allowed", body = ErrorBody), (status = 404, description = "No such collection", body = ErrorBody)))]
pub(crate) async fn get_permissions(st: St, who: Who, UrlPath(id): UrlPath<String>) -> Answer {
    accounts_of(&st)?;
    let access = blocking(move || {
        let col = st.collection(&who, &id, Permission::Admin)?;
        let db = st.db();
        Ok(access_json(&db, &db.accounts().access(col.id())?))
    })
    .await?;
    reply(StatusCode::OK, access)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Grant {
    /// The user to grant to.
    username: String,
    /// read, write or admin; null takes the grant back.
    #[schema(value_type = Option<String>)]
    permission: Option<Permission>,
}

#[utoipa::path(put, path = "/api/v2/collections/{id}/permissions", tag = "collections", params(("id" = String, Path, description = "The collection's id")), request_body = Grant,
    responses((status = 200, description = "The collection's access after the change", body = Object), (status = 403, description = "Not allowed", body = ErrorBody), (status = 404, description = "No such collection or user", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn grant(
    st: St,
    who: Who,
    UrlPath(id): UrlPath<String>,
    Body(bytes): Body,
) -> Answer {
    accounts_of(&st)?;
    let g: Grant = body(&bytes)?;
    let access = blocking(move || {
        let col = st.collection(&who, &id, Permission::Admin)?;
        let db = st.db();
        let accounts = db.accounts();
        let user = accounts.user_named(&g.username)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no user {:?}", g.username),
            )
        })?;
        accounts.grant(col.id(), user.id, g.permission)?;
        Ok(access_json(&db, &accounts.access(col.id())?))
    })
    .await?;
    reply(StatusCode::OK, access)
}

/// The `/api/v1/auth` routes.
pub(crate) fn routes() -> axum::Router<State> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/register", post(register))
        .route("/login", post(login))
        .route("/refresh", post(refresh))
        .route("/logout", post(logout))
        .route("/me", get(me))
}
