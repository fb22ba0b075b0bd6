//! What authorization costs a request: finding the caller of an ingest
//! token and of an API key (SHA-256 plus a map lookup; the key also a
//! constant-time compare), the permission check itself, a login's
//! password check, and finding the person of a session cookie (one row of
//! `sessions.sqlite3` read by its primary key).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use axum::http::{HeaderMap, HeaderValue};
use criterion::{Criterion, criterion_group, criterion_main};
use ward::access::apikey::{self, KeyStore, NewKey};
use ward::access::session::{SessionSettings, Sessions};
use ward::access::users::{self, NewUser, UserStore};
use ward::access::{Access, Need, Permission, Roles};
use ward::secret::Secret;
use ward::source::{Identity, Tokens};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = apikey::create(
        dir.path(),
        &NewKey {
            name: "bench",
            role: "analyst",
            tenant: "acme",
            created_by: "bench",
            expires: Some(apikey::DEFAULT_EXPIRY),
        },
    )
    .unwrap();
    let mut tokens = Tokens::default();
    let token = "ingest-token-0123456789abcdef";
    tokens.insert(
        &Secret::new(token.into()),
        Identity {
            source: "web".into(),
            tenant: "acme".into(),
            recognizer: None,
        },
    );
    let access = Access {
        tokens,
        keys: KeyStore::open(dir.path()).unwrap(),
        roles: Roles::default(),
        users: UserStore::open(dir.path()).unwrap(),
        sessions: Sessions::new(SessionSettings::default()),
    };
    let headers = |t: &str| {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
        h
    };
    let (ingest, api) = (headers(token), headers(&key));
    assert!(access.authenticate(&ingest).is_some());
    assert!(access.authenticate(&api).is_some());
    c.bench_function("authenticate ingest token", |b| {
        b.iter(|| access.authenticate(black_box(&ingest)))
    });
    c.bench_function("authenticate api key", |b| {
        b.iter(|| access.authenticate(black_box(&api)))
    });
    let caller = access.authenticate(&api).unwrap();
    c.bench_function("check permission", |b| {
        b.iter(|| Need::Perm(black_box(Permission::AlertsRespond)).allows(Some(&caller)))
    });

    // People: a login's password check (Argon2id, OWASP parameters), and
    // finding the user of a session cookie on every request.
    let user = users::add(
        dir.path(),
        &NewUser {
            name: "ana",
            role: "analyst",
            tenant: "acme",
            password: "correct horse battery staple",
            created_by: "bench",
        },
    )
    .unwrap();
    assert!(users::verify_password(
        &user.password,
        "correct horse battery staple"
    ));
    let mut group = c.benchmark_group("login");
    group.sample_size(20);
    group.bench_function("verify password (argon2id m=19MiB t=2 p=1)", |b| {
        b.iter(|| users::verify_password(black_box(&user.password), "correct horse battery staple"))
    });
    group.finish();
    // Sessions in `<data>/sessions.sqlite3`, as `ward serve` keeps them.
    let access = Access {
        users: UserStore::open(dir.path()).unwrap(),
        sessions: Sessions::persistent(SessionSettings::default(), dir.path()).unwrap(),
        ..access
    };
    let opened = access.sessions.open(&user);
    let mut cookie = HeaderMap::new();
    cookie.insert(
        "cookie",
        HeaderValue::from_str(&format!("theme=dark; ward_session={}", opened.token)).unwrap(),
    );
    assert_eq!(access.authenticate(&cookie).unwrap().name, "ana");
    c.bench_function("authenticate session cookie", |b| {
        b.iter(|| access.authenticate(black_box(&cookie)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
