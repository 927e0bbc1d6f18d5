//! Accounts: registration, sign-in, rotating sessions, API keys and collection permissions,
//! kept across a reopen and removed with their collection.

use std::time::Duration;

use semantik_core::ErrorCode;
use semantik_core::accounts::{Caller, NewApiKey, NewUser, Permission};

use crate::common::{open, temp_db, text_collection};

fn code<T: std::fmt::Debug>(r: semantik_core::Result<T>) -> ErrorCode {
    r.expect_err("an error").code()
}

#[test]
fn register_login_and_sessions_survive_a_reopen() {
    let (dir, db) = temp_db();
    let a = db.accounts();
    let ada = a
        .register(NewUser::new("Ada", "ada@example.org", "correct horse").with_full_name("Ada L."))
        .unwrap();
    let bob = a
        .register(NewUser::new("bob", "bob@example.org", "battery staple"))
        .unwrap();
    assert!(ada.is_admin, "the first user administers");
    assert!(!bob.is_admin);
    assert_eq!(ada.full_name.as_deref(), Some("Ada L."));

    // Names are unique regardless of case; bad input is refused with what is wrong.
    let dup = a.register(NewUser::new("ADA", "x@example.org", "long enough"));
    assert_eq!(code(dup), ErrorCode::UserExists);
    for bad in [
        NewUser::new("", "e@x", "long enough"),
        NewUser::new("a b", "e@x", "long enough"),
        NewUser::new("carol", "no-at-sign", "long enough"),
        NewUser::new("carol", "c@x", "short"),
    ] {
        assert_eq!(code(a.register(bad)), ErrorCode::InvalidArgument);
    }

    // Sign-in: any case of the name; a wrong password and an unknown name answer alike.
    assert_eq!(a.login("ada", "correct horse").unwrap().id, ada.id);
    let wrong = a.login("ada", "correct horsE").unwrap_err();
    let unknown = a.login("nobody", "correct horse").unwrap_err();
    assert_eq!(wrong.code(), ErrorCode::Unauthenticated);
    assert_eq!(wrong.to_string(), unknown.to_string());

    // A refresh token is used once: the new one works, the old one no more.
    let first = a.start_session(ada.id).unwrap();
    let (user, second) = a.refresh(&first).unwrap();
    assert_eq!(user.id, ada.id);
    assert_eq!(code(a.refresh(&first)), ErrorCode::Unauthenticated);
    let secret = a.token_secret().unwrap();
    assert_eq!(secret.len(), 32);
    drop(a);
    db.close().unwrap();

    let db = open(dir.path());
    let a = db.accounts();
    assert_eq!(a.token_secret().unwrap(), secret, "kept with the database");
    assert_eq!(a.login("bob", "battery staple").unwrap().id, bob.id);
    let (_, third) = a.refresh(&second).unwrap();
    a.end_session(&third).unwrap();
    assert_eq!(code(a.refresh(&third)), ErrorCode::Unauthenticated);
    db.close().unwrap();
}

#[test]
fn permissions_of_owner_grants_public_admin_and_api_keys() {
    let (_dir, db) = temp_db();
    let a = db.accounts();
    let admin = a
        .register(NewUser::new("root", "r@x", "password1"))
        .unwrap();
    let owner = a
        .register(NewUser::new("owner", "o@x", "password2"))
        .unwrap();
    let reader = a
        .register(NewUser::new("reader", "r2@x", "password3"))
        .unwrap();
    let other = a
        .register(NewUser::new("other", "x@x", "password4"))
        .unwrap();
    let c = db.create_collection(text_collection("private")).unwrap();
    let d = db.create_collection(text_collection("second")).unwrap();
    let as_user = |u: &semantik_core::accounts::User| Caller::User(u.clone());
    let p = |caller: &Caller, id| a.permission(caller, id).unwrap();

    // Without an owner a collection is the administrators'.
    assert_eq!(p(&as_user(&admin), c.id()), Some(Permission::Admin));
    assert_eq!(p(&as_user(&owner), c.id()), None);

    a.set_owner(c.id(), owner.id).unwrap();
    a.grant(c.id(), reader.id, Some(Permission::Read)).unwrap();
    assert_eq!(p(&as_user(&owner), c.id()), Some(Permission::Admin));
    assert_eq!(p(&as_user(&reader), c.id()), Some(Permission::Read));
    assert_eq!(p(&as_user(&other), c.id()), None);
    assert_eq!(p(&as_user(&admin), c.id()), Some(Permission::Admin));

    a.set_public(c.id(), true).unwrap();
    assert_eq!(p(&as_user(&other), c.id()), Some(Permission::Read));
    a.grant(c.id(), reader.id, Some(Permission::Write)).unwrap();
    assert_eq!(p(&as_user(&reader), c.id()), Some(Permission::Write));
    a.grant(c.id(), reader.id, None).unwrap();
    a.set_public(c.id(), false).unwrap();
    assert_eq!(p(&as_user(&reader), c.id()), None);
    let access = a.access(c.id()).unwrap();
    assert_eq!(access.owner, Some(owner.id));
    assert!(access.grants.is_empty() && !access.is_public);

    // An API key: never more than its permission, never outside its collections.
    a.set_owner(d.id(), owner.id).unwrap();
    let (key, secret) = a
        .create_api_key(
            owner.id,
            NewApiKey::new("ci")
                .limited_to([c.id()])
                .with_permission(Permission::Read),
        )
        .unwrap();
    assert!(secret.len() > 60 && !secret.contains(&key.id.to_string()));
    let caller = a.api_key_caller(&secret).unwrap();
    assert_eq!(caller.user().id, owner.id);
    assert_eq!(p(&caller, c.id()), Some(Permission::Read));
    assert_eq!(p(&caller, d.id()), None);
    assert_eq!(a.api_keys(owner.id).unwrap(), vec![key.clone()]);
    assert!(a.api_keys(other.id).unwrap().is_empty());
    assert_eq!(
        code(a.revoke_api_key(other.id, key.id)),
        ErrorCode::InvalidArgument,
        "only its user revokes it"
    );
    a.revoke_api_key(owner.id, key.id).unwrap();
    assert_eq!(code(a.api_key_caller(&secret)), ErrorCode::Unauthenticated);

    let (_, expiring) = a
        .create_api_key(
            owner.id,
            NewApiKey::new("brief").expiring_after(Duration::from_millis(1)),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let expired = a.api_key_caller(&expiring).unwrap_err();
    assert!(expired.to_string().contains("expired"), "{expired}");

    // Access goes with the collection (and verify finds nothing left over when the test's
    // database is checked on drop).
    db.delete_collection("private").unwrap().wait(None).unwrap();
    assert_eq!(code(a.access(c.id())), ErrorCode::CollectionNotFound);
}
