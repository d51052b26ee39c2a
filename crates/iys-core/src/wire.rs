//! IYS request and response bodies other than the consent itself (token, batch, status, pull, errors).
//! Shared by iys-sim, iys-worker and iys-cli. Serde derives only: these types are compatibility promises.
//!
//! Field names are IYS's own (camelCase, except the OAuth2 token bodies, which are snake_case).
//! Where public sources disagree on a spelling, the type *writes* the official one and *reads* both
//! (`subrequestId` / `subRequestId`, `token_type` / `tokenType`).
//!
//! ```
//! use iys_core::wire::{BatchResponse, ErrorBody};
//! let b: BatchResponse = serde_json::from_str(
//!     r#"{"requestId":"r1","subRequests":[{"subRequestId":"s1","recipient":"+905321234567",
//!         "recipientType":"BIREYSEL","type":"MESAJ","status":"ONAY","source":"HS_WEB",
//!         "consentDate":"2024-01-02 10:00:00"}]}"#,
//! ).unwrap();
//! assert_eq!(b.sub_requests[0].sub_request_id, "s1");
//! let e: ErrorBody = serde_json::from_str(r#"{"errors":[{"code":"H114","message":"…","location":["recipient"]}]}"#).unwrap();
//! assert_eq!(e.errors[0].code, "H114");
//! ```

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::consent::{ConsentType, RecipientType, Status};

/// Any JSON value, for the `value` of an error item (IYS echoes the offending value as it was sent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WireValue {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<WireValue>),
    /// An object.
    Object(BTreeMap<String, WireValue>),
}

/// One segment of an error's `location`: a field name or an array index (`["retailerAccess", 2]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LocationSegment {
    /// An array index.
    Index(u64),
    /// A field name.
    Key(String),
}

impl LocationSegment {
    /// Splits a JSON Pointer (`/3/recipient`) into segments; all-digit tokens become indexes.
    pub fn from_pointer(pointer: &str) -> Vec<LocationSegment> {
        pointer
            .split('/')
            .skip(1)
            .map(|t| {
                let t = t.replace("~1", "/").replace("~0", "~");
                match t.parse::<u64>() {
                    Ok(i) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => LocationSegment::Index(i),
                    _ => LocationSegment::Key(t),
                }
            })
            .collect()
    }
}

/// One item of IYS's error list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IysError {
    /// The H-code (`"H121"`).
    pub code: String,
    /// Turkish text.
    #[serde(default)]
    pub message: String,
    /// Where in the body: field names and indexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Vec<LocationSegment>>,
    /// The offending value, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<WireValue>,
    /// Position in a batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
}

impl IysError {
    /// An error with a code and message only.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        IysError { code: code.into(), message: message.into(), location: None, value: None, index: None }
    }
}

/// IYS's error body: `{"errors": [...]}`. Token errors may also carry a top-level `code`/`message`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The errors, in the order found.
    #[serde(default)]
    pub errors: Vec<IysError>,
    /// Top-level code (seen on token errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Top-level message (seen on token errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /oauth2/token` body (JSON): the password grant or the refresh grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// `"password"` or `"refresh_token"`.
    pub grant_type: String,
    /// Password grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Refresh grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// `POST /oauth2/token` success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// For the refresh grant.
    pub refresh_token: String,
    /// Seconds the access token lives (7200 in IYS's examples).
    pub expires_in: u64,
    /// Seconds the refresh token lives (14400 in IYS's examples).
    pub refresh_expires_in: u64,
    /// `"bearer"` (one IYS example spells the key `tokenType`).
    #[serde(default, alias = "tokenType")]
    pub token_type: String,
}

/// `POST …/consents` success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddConsentResponse {
    /// Opaque id of the transaction.
    pub transaction_id: String,
    /// `YYYY-MM-DD HH:mm:ss`, Turkey time.
    pub creation_date: String,
}

