//! Provider credentials, relay tokens and scopes.
//!
//! - Passwords are random secrets the relay issues; stored as PBKDF2-SHA256 (per-provider salt).
//! - Access tokens are signed, not stored: `iyse_at_<provider>.<expiry>.<nonce>.<HMAC-SHA256>`
//!   under the relay's token key ([`token_key`]), so checking one needs no lookup. Whether the
//!   provider is still active (and its scope and limits) is answered by its limiter object on every
//!   request (`relay::admit`), so a revocation still applies to the very next request.
//! - Refresh tokens are 32 random bytes; only their SHA-256 is stored, with an expiry (single use).
//! - A token's scope is its provider's: a list of (iysCode, brands, consent types).

use crate::http_error::ApiError;
use crate::util::{ct_eq, hex, now_s, random_bytes, random_token, sha256_hex};
use hmac::{Hmac, Mac};
use iys_core::consent::ConsentType;
use iys_core::{Code, Lang, Mode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use std::cell::RefCell;
use worker::{D1Database, Env, Request};

/// PBKDF2 iterations. The passwords are 32-byte random secrets, so this guards against nothing but a
/// stolen table being checked cheaply; it is kept low because Workers bill CPU per request.
pub const PBKDF2_ITERATIONS: u32 = 20_000;

/// What a provider may touch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// The service provider's IYS code.
    pub iys_code: u64,
    /// Brand codes under it.
    pub brands: Vec<u64>,
    /// Consent types (`ARAMA`, `MESAJ`, `EPOSTA`).
    pub types: Vec<String>,
}

/// A provider row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provider {
    /// `prv_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Login name.
    pub username: String,
    /// JSON list of [`Scope`].
    pub scopes: String,
    /// `strict` or `normalize`.
    pub mode: String,
    /// Requests per second.
    pub rate: f64,
    /// Bucket size.
    pub burst: f64,
    /// Creation time.
    pub created_at: String,
    /// Revocation time.
    pub revoked_at: Option<String>,
    /// When the credentials were last rotated (Unix ms; `None`: never): access tokens issued before
    /// it are refused.
    #[serde(default)]
    pub rotated_at: Option<f64>,
    /// `scopes`, parsed the first time a check needs them (a row is checked up to three times per
    /// request: by the limiter object, then for the path and the consent types). Nothing assigns
    /// `scopes` after a row is read, so the parse cannot go stale.
    #[serde(skip)]
    parsed: std::cell::OnceCell<Vec<Scope>>,
}

impl Provider {
    /// The parsed scopes (empty on a bad row: nothing is allowed).
    pub fn scope_list(&self) -> Vec<Scope> {
        self.scopes_parsed().to_vec()
    }

    fn scopes_parsed(&self) -> &[Scope] {
        self.parsed.get_or_init(|| serde_json::from_str(&self.scopes).unwrap_or_default())
    }

    /// Validation mode.
    pub fn mode(&self) -> Mode {
        if self.mode == "normalize" {
            Mode::Normalize
        } else {
            Mode::Strict
        }
    }

    /// Checks (iysCode, brandCode) and, when given, the consent types. A provider may hold several
    /// entries for one iysCode (admin accepts them), so every entry counts, each on its own: the
    /// request is in scope when some entry names the iysCode and the brand and, for each type asked
    /// for, some entry naming that iysCode and that brand also names the type. An entry's types never
    /// extend to another entry's brands (`[{brands:[A], types:[MESAJ]}, {brands:[B], types:[EPOSTA]}]`
    /// allows MESAJ on A and EPOSTA on B, not EPOSTA on A).
    pub fn check_scope(&self, iys: u64, brand: u64, types: &[ConsentType], lang: Lang) -> Result<(), ApiError> {
        let scopes = self.scopes_parsed();
        let deny = |what: String| Err(ApiError::code(Code::OutOfScope, &[("scope", what)], lang));
        if !scopes.iter().any(|s| s.iys_code == iys) {
            return deny(format!("iysCode {iys}"));
        }
        let allowed = self.types_for(iys, brand);
        if allowed.is_empty() {
            return deny(format!("brandCode {brand}"));
        }
        if let Some(t) = types.iter().find(|t| !allowed.contains(t)) {
            return deny(format!("type {}", t.as_str()));
        }
        Ok(())
    }

