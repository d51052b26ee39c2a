//! The consent payload (IYS's wire type) and every stateless rule IYS enforces on it.
//! Validation bodies are PLACEHOLDERS — being replaced by the consent work.

use crate::diagnostic::{Diagnostic, Report};
use crate::json::Value;
use crate::recipient::{Mode, Recipient};
use crate::time::BusinessDays;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub enum $name { $($(#[$vm])* #[cfg_attr(feature = "serde", serde(rename = $s))] $v),* }

        impl $name {
            /// Every value, in IYS's order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// The exact IYS spelling.
            pub const fn as_str(self) -> &'static str { match self { $($name::$v => $s),* } }
            /// Exact, case-sensitive match on the IYS spelling.
            pub fn from_wire(s: &str) -> Option<Self> { match s { $($s => Some($name::$v),)* _ => None } }
        }
    };
}

wire_enum!(
    /// The channel a consent covers.
    ConsentType {
        /// Voice calls.
        Arama = "ARAMA",
        /// Short messages (SMS).
        Mesaj = "MESAJ",
        /// E-mail.
        Eposta = "EPOSTA",
    }
);

wire_enum!(
    /// Individual or merchant recipient.
    RecipientType {
        /// An individual.
        Bireysel = "BIREYSEL",
        /// A merchant or craftsman (source and consentDate optional on first record).
        Tacir = "TACIR",
    }
);

wire_enum!(
    /// Consent or rejection.
    Status {
        /// Consent.
        Onay = "ONAY",
        /// Rejection.
        Ret = "RET",
    }
);

wire_enum!(
    /// Where the service provider obtained the consent: the 13 values a provider may send.
    Source {
        /// In a physical setting.
        HsFizikselOrtam = "HS_FIZIKSEL_ORTAM",
        /// A signed form (wet signature).
        HsIslakImza = "HS_ISLAK_IMZA",
        /// The provider's website.
        HsWeb = "HS_WEB",
        /// The provider's call centre.
        HsCagriMerkezi = "HS_CAGRI_MERKEZI",
        /// The provider's social media.
        HsSosyalMedya = "HS_SOSYAL_MEDYA",
        /// The provider's e-mail.
        HsEposta = "HS_EPOSTA",
        /// The provider's short-message number.
        HsMesaj = "HS_MESAJ",
        /// The provider's mobile app.
        HsMobil = "HS_MOBIL",
        /// Another electronic medium of the provider.
        HsEortam = "HS_EORTAM",
        /// An event the provider organised.
        HsEtkinlik = "HS_ETKINLIK",
        /// The provider's ATM.
        HsAtm = "HS_ATM",
        /// On record before 2015-05-01 (date fixed at 2015-05-01 00:00:00).
        Hs2015 = "HS_2015",
        /// The provider's own decision to reject (status must be RET).
        HsKarar = "HS_KARAR",
    }
);

/// The 8 keys IYS allows in a consent, in IYS's H118 order.
pub const ALLOWED_FIELDS: [&str; 8] =
    ["recipientType", "retailerAccess", "recipient", "retailerCode", "source", "type", "consentDate", "status"];

/// A consent exactly as IYS's JSON carries it (`POST …/consents`, batch items).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", deny_unknown_fields))]
pub struct Consent {
    /// `+905321234567` or an e-mail address.
    pub recipient: String,
    /// BIREYSEL or TACIR.
    pub recipient_type: RecipientType,
    /// ARAMA, MESAJ or EPOSTA.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: ConsentType,
    /// ONAY or RET.
    pub status: Status,
    /// One of the 13 HS_* sources (optional for a new TACIR record).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub source: Option<Source>,
    /// `YYYY-MM-DD HH:mm:ss`, Turkey time (optional for a new TACIR record).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub consent_date: Option<String>,
    /// The retailer that obtained the consent.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub retailer_code: Option<u64>,
    /// Retailers allowed to use the consent.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub retailer_access: Option<Vec<u64>>,
}

/// A consent that passed every rule: the only kind a relay may forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidConsent {
    consent: Consent,
    recipient: Recipient,
}

impl ValidConsent {
    /// The consent in wire form (recipient normalised when the mode allowed it).
    pub fn consent(&self) -> &Consent {
        &self.consent
    }

    /// The parsed recipient.
    pub fn recipient(&self) -> &Recipient {
        &self.recipient
    }

    /// The consent, by value.
    pub fn into_consent(self) -> Consent {
        self.consent
    }
}

/// Everything a caller can choose about validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Strict wire form (as IYS judges) or normalisation of human-written recipients.
    pub mode: Mode,
    /// "Now", as Unix seconds; the core has no clock.
    pub now: i64,
    /// The business-day window for consentDate; `None` turns it off.
    pub window: Option<BusinessDays>,
}

impl Options {
    /// Strict mode, the 3-business-day window with holidays, at `now` (Unix seconds).
    pub fn new(now: i64) -> Self {
        Options { mode: Mode::Strict, now, window: Some(BusinessDays::default()) }
    }
}

/// Validates one consent given as JSON text.
pub fn validate_consent(json: &str, opts: &Options) -> Report<ValidConsent> {
    match crate::json::parse(json) {
        Ok(v) => validate_consent_value(&v, opts),
        Err(d) => Report::from_parts(None, vec![d]),
    }
}

/// Validates one consent given as a parsed JSON value. Paths are relative to the consent (`/recipient`).
pub fn validate_consent_value(value: &Value, opts: &Options) -> Report<ValidConsent> {
    let _ = (value, opts);
    Report::from_parts(None, Vec::<Diagnostic>::new())
}
