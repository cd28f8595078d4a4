//! HTTP basic authentication against bcrypt hashes: the `basic_auth_users` of the
//! Prometheus exporters' web configuration.

use super::{text, Body};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// A hash no password matches, checked for unknown users so that a wrong user name
/// takes as long to refuse as a wrong password (no user enumeration by timing).
const DUMMY_HASH: &str = "$2b$10$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z3KMRhCJa6BnTEZw9wYd.3gu";

/// Most bcrypt checks at once: each takes tens of milliseconds of a core by design, so
/// a flood of wrong passwords queues here instead of taking every blocking thread.
const CHECKS_AT_ONCE: usize = 2;

/// Users and their bcrypt password hashes, and the paths served without credentials.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    open: Vec<String>,
    /// Per user, a digest of the password last verified: bcrypt is slow on purpose, and
    /// a scraper sends the same credentials every few seconds.
    verified: Mutex<HashMap<String, [u8; 32]>>,
    checks: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    /// Users with their bcrypt hashes (`$2a$`, `$2b$` or `$2y$`, as `htpasswd -B` or
    /// `mkpasswd` make them). An error names the user whose hash is not one.
    pub fn new(users: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for (user, hash) in users {
            if user.is_empty() || user.contains(':') {
                return Err(format!(
                    "user {user:?}: a user name must be non-empty and without ':'"
                ));
            }
            if let Err(e) = hash.parse::<bcrypt::HashParts>() {
                return Err(format!(
                    "user {user:?}: the password hash is not a bcrypt hash ({e}); make one with `htpasswd -nBC 10 {user}`"
                ));
            }
            map.insert(user, hash);
        }
        if map.is_empty() {
            return Err("no users: give at least one user, or no basic_auth_users".into());
        }
        Ok(BasicAuth {
            users: map,
            open: Vec::new(),
            verified: Mutex::default(),
            checks: Arc::new(tokio::sync::Semaphore::new(CHECKS_AT_ONCE)),
        })
    }

    /// Serve `path` without credentials (a liveness probe's `/healthz`, say).
    pub fn open_path(mut self, path: &str) -> Self {
        self.open.push(path.to_string());
        self
    }

    /// The user names.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Whether `user` with `password` may in.
    pub async fn verify(&self, user: &str, password: &str) -> bool {
        let digest: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0u8])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
            .is_some_and(|d| *d == digest)
        {
            return true;
        }
        let (hash, known) = match self.users.get(user) {
            Some(h) => (h.clone(), true),
            None => (DUMMY_HASH.to_string(), false),
        };
        let Ok(_permit) = Arc::clone(&self.checks).acquire_owned().await else {
            return false;
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false)
            && known;
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(user.to_string(), digest);
        }
        ok
    }
}

/// The credentials of an `Authorization: Basic …` header.
fn credentials<B>(req: &Request<B>) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn unauthorized() -> Response<Body> {
    let mut resp = text(StatusCode::UNAUTHORIZED, "authentication required\n");
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"metrics\", charset=\"UTF-8\""),
    );
    resp
}

/// The refusal of a request without valid credentials, if `auth` asks for them.
pub(super) async fn check<B>(auth: Option<&BasicAuth>, req: &Request<B>) -> Option<Response<Body>> {
    let auth = auth?;
    if auth.open.iter().any(|p| p == req.uri().path()) {
        return None;
    }
    let Some((user, password)) = credentials(req) else {
        return Some(unauthorized());
    };
    if auth.verify(&user, &password).await {
        None
    } else {
        tracing::debug!(user = %user, "basic authentication refused");
        Some(unauthorized())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(p: &str) -> String {
        bcrypt::hash(p, 4).unwrap()
    }

    #[test]
    fn the_hash_checked_for_unknown_users_is_a_real_bcrypt_hash() {
        assert!(DUMMY_HASH.parse::<bcrypt::HashParts>().is_ok());
        assert_eq!(bcrypt::verify("anything", DUMMY_HASH).ok(), Some(false));
    }

    #[test]
    fn a_hash_that_is_not_bcrypt_is_refused_naming_the_user() {
        let e = BasicAuth::new([("alice".to_string(), "plain".to_string())]).unwrap_err();
        assert!(e.contains("\"alice\"") && e.contains("bcrypt"), "{e}");
    }

    #[test]
    fn the_right_password_passes_and_a_wrong_one_or_unknown_user_does_not() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let auth = BasicAuth::new([("alice".to_string(), hash("s3cret"))]).unwrap();
        rt.block_on(async {
            assert!(auth.verify("alice", "s3cret").await);
            // Again, from the cache.
            assert!(auth.verify("alice", "s3cret").await);
            assert!(!auth.verify("alice", "s3cret ").await);
            assert!(!auth.verify("bob", "s3cret").await);
        });
    }

    #[test]
    fn basic_credentials_are_decoded_and_other_schemes_ignored() {
        let req = Request::builder()
            .header("authorization", "Basic YWxpY2U6czNjOnJldA==")
            .body(())
            .unwrap();
        assert_eq!(credentials(&req), Some(("alice".into(), "s3c:ret".into())));
        let req = Request::builder()
            .header("authorization", "Bearer abc")
            .body(())
            .unwrap();
        assert_eq!(credentials(&req), None);
    }
}