    /// The consent types this provider holds on (`iys`, `brand`): those of every entry that names both
    /// (empty: the brand is out of scope). Unknown type names in a row count for nothing.
    pub fn types_for(&self, iys: u64, brand: u64) -> Vec<ConsentType> {
        let mut out: Vec<ConsentType> = self
            .scopes_parsed()
            .iter()
            .filter(|s| s.iys_code == iys && s.brands.contains(&brand))
            .flat_map(|s| s.types.iter().filter_map(|t| ConsentType::from_wire(t)))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The public view (no hash).
    pub fn public(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "username": self.username,
            "scopes": self.scope_list(), "mode": self.mode, "rate": self.rate, "burst": self.burst,
            "createdAt": self.created_at, "revokedAt": self.revoked_at, "rotatedAt": self.rotated_at.map(|t| t as i64),
        })
    }

    /// Whether an access token issued at `issued_ms` (`None`: a token from before tokens carried
    /// their issue time) still stands after the last rotation of these credentials.
    pub fn token_stands(&self, issued_ms: Option<i64>) -> bool {
        match self.rotated_at {
            None => true,
            Some(r) => issued_ms.is_some_and(|i| i as f64 >= r),
        }
    }
}

/// `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = random_bytes(16)?;
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, PBKDF2_ITERATIONS, &mut out);
    Ok(format!("pbkdf2-sha256${PBKDF2_ITERATIONS}${}${}", hex(&salt), hex(&out)))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Constant-time check of a password against its stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [alg, iters, salt, hash] = parts[..] else { return false };
    if alg != "pbkdf2-sha256" {
        return false;
    }
    let (Ok(iters), Some(salt), Some(hash)) = (iters.parse::<u32>(), unhex(salt), unhex(hash)) else { return false };
    let mut out = vec![0u8; hash.len()];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iters, &mut out);
    ct_eq(&out, &hash)
}

#[derive(Deserialize)]
struct ProviderWithHash {
    #[serde(flatten)]
    p: Provider,
    password_hash: String,
}

/// Loads a provider by id.
pub async fn provider_by_id(db: &D1Database, id: &str) -> worker::Result<Option<Provider>> {
    db.prepare("SELECT * FROM providers WHERE id = ?1").bind(&[id.into()])?.first::<Provider>(None).await
}

fn env_u64(env: &Env, name: &str, default: u64) -> u64 {
    env.var(name).ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(default)
}

/// A new token pair for `provider_id`, both dated `issued_ms`: the start of the grant, taken before
/// its credential was read, so that a grant racing a rotation (`rotated_at`) is dated before it and
/// its tokens are refused (`Provider::token_stands`).
async fn issue(db: &D1Database, env: &Env, provider_id: &str, issued_ms: i64) -> Result<Value, ApiError> {
    let ttl = env_u64(env, "RELAY_TOKEN_TTL", 7200);
    let rttl = env_u64(env, "RELAY_REFRESH_TTL", 14400);
    let now = now_s();
    let key = token_key(env).map_err(|e| ApiError::internal(&e))?;
    let access = mint_access(&key, provider_id, issued_ms, now + ttl as i64).map_err(|e| ApiError::internal(&e))?;
    let refresh = random_token("iyse_rt_").map_err(|e| ApiError::internal(&e))?;
    let ins = "INSERT INTO tokens (token_hash, provider_id, kind, expires_at, issued_ms) VALUES (?1, ?2, ?3, ?4, ?5)";
    db.batch(vec![
        db.prepare(ins).bind(&[
            sha256_hex(refresh.as_bytes()).into(),
            provider_id.into(),
            "refresh".into(),
            ((now + rttl as i64) as f64).into(),
            (issued_ms as f64).into(),
        ])?,
        db.prepare("DELETE FROM tokens WHERE expires_at < ?1").bind(&[((now - 86_400) as f64).into()])?,
    ])
    .await?;
    Ok(json!({
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": ttl,
        "refresh_expires_in": rttl,
        "token_type": "bearer",
    }))
}