/// One item echoed in the batch response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubRequest {
    /// The item's id (written `subrequestId`; `subRequestId` is read too).
    #[serde(rename = "subrequestId", alias = "subRequestId", alias = "subRequestID", alias = "subrequestID")]
    pub sub_request_id: String,
    /// As sent.
    pub recipient: String,
    /// As sent.
    pub recipient_type: RecipientType,
    /// As sent.
    #[serde(rename = "type")]
    pub kind: ConsentType,
    /// As sent.
    pub status: Status,
    /// As sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// As sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_date: Option<String>,
    /// When IYS took the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
}

/// `POST …/consents/request` success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// The handle to poll with.
    pub request_id: String,
    /// One per submitted item, in order.
    pub sub_requests: Vec<SubRequest>,
}

/// The state of one batch item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchItemStatus {
    /// Still queued: poll again.
    Enqueue,
    /// Recorded.
    Success,
    /// Refused; see `error`.
    Failure,
}

/// The error of a failed batch item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItemError {
    /// The H-code.
    pub code: String,
    /// Turkish text.
    #[serde(default)]
    pub message: String,
}

/// One element of `GET …/consents/request/{requestId}` (a bare array of these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchStatusItem {
    /// Position (sources disagree on the base; match by `sub_request_id`).
    pub index: u64,
    /// enqueue, success or failure.
    pub status: BatchItemStatus,
    /// The item's id (written `subrequestId`; `subRequestId` is read too).
    #[serde(rename = "subrequestId", alias = "subRequestId", alias = "subRequestID", alias = "subrequestID")]
    pub sub_request_id: String,
    /// On success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// On success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
    /// The batch's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// On failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<BatchItemError>,
}

/// `POST …/consents/status` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusQuery {
    /// Phone or e-mail, wire form.
    pub recipient: String,
    /// BIREYSEL or TACIR.
    pub recipient_type: RecipientType,
    /// ARAMA, MESAJ or EPOSTA.
    #[serde(rename = "type")]
    pub kind: ConsentType,
}

/// A stored consent, as `POST …/consents/status` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRecord {
    /// ARAMA, MESAJ or EPOSTA.
    #[serde(rename = "type")]
    pub kind: ConsentType,
    /// HS_* or IYS_* (kept as a string: IYS adds channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Phone or e-mail.
    pub recipient: String,
    /// BIREYSEL or TACIR.
    pub recipient_type: RecipientType,
    /// ONAY or RET.
    pub status: Status,
    /// `YYYY-MM-DD HH:mm:ss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_date: Option<String>,
    /// When IYS recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
    /// The last transaction on the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// The retailer that obtained the consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retailer_code: Option<u64>,
    /// Retailers allowed to use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retailer_access: Option<Vec<u64>>,
    /// How many retailers have access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retailer_access_count: Option<u64>,
}

/// `POST …/consents/{recipientType}/status/{type}` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipleStatusQuery {
    /// Up to 1000 recipients.
    pub recipients: Vec<String>,
}

/// `POST …/consents/{recipientType}/status/{type}` success: only the recipients whose status is ONAY.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultipleStatusResponse {
    /// Opaque id.
    #[serde(default)]
    pub request_id: String,
    /// Recipients with ONAY.
    pub list: Vec<String>,
}

/// One change returned by `GET …/consents/changes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullItem {
    /// `YYYY-MM-DD HH:mm:ss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_date: Option<String>,
    /// When IYS recorded it.
    pub creation_date: String,
    /// HS_* or IYS_*.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Phone or e-mail.
    pub recipient: String,
    /// BIREYSEL or TACIR.
    pub recipient_type: RecipientType,
    /// ONAY or RET.
    pub status: Status,
    /// ARAMA, MESAJ or EPOSTA.
    #[serde(rename = "type")]
    pub kind: ConsentType,
    /// The change's transaction.
    pub transaction_id: String,
    /// Only for `source=IYS`, for citizens who added the brand through IYS's apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizen_name: Option<String>,
}

/// `GET …/consents/changes` success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResponse {
    /// The cursor to pass back as `after`, unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Changes, oldest first.
    pub list: Vec<PullItem>,
}

/// Consent counts of a brand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentStats {
    /// ONAY records.
    pub approval: u64,
    /// RET records.
    pub rejection: u64,
    /// All records.
    pub total: u64,
}

/// Retailer counts of a brand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetailerStats {
    /// Retailers.
    pub total: u64,
}

