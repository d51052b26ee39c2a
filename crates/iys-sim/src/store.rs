//! The sim's records: consents, the change log the pull reads, async batches and tokens.
//! IYS's stateful rules live here (H174, H175, H178, H462, H463).

use std::collections::BTreeMap;

use iys_core::consent::{Consent, ConsentType, RecipientType, Status};
use iys_core::wire::{BatchItemStatus, PullItem};
use serde::{Deserialize, Serialize};

use crate::clock::{turkey_time, Rng};

/// A stored consent record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredConsent {
    /// Service provider.
    pub iys_code: u64,
    /// Brand.
    pub brand_code: u64,
    /// Phone or e-mail, as sent.
    pub recipient: String,
    /// BIREYSEL or TACIR.
    pub recipient_type: RecipientType,
    /// ARAMA, MESAJ or EPOSTA.
    #[serde(rename = "type")]
    pub kind: ConsentType,
    /// ONAY or RET.
    pub status: Status,
    /// HS_* or IYS_*.
    pub source: Option<String>,
    /// As sent.
    pub consent_date: Option<String>,
    /// When the sim recorded the current state.
    pub creation_date: String,
    /// The transaction that set the current state.
    pub transaction_id: String,
    /// As sent.
    pub retailer_code: Option<u64>,
    /// As sent.
    pub retailer_access: Option<Vec<u64>>,
}

/// HS (service-provider side) or IYS (citizen side): the pull's `source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// Written by the SP or its integrator.
    #[serde(rename = "HS")]
    Hs,
    /// Written by a citizen on an IYS channel.
    #[serde(rename = "IYS")]
    Iys,
}

/// One entry of the change log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Order of recording.
    pub seq: u64,
    /// When, Unix ms on the sim's clock.
    pub at_ms: i64,
    /// Service provider.
    pub iys_code: u64,
    /// Brand.
    pub brand_code: u64,
    /// Which side made it.
    pub side: Side,
    /// What the pull returns.
    pub item: PullItem,
}

/// A refusal by a stateful rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// H-code.
    pub code: &'static str,
    /// Turkish text.
    pub message: &'static str,
    /// The field it concerns.
    pub field: &'static str,
}

/// One item of an async batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItem {
    /// Its id.
    pub sub_request_id: String,
    /// The consent, when it could be read at all.
    pub consent: Option<Consent>,
    /// A refusal decided at submission (validation, permission), reported when the item settles.
    pub preset_error: Option<(String, String)>,
    /// enqueue → success / failure.
    pub status: BatchItemStatus,
    /// On success.
    pub transaction_id: Option<String>,
    /// On success.
    pub creation_date: Option<String>,
    /// On failure: (code, message).
    pub error: Option<(String, String)>,
}

/// An async batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    /// Its id.
    pub request_id: String,
    /// Service provider.
    pub iys_code: u64,
    /// Brand.
    pub brand_code: u64,
    /// When it was taken.
    pub submitted_ms: i64,
    /// When its items settle.
    pub due_ms: i64,
    /// Items, in submission order.
    pub items: Vec<BatchItem>,
}

/// An issued token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGrant {
    /// Whose.
    pub username: String,
    /// Expiry, Unix ms.
    pub expires_ms: i64,
}

/// Everything that survives a restart with `--state`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Store {
    /// Consents by key (`iys/brand/recipientType/type/recipient`).
    pub consents: BTreeMap<String, StoredConsent>,
    /// The change log, in order.
    pub changes: Vec<Change>,
    /// Async batches by requestId.
    pub batches: BTreeMap<String, Batch>,
    /// Access tokens.
    pub access_tokens: BTreeMap<String, TokenGrant>,
    /// Refresh tokens.
    pub refresh_tokens: BTreeMap<String, TokenGrant>,
    /// Token requests per username (Unix ms), for the hourly limit.
    pub token_requests: BTreeMap<String, Vec<i64>>,
    /// Next change sequence number.
    pub next_seq: u64,
}

/// The key of a consent record.
pub fn key(
    iys_code: u64,
    brand_code: u64,
    recipient_type: RecipientType,
    kind: ConsentType,
    recipient: &str,
) -> String {
    format!("{iys_code}/{brand_code}/{}/{}/{recipient}", recipient_type.as_str(), kind.as_str())
}

const H174: RuleError =
    RuleError {
        code: "H174", message: "Durum güncellemesi mevcut izin durumundan farklı olmalıdır.", field: "status"
    };