/// `POST /oauth2/token` (IYS's JSON body, already read by `relay::read_json`; password and refresh
/// grants). Returns (provider id, answer).
pub async fn token_endpoint(db: &D1Database, env: &Env, v: &Value, lang: Lang) -> (String, Result<Value, ApiError>) {
    let started_ms = crate::util::now_ms() as i64;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match s("grant_type").as_str() {
        "password" => {
            let (user, pass) = (s("username"), s("password"));
            if user.is_empty() || pass.is_empty() {
                return (String::new(), Err(ApiError::code(Code::BadGrant, &[], lang)));
            }
            let row = match db.prepare("SELECT * FROM providers WHERE username = ?1").bind(&[user.into()]) {
                Ok(st) => st.first::<ProviderWithHash>(None).await,
                Err(e) => Err(e),
            };
            let row = match row {
                Ok(r) => r,
                Err(e) => return (String::new(), Err(e.into())),
            };
            // Always run one PBKDF2 so unknown users take as long as known ones.
            let dummy = "pbkdf2-sha256$20000$00000000000000000000000000000000$0000000000000000000000000000000000000000000000000000000000000000";
            let ok = verify_password(&pass, row.as_ref().map(|r| r.password_hash.as_str()).unwrap_or(dummy));
            match row {
                Some(r) if ok && r.p.revoked_at.is_none() => {
                    let id = r.p.id.clone();
                    (id.clone(), issue(db, env, &id, started_ms).await)
                }
                Some(r) if ok => (r.p.id, Err(ApiError::code(Code::Revoked, &[], lang))),
                _ => (String::new(), Err(ApiError::code(Code::BadCredentials, &[], lang))),
            }
        }
        "refresh_token" => {
            let rt = s("refresh_token");
            if rt.is_empty() {
                return (String::new(), Err(ApiError::code(Code::BadGrant, &[], lang)));
            }
            #[derive(Deserialize)]
            struct T {
                provider_id: String,
                expires_at: f64,
                issued_ms: Option<f64>,
            }
            // A refresh token is good for one use: taking it is deleting it, in one statement, so of
            // two grants presenting the same token only the one whose delete found the row goes on.
            let taken = match db
                .prepare(
                    "DELETE FROM tokens WHERE token_hash = ?1 AND kind = 'refresh' \
                     RETURNING provider_id, expires_at, issued_ms",
                )
                .bind(&[sha256_hex(rt.as_bytes()).into()])
            {
                Ok(st) => st.first::<T>(None).await,
                Err(e) => Err(e),
            };
            let t = match taken {
                Ok(Some(t)) => t,
                Ok(None) => return (String::new(), Err(ApiError::code(Code::InvalidToken, &[], lang))),
                Err(e) => return (String::new(), Err(e.into())),
            };
            let p = match provider_by_id(db, &t.provider_id).await {
                Ok(Some(p)) => p,
                Ok(None) => return (String::new(), Err(ApiError::code(Code::InvalidToken, &[], lang))),
                Err(e) => return (String::new(), Err(e.into())),
            };
            if p.revoked_at.is_some() {
                return (p.id, Err(ApiError::code(Code::Revoked, &[], lang)));
            }
            // Expired, or issued before the credentials were rotated (by a grant that raced the
            // rotation: the rotation's own delete removed every older one).
            if (t.expires_at as i64) <= now_s() || !p.token_stands(t.issued_ms.map(|ms| ms as i64)) {
                return (String::new(), Err(ApiError::code(Code::InvalidToken, &[], lang)));
            }
            (p.id.clone(), issue(db, env, &p.id, started_ms).await)
        }
        _ => (String::new(), Err(ApiError::code(Code::BadGrant, &[], lang))),
    }
}

/// The prefix of a relay access token.
const ACCESS_PREFIX: &str = "iyse_at_";
/// What the token key is derived from `ADMIN_SECRET` with, when `RELAY_TOKEN_SECRET` is not set.
const KEY_LABEL: &[u8] = b"iys-edge relay access tokens v1";

thread_local! {
    /// The token key, computed once per isolate (secrets do not change within one).
    static TOKEN_KEY: RefCell<Option<[u8; 32]>> = const { RefCell::new(None) };
}

