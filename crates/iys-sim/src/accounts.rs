//! Accounts: the integrator, its service providers and brands, credentials, permissions and limits,
//! read from a small TOML file (the built-in default is `accounts.default.toml`).

use std::collections::BTreeMap;

use iys_core::consent::ConsentType;
use serde::{Deserialize, Serialize};

/// The built-in accounts, compiled in.
pub const DEFAULT_TOML: &str = include_str!("../accounts.default.toml");

/// Everything the sim knows about who may do what.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    /// The integrator ("iş ortağı").
    pub integrator: Integrator,
    /// Credentials.
    pub users: Vec<User>,
    /// Limits and timings.
    #[serde(default)]
    pub limits: Limits,
    /// Service providers that authorised the integrator.
    #[serde(default)]
    pub sps: Vec<ServiceProvider>,
}

/// The integrator.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Integrator {
    /// Its IYS code (`/integrator/{code}/…`).
    pub code: u64,
    /// Its name.
    #[serde(default)]
    pub title: String,
}

/// A username and password. Without `iys_code` the user acts as the integrator (per-brand
/// permissions); with it, as that service provider (everything on its own brands).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Username (the password grant's `username`).
    pub username: String,
    /// Password.
    pub password: String,
    /// Set for a service provider's own account.
    #[serde(default)]
    pub iys_code: Option<u64>,
}

/// Limits and timings; every field has a default.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Token requests per username per rolling hour before H084.
    pub tokens_per_hour: u32,
    /// Requests per username per clock second before H124 (429).
    pub requests_per_second: u32,
    /// Access token lifetime, seconds.
    pub access_token_ttl: u64,
    /// Refresh token lifetime, seconds.
    pub refresh_token_ttl: u64,
    /// How long async batch items stay `enqueue`, milliseconds.
    pub batch_delay_ms: u64,
    /// How far back `consents/changes` looks, days.
    pub pull_window_days: u64,
    /// The most recent stretch `consents/changes` leaves out, seconds.
    pub pull_exclude_recent_secs: u64,
    /// Whether iys-core's business-day rule for consentDate is applied.
    pub business_day_window: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            tokens_per_hour: 10,
            requests_per_second: 100,
            access_token_ttl: 7200,
            refresh_token_ttl: 14400,
            batch_delay_ms: 200,
            pull_window_days: 7,
            pull_exclude_recent_secs: 3600,
            business_day_window: true,
        }
    }
}

/// A service provider ("hizmet sağlayıcı").
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceProvider {
    /// Its IYS number.
    pub iys_code: u64,
    /// Its name.
    #[serde(default)]
    pub title: String,
    /// Its brands.
    #[serde(default)]
    pub brands: Vec<BrandAccount>,
}

/// A brand and the integrator's permissions on it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BrandAccount {
    /// Its IYS number.
    pub brand_code: u64,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// The SP's main brand.
    #[serde(default)]
    pub master: bool,
    /// Whether the integrator may do reconciliation.
    #[serde(default)]
    pub agreement_control: bool,
    /// `ARAMA`/`MESAJ`/`EPOSTA` → `read` or `write`; a missing type means no permission.
    #[serde(default)]
    pub permissions: BTreeMap<String, Permission>,
    /// The retailer codes that exist on this brand: a consent naming another one (`retailerCode`,
    /// or an item of `retailerAccess`) is refused 403 H180, as IYS does. Absent: retailers are not
    /// modelled on this brand and any code is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retailers: Option<Vec<u64>>,
}

/// A permission level.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Query only.
    Read,
    /// Query and record.
    Write,
}

impl Permission {
    /// `"read"` / `"write"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
        }
    }
}

impl BrandAccount {
    /// The integrator's permission for a consent type.
    pub fn permission(&self, kind: ConsentType) -> Option<Permission> {
        self.permissions.get(kind.as_str()).copied()
    }
}

impl Accounts {
    /// Parses an accounts file and checks it hangs together.
    pub fn from_toml(text: &str) -> Result<Accounts, String> {
        let accounts: Accounts = toml::from_str(text).map_err(|e| format!("accounts: {e}"))?;
        for sp in &accounts.sps {
            for b in &sp.brands {
                for k in b.permissions.keys() {
                    if ConsentType::from_wire(k).is_none() {
                        return Err(format!("accounts: brand {}: unknown consent type {k:?}", b.brand_code));
                    }
                }
            }
        }
        for u in &accounts.users {
            if let Some(code) = u.iys_code {
                if accounts.sp(code).is_none() {
                    return Err(format!("accounts: user {:?}: unknown iys_code {code}", u.username));
                }
            }
        }
        Ok(accounts)
    }

    /// The built-in accounts.
    pub fn builtin() -> Accounts {
        // The default file is part of the binary and covered by a test.
        Accounts::from_toml(DEFAULT_TOML).expect("built-in accounts.default.toml parses")
    }

    /// A service provider by IYS number.
    pub fn sp(&self, iys_code: u64) -> Option<&ServiceProvider> {
        self.sps.iter().find(|s| s.iys_code == iys_code)
    }

    /// A user by username.
    pub fn user(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }
}

impl ServiceProvider {
    /// A brand by IYS number.
    pub fn brand(&self, brand_code: u64) -> Option<&BrandAccount> {
        self.brands.iter().find(|b| b.brand_code == brand_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_has_a_brand_without_eposta_write() {
        let a = Accounts::builtin();
        assert_eq!(a.sps.len(), 2);
        let b = a.sp(600001).and_then(|s| s.brand(600002)).expect("brand 600002");
        assert_eq!(b.permission(ConsentType::Eposta), Some(Permission::Read));
        assert_eq!(b.permission(ConsentType::Mesaj), Some(Permission::Write));
        assert_eq!(a.limits, Limits::default());
    }

    #[test]
    fn unknown_permission_type_is_refused() {
        let t = DEFAULT_TOML.replace("EPOSTA = \"read\"", "FAX = \"read\"");
        assert!(Accounts::from_toml(&t).is_err());
    }
}