const H175: RuleError = RuleError {
    code: "H175",
    message: "Daha önce onay alınmamış bir alıcı için ret kaydı oluşturulamaz.",
    field: "status",
};
const H178: RuleError = RuleError {
    code: "H178",
    message: "Kayıtlı izinden daha eski tarihli bir izin ile güncelleme yapılamaz.",
    field: "consentDate",
};
const H462: RuleError =
    RuleError { code: "H462", message: "TACIR izni güncellenirken consentDate zorunludur.", field: "consentDate" };
const H463: RuleError =
    RuleError { code: "H463", message: "TACIR izni güncellenirken source zorunludur.", field: "source" };

impl Store {
    /// A stored consent.
    pub fn get(
        &self,
        iys: u64,
        brand: u64,
        rt: RecipientType,
        kind: ConsentType,
        recipient: &str,
    ) -> Option<&StoredConsent> {
        self.consents.get(&key(iys, brand, rt, kind, recipient))
    }

    /// Checks IYS's stateful rules for `c` without recording anything.
    pub fn check(&self, iys: u64, brand: u64, c: &Consent) -> Result<(), RuleError> {
        match self.get(iys, brand, c.recipient_type, c.kind, &c.recipient) {
            None => {
                if c.status == Status::Ret {
                    return Err(H175);
                }
            }
            Some(prev) => {
                if c.recipient_type == RecipientType::Tacir {
                    if c.source.is_none() {
                        return Err(H463);
                    }
                    if c.consent_date.is_none() {
                        return Err(H462);
                    }
                }
                if prev.status == c.status {
                    return Err(H174);
                }
                if let (Some(old), Some(new)) = (&prev.consent_date, &c.consent_date) {
                    // Both are `YYYY-MM-DD HH:mm:ss`: text order is time order.
                    if new <= old {
                        return Err(H178);
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies the stateful rules and records `c`; returns (transactionId, creationDate).
    pub fn apply(
        &mut self,
        iys: u64,
        brand: u64,
        c: &Consent,
        now_ms: i64,
        rng: &mut Rng,
    ) -> Result<(String, String), RuleError> {
        self.check(iys, brand, c)?;
        let source = c.source.map(|s| s.as_str().to_string());
        Ok(self.record(iys, brand, c, source, Side::Hs, None, now_ms, rng))
    }

    /// Records a citizen's change on an IYS channel (no HS rules apply).
    #[allow(clippy::too_many_arguments)]
    pub fn apply_citizen(
        &mut self,
        iys: u64,
        brand: u64,
        c: &Consent,
        source: String,
        citizen_name: Option<String>,
        now_ms: i64,
        rng: &mut Rng,
    ) -> (String, String) {
        self.record(iys, brand, c, Some(source), Side::Iys, citizen_name, now_ms, rng)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        iys: u64,
        brand: u64,
        c: &Consent,
        source: Option<String>,
        side: Side,
        citizen_name: Option<String>,
        now_ms: i64,
        rng: &mut Rng,
    ) -> (String, String) {
        let transaction_id = rng.hex(32);
        let creation_date = turkey_time(now_ms);
        let k = key(iys, brand, c.recipient_type, c.kind, &c.recipient);
        self.consents.insert(
            k,
            StoredConsent {
                iys_code: iys,
                brand_code: brand,
                recipient: c.recipient.clone(),
                recipient_type: c.recipient_type,
                kind: c.kind,
                status: c.status,
                source: source.clone(),
                consent_date: c.consent_date.clone(),
                creation_date: creation_date.clone(),
                transaction_id: transaction_id.clone(),
                retailer_code: c.retailer_code,
                retailer_access: c.retailer_access.clone(),
            },
        );
        let seq = self.next_seq;
        self.next_seq += 1;
        self.changes.push(Change {
            seq,
            at_ms: now_ms,
            iys_code: iys,
            brand_code: brand,
            side,
            item: PullItem {
                consent_date: c.consent_date.clone(),
                creation_date: creation_date.clone(),
                source,
                recipient: c.recipient.clone(),
                recipient_type: c.recipient_type,
                status: c.status,
                kind: c.kind,
                transaction_id: transaction_id.clone(),
                citizen_name,
            },
        });
        (transaction_id, creation_date)
    }

    /// Settles every batch item that is due, in submission order. Returns whether anything changed.
    pub fn settle(&mut self, now_ms: i64, rng: &mut Rng) -> bool {
        let mut due: Vec<(i64, String)> = self
            .batches
            .values()
            .filter(|b| b.due_ms <= now_ms && b.items.iter().any(|i| i.status == BatchItemStatus::Enqueue))
            .map(|b| (b.submitted_ms, b.request_id.clone()))
            .collect();
        if due.is_empty() {
            return false;
        }
        due.sort();
        for (_, id) in due {
            let Some(mut batch) = self.batches.remove(&id) else { continue };
            for item in batch.items.iter_mut().filter(|i| i.status == BatchItemStatus::Enqueue) {
                let outcome = match (&item.preset_error, &item.consent) {
                    (Some(e), _) => Err(e.clone()),
                    (None, Some(c)) => self
                        .apply(batch.iys_code, batch.brand_code, c, now_ms, rng)
                        .map_err(|e| (e.code.to_string(), e.message.to_string())),
                    (None, None) => Err(("H085".to_string(), "İzin ekleme isteği geçersiz.".to_string())),
                };
                match outcome {
                    Ok((tx, created)) => {
                        item.status = BatchItemStatus::Success;
                        item.transaction_id = Some(tx);
                        item.creation_date = Some(created);
                    }
                    Err(e) => {
                        item.status = BatchItemStatus::Failure;
                        item.error = Some(e);
                    }
                }
            }
            self.batches.insert(id, batch);
        }
        true
    }

    /// Changes for a pull: side, brand, time window, after the cursor; at most `limit`.
    /// The cursor is `{atMs}_{transactionId}`; an unknown transaction falls back to the time.
    #[allow(clippy::too_many_arguments)]
    pub fn pull(
        &self,
        iys: u64,
        brand: u64,
        side: Side,
        kinds: &[ConsentType],
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Vec<&Change> {
        let after_pos: Option<(i64, u64)> =
            after.map(|(ms, tx)| match self.changes.iter().find(|c| c.item.transaction_id == tx && c.at_ms == ms) {
                Some(c) => (c.at_ms, c.seq),
                None => (ms, u64::MAX),
            });
        let mut out: Vec<&Change> = self
            .changes
            .iter()
            .filter(|c| c.iys_code == iys && c.brand_code == brand && c.side == side && kinds.contains(&c.item.kind))
            .filter(|c| c.at_ms >= from_ms && c.at_ms <= to_ms)
            .filter(|c| after_pos.is_none_or(|p| (c.at_ms, c.seq) > p))
            .collect();
        out.sort_by_key(|c| (c.at_ms, c.seq));
        out.truncate(limit);
        out
    }

    /// Drops access tokens and token-request stamps that no longer matter.
    pub fn prune(&mut self, now_ms: i64) {
        self.access_tokens.retain(|_, t| t.expires_ms > now_ms);
        self.refresh_tokens.retain(|_, t| t.expires_ms > now_ms);
        for stamps in self.token_requests.values_mut() {
            stamps.retain(|&t| t > now_ms - 3_600_000);
        }
        self.token_requests.retain(|_, v| !v.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iys_core::consent::Source;

    fn consent(status: Status, date: &str) -> Consent {
        Consent {
            recipient: "+905321234567".into(),
            recipient_type: RecipientType::Bireysel,
            kind: ConsentType::Mesaj,
            status,
            source: Some(Source::HsWeb),
            consent_date: Some(date.into()),
            retailer_code: None,
            retailer_access: None,
        }
    }

    #[test]
    fn state_rules() {
        let mut s = Store::default();
        let mut rng = Rng::seeded(7);
        assert_eq!(s.apply(1, 2, &consent(Status::Ret, "2024-01-01 10:00:00"), 0, &mut rng).map(|_| ()), Err(H175));
        assert!(s.apply(1, 2, &consent(Status::Onay, "2024-01-01 10:00:00"), 0, &mut rng).is_ok());
        assert_eq!(s.apply(1, 2, &consent(Status::Onay, "2024-01-02 10:00:00"), 0, &mut rng).map(|_| ()), Err(H174));
        assert_eq!(s.apply(1, 2, &consent(Status::Ret, "2024-01-01 10:00:00"), 0, &mut rng).map(|_| ()), Err(H178));
        assert!(s.apply(1, 2, &consent(Status::Ret, "2024-01-01 10:00:01"), 0, &mut rng).is_ok());
        let mut t = consent(Status::Onay, "2024-01-03 10:00:00");
        t.recipient_type = RecipientType::Tacir;
        t.source = None;
        t.consent_date = None;
        assert!(s.apply(1, 2, &t, 0, &mut rng).is_ok(), "a new TACIR record needs neither");
        t.status = Status::Ret;
        assert_eq!(s.apply(1, 2, &t, 0, &mut rng).map(|_| ()), Err(H463));
        t.source = Some(Source::HsWeb);
        assert_eq!(s.apply(1, 2, &t, 0, &mut rng).map(|_| ()), Err(H462));
        assert_eq!(s.changes.len(), 3);
    }
}