fn hmac32(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// The key relay access tokens are signed with: HMAC-SHA256 over `RELAY_TOKEN_SECRET` when that
/// secret is set (at least 32 characters), else derived from `ADMIN_SECRET` (an admin can mint
/// providers anyway, so the derived key gives it nothing new). Changing the secret it comes from
/// ends every access token; providers log in again (or use their refresh token, which is stored).
pub fn token_key(env: &Env) -> Result<[u8; 32], String> {
    if let Some(k) = TOKEN_KEY.with(|k| *k.borrow()) {
        return Ok(k);
    }
    let own = env.secret("RELAY_TOKEN_SECRET").map(|s| s.to_string()).ok().filter(|s| !s.is_empty());
    let key = match own {
        Some(s) if s.len() >= 32 => hmac32(s.as_bytes(), &[KEY_LABEL]),
        Some(_) => return Err("RELAY_TOKEN_SECRET must be at least 32 characters".into()),
        None => {
            let admin = env.secret("ADMIN_SECRET").map(|s| s.to_string()).map_err(|_| "ADMIN_SECRET is not set")?;
            if admin.len() < 16 {
                return Err("ADMIN_SECRET must be at least 16 characters".into());
            }
            hmac32(admin.as_bytes(), &[KEY_LABEL])
        }
    };
    TOKEN_KEY.with(|k| *k.borrow_mut() = Some(key));
    Ok(key)
}

/// A signed access token for `provider_id`, issued at `issued_ms` (Unix ms: a credential rotation
/// ends the tokens issued before it) and good until `expires_at` (Unix seconds).
pub fn mint_access(key: &[u8; 32], provider_id: &str, issued_ms: i64, expires_at: i64) -> Result<String, String> {
    let nonce = hex(&random_bytes(16)?);
    let body = format!("{provider_id}.{expires_at}.{nonce}.{issued_ms}");
    Ok(format!("{ACCESS_PREFIX}{body}.{}", hex(&hmac32(key, &[ACCESS_PREFIX.as_bytes(), body.as_bytes()]))))
}

/// What a correctly signed access token names: the provider id, the expiry (Unix seconds) and the
/// issue time (Unix ms; `None` for a token minted before tokens carried it, which a credential
/// rotation therefore ends). `None`: not one of ours. The signature is compared in constant time;
/// the expiry is checked by the caller.
pub fn open_access<'t>(key: &[u8; 32], token: &'t str) -> Option<(&'t str, i64, Option<i64>)> {
    let rest = token.strip_prefix(ACCESS_PREFIX)?;
    let (body, mac) = rest.rsplit_once('.')?;
    let want = hex(&hmac32(key, &[ACCESS_PREFIX.as_bytes(), body.as_bytes()]));
    if !ct_eq(want.as_bytes(), mac.as_bytes()) {
        return None;
    }
    let mut parts = body.splitn(3, '.');
    let (id, exp, tail) = (parts.next()?, parts.next()?.parse::<i64>().ok()?, parts.next()?);
    let issued = match tail.split_once('.') {
        Some((_, issued)) => Some(issued.parse::<i64>().ok()?),
        None => None,
    };
    Some((id, exp, issued))
}

/// The provider id behind `Authorization: Bearer <relay access token>`, and the token's issue time
/// (Unix ms, when it carries one): the signature and expiry are checked here (no lookup); whether
/// that provider is still active, and whether a rotation of its credentials has ended the token,
/// is decided on the limiter's answer (`relay::admit`), asked on every request.
pub fn authenticate(env: &Env, req: &Request, lang: Lang) -> Result<(String, Option<i64>), ApiError> {
    let h = req.headers().get("Authorization").ok().flatten().unwrap_or_default();
    let token = h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")).map(str::trim).unwrap_or("");
    if token.is_empty() {
        return Err(ApiError::code(Code::MissingToken, &[], lang));
    }
    let key = token_key(env).map_err(|e| ApiError::internal(&e))?;
    match open_access(&key, token) {
        Some((id, exp, issued)) if exp > now_s() => Ok((id.to_string(), issued)),
        _ => Err(ApiError::code(Code::InvalidToken, &[], lang)),
    }
}