/// A brand's statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrandStats {
    /// Consents.
    pub consents: ConsentStats,
    /// Retailers.
    pub retailers: RetailerStats,
}

/// One element of `GET /sps/{iysCode}/brands`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Brand {
    /// The brand's IYS number.
    pub brand_code: u64,
    /// Its name.
    pub name: String,
    /// Whether it is the SP's main brand.
    #[serde(default)]
    pub master: bool,
    /// Counts.
    #[serde(default)]
    pub stats: BrandStats,
}

/// A brand as an integrator sees it: the brand plus the integrator's permissions on it.
/// Permission values are `"read"` or `"write"` (absent: none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegratorBrand {
    /// The brand's IYS number.
    pub brand_code: u64,
    /// Its name.
    pub name: String,
    /// Whether it is the SP's main brand.
    #[serde(default)]
    pub master: bool,
    /// Counts.
    #[serde(default)]
    pub stats: BrandStats,
    /// Whether the integrator may do reconciliation for the brand.
    #[serde(default)]
    pub agreement_control: bool,
    /// Permission for ARAMA.
    #[serde(rename = "ARAMA", default, skip_serializing_if = "Option::is_none")]
    pub arama: Option<String>,
    /// Permission for MESAJ.
    #[serde(rename = "MESAJ", default, skip_serializing_if = "Option::is_none")]
    pub mesaj: Option<String>,
    /// Permission for EPOSTA.
    #[serde(rename = "EPOSTA", default, skip_serializing_if = "Option::is_none")]
    pub eposta: Option<String>,
}

/// `GET /integrator/{code}/sps/{iysCode}` success, and one element of the SP list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegratorSp {
    /// The SP's name.
    #[serde(default)]
    pub title: String,
    /// The SP's IYS number.
    pub iys_code: u64,
    /// The brands the integrator is authorised for.
    pub brands: Vec<IntegratorBrand>,
}

/// Paging of a list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// First element's position.
    pub offset: u64,
    /// Elements in all pages.
    pub total_count: u64,
    /// Elements per page.
    pub page_size: u64,
}

/// `GET /integrator/{code}/sps` success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegratorSps {
    /// Paging.
    #[serde(default)]
    pub pagination: Pagination,
    /// The integrator's name.
    #[serde(default)]
    pub title: String,
    /// The SPs that authorised the integrator.
    pub list: Vec<IntegratorSp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_to_location() {
        assert_eq!(
            LocationSegment::from_pointer("/3/recipient"),
            vec![LocationSegment::Index(3), LocationSegment::Key("recipient".into())]
        );
        assert_eq!(LocationSegment::from_pointer(""), Vec::<LocationSegment>::new());
        assert_eq!(LocationSegment::from_pointer("/a~1b"), vec![LocationSegment::Key("a/b".into())]);
    }

    #[test]
    fn both_subrequest_spellings_are_read_and_the_official_one_written() {
        let a: BatchStatusItem =
            serde_json::from_str(r#"{"index":1,"status":"enqueue","subRequestId":"x"}"#).expect("camel");
        let b: BatchStatusItem =
            serde_json::from_str(r#"{"index":1,"status":"enqueue","subrequestId":"x"}"#).expect("official");
        assert_eq!(a, b);
        let out = serde_json::to_string(&a).expect("serialize");
        assert!(out.contains("\"subrequestId\":\"x\""), "{out}");
    }

    #[test]
    fn token_type_spellings() {
        let t: TokenResponse = serde_json::from_str(
            r#"{"access_token":"a","refresh_token":"r","expires_in":7200,"refresh_expires_in":14400,"tokenType":"bearer"}"#,
        )
        .expect("tokenType");
        assert_eq!(t.token_type, "bearer");
    }

    #[test]
    fn error_value_round_trips() {
        let s = r#"{"code":"H180","message":"m","location":["retailerAccess",1],"value":[1,"a",null]}"#;
        let e: IysError = serde_json::from_str(s).expect("parse");
        assert_eq!(e.location.as_deref().map(<[_]>::len), Some(2));
        assert_eq!(serde_json::to_string(&e).expect("ser"), s);
    }
}