/// Checks `Authorization: Bearer <ADMIN_SECRET>` in constant time.
pub fn is_admin(env: &Env, req: &Request) -> bool {
    let Ok(secret) = env.secret("ADMIN_SECRET").map(|s| s.to_string()) else { return false };
    if secret.len() < 16 {
        return false;
    }
    let h = req.headers().get("Authorization").ok().flatten().unwrap_or_default();
    let given = h.strip_prefix("Bearer ").unwrap_or("");
    // Compare hashes so the length of the secret does not leak either.
    ct_eq(sha256_hex(given.as_bytes()).as_bytes(), sha256_hex(secret.as_bytes()).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_scopes(scopes: &str) -> Provider {
        Provider {
            id: "prv_t".into(),
            name: "t".into(),
            username: "u".into(),
            scopes: scopes.into(),
            mode: "strict".into(),
            rate: 1.0,
            burst: 1.0,
            created_at: String::new(),
            revoked_at: None,
            rotated_at: None,
            parsed: std::cell::OnceCell::new(),
        }
    }

    fn verdict(p: &Provider, iys: u64, brand: u64, types: &[ConsentType]) -> String {
        match p.check_scope(iys, brand, types, Lang::En) {
            Ok(()) => "ok".into(),
            Err(e) => {
                assert_eq!((e.status, e.errors[0]["iysEdgeCode"].as_str()), (403, Some("auth/out-of-scope")));
                e.errors[0]["params"]["scope"].as_str().unwrap_or_default().to_string()
            }
        }
    }

    #[test]
    fn every_scope_entry_of_an_iys_code_counts_each_on_its_own() {
        use ConsentType::{Arama, Eposta, Mesaj};
        let p = with_scopes(
            r#"[{"iysCode":1,"brands":[10],"types":["MESAJ"]},{"iysCode":1,"brands":[20],"types":["EPOSTA"]},
                {"iysCode":1,"brands":[10],"types":["ARAMA"]},{"iysCode":2,"brands":[30],"types":["MESAJ"]}]"#,
        );
        // Each entry's own (brand, type) pairs, the second entry's included.
        assert_eq!(verdict(&p, 1, 10, &[]), "ok");
        assert_eq!(verdict(&p, 1, 10, &[Mesaj]), "ok");
        assert_eq!(verdict(&p, 1, 20, &[]), "ok");
        assert_eq!(verdict(&p, 1, 20, &[Eposta]), "ok");
        // Two entries naming the same brand: each type is covered by one of them.
        assert_eq!(verdict(&p, 1, 10, &[Mesaj, Arama]), "ok");
        assert_eq!(p.types_for(1, 10), vec![Arama, Mesaj]);
        // An entry's types do not reach another entry's brands.
        assert_eq!(verdict(&p, 1, 10, &[Eposta]), "type EPOSTA");
        assert_eq!(verdict(&p, 1, 20, &[Mesaj]), "type MESAJ");
        assert_eq!(verdict(&p, 1, 20, &[Eposta, Arama]), "type ARAMA");
        // Nor another iysCode's.
        assert_eq!(verdict(&p, 1, 30, &[]), "brandCode 30");
        assert_eq!(verdict(&p, 2, 10, &[Mesaj]), "brandCode 10");
        assert_eq!(verdict(&p, 3, 10, &[]), "iysCode 3");
        assert_eq!(p.types_for(1, 30), vec![]);
        // A row that does not parse allows nothing.
        assert_eq!(verdict(&with_scopes("not json"), 1, 10, &[]), "iysCode 1");
    }

    #[test]
    fn access_tokens_open_only_unaltered_under_their_key() {
        let key = [7u8; 32];
        let t = mint_access(&key, "prv_abc-1", 1_899_999_000_123, 1_900_000_000).unwrap_or_default();
        assert_eq!(open_access(&key, &t), Some(("prv_abc-1", 1_900_000_000, Some(1_899_999_000_123))));
        assert_eq!(open_access(&[8u8; 32], &t), None, "another key");
        let mut flipped = t.clone();
        let last = if flipped.ends_with('0') { "1" } else { "0" };
        flipped.replace_range(flipped.len() - 1.., last);
        assert_eq!(open_access(&key, &flipped), None);
        assert_eq!(open_access(&key, &t[..t.len() - 8]), None);
        assert_eq!(open_access(&key, &t.replace("prv_abc-1", "prv_abc-2")), None, "another provider");
        assert_eq!(open_access(&key, &t.replace(".1900000000.", ".1900000001.")), None, "another expiry");
        assert_eq!(open_access(&key, "iyse_at_"), None);
        assert_eq!(open_access(&key, ""), None);
        assert_eq!(open_access(&key, &t.replace(".1899999000123.", ".1899999000124.")), None, "another issue time");
    }

    #[test]
    fn a_rotation_ends_the_tokens_issued_before_it_and_those_without_an_issue_time() {
        let key = [7u8; 32];
        // A token as minted before tokens carried their issue time.
        let body = "prv_a.1900000000.00112233445566778899aabbccddeeff";
        let old = format!("{ACCESS_PREFIX}{body}.{}", hex(&hmac32(&key, &[ACCESS_PREFIX.as_bytes(), body.as_bytes()])));
        assert_eq!(open_access(&key, &old), Some(("prv_a", 1_900_000_000, None)));
        let row = |rotated: Value| -> Provider {
            serde_json::from_value(json!({"id": "prv_a", "name": "a", "username": "u", "scopes": "[]",
                "mode": "strict", "rate": 1.0, "burst": 1.0, "created_at": "2026-01-01T00:00:00Z",
                "revoked_at": null, "rotated_at": rotated}))
            .unwrap_or_else(|e| panic!("row: {e}"))
        };
        let never = row(Value::Null);
        assert!(never.token_stands(None) && never.token_stands(Some(5)));
        let rotated = row(json!(1_000));
        assert!(!rotated.token_stands(None), "a token without an issue time");
        assert!(!rotated.token_stands(Some(999)), "issued before the rotation");
        assert!(rotated.token_stands(Some(1_000)) && rotated.token_stands(Some(1_001)));
    }
}
