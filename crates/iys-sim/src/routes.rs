//! The IYS routes: what they accept, what they answer, with IYS's H-codes and statuses.

use iys_core::consent::{Consent, ConsentType, Options, RecipientType, Status};
use iys_core::diagnostic::{Code, Diagnostic, Lang};
use iys_core::recipient::Mode;
use iys_core::time::BusinessDays;
use iys_core::wire::{
    BatchItemError, BatchItemStatus, BatchStatusItem, Brand, BrandStats, ConsentRecord, ConsentStats, ErrorBody,
    IntegratorBrand, IntegratorSp, IntegratorSps, IysError, LocationSegment, MultipleStatusResponse, Pagination,
    PullItem, PullResponse, WireValue,
};
use serde_json::{json, Value};

use crate::accounts::{BrandAccount, Permission, ServiceProvider};
use crate::http::{Request, Response};
use crate::store::{Batch, BatchItem, Side};
use crate::{auth, App, Sim};

/// Route names, for fault rules and the request log.
pub const ROUTE_NAMES: &[&str] = &[
    "token",
    "add",
    "batch",
    "batch-status",
    "status",
    "multi-status",
    "changes",
    "brands",
    "integrator-sps",
    "integrator-sp",
];

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The IYS route a method and path name (`None` for unknown paths and `/__sim/…`).
pub fn route_name(method: &str, path: &str) -> Option<&'static str> {
    let s = segments(path);
    let name = match s.as_slice() {
        ["oauth2", "token"] => "token",
        ["sps", _, "brands"] => "brands",
        ["sps", _, "brands", _, "consents"] => "add",
        ["sps", _, "brands", _, "consents", "request"] => "batch",
        ["sps", _, "brands", _, "consents", "request", _] => "batch-status",
        ["sps", _, "brands", _, "consents", "status"] => "status",
        ["sps", _, "brands", _, "consents", "changes"] => "changes",
        ["sps", _, "brands", _, "consents", _, "status", _] => "multi-status",
        ["integrator", _, "sps"] => "integrator-sps",
        ["integrator", _, "sps", _] => "integrator-sp",
        _ => return None,
    };
    let want = match name {
        "brands" | "batch-status" | "changes" | "integrator-sps" | "integrator-sp" => "GET",
        _ => "POST",
    };
    (method == want).then_some(name)
}

/// The HTTP status IYS uses for an H-code (iys-api.md §4).
pub fn status_of(code: &str) -> u16 {
    match code {
        "H014" | "H082" | "H085" | "H090" | "H092" | "H095" | "H097" | "H098" | "H123" | "H174" | "H175" | "H178"
        | "H245" | "H250" | "H252" | "H363" | "H462" | "H463" => 400,
        "H251" | "H351" => 401,
        "H180" | "H195" | "H196" | "H353" => 403,
        "H129" | "H268" | "H355" => 404,
        "H083" | "H084" | "H124" => 429,
        "H015" | "H100" | "H101" | "H102" | "H103" | "H179" | "H412" | "H470" => 500,
        "H192" => 503,
        _ => 422,
    }
}

/// An IYS error answer with one error.
pub fn error(status: u16, code: &str, message: impl Into<String>, location: Option<Vec<LocationSegment>>) -> Response {
    let mut e = IysError::new(code, message);
    e.location = location;
    errors(status, vec![e])
}

/// 404 for a path IYS does not have (no H-code: IYS's gateway answers these, not its API).
fn not_found() -> Response {
    error(404, "NOT_FOUND", code_text(Code::NotFound), None)
}

/// An IYS error answer.
pub fn errors(status: u16, errors: Vec<IysError>) -> Response {
    Response::json(status, &ErrorBody { errors, code: None, message: None })
}

fn key(k: &str) -> Option<Vec<LocationSegment>> {
    Some(vec![LocationSegment::Key(k.to_string())])
}

fn code_text(code: Code) -> String {
    Diagnostic::new(code, "").message(Lang::Tr)
}

/// An iys-core diagnostic as IYS's error item (value looked up in the body when the path has one).
pub fn diag_error(d: &Diagnostic, body: Option<&Value>, index: Option<u64>) -> IysError {
    let mut e = IysError::new(d.code.iys_code().unwrap_or("H085"), d.message(Lang::Tr));
    let loc = LocationSegment::from_pointer(&d.path);
    if !loc.is_empty() {
        e.location = Some(loc);
        e.value =
            body.and_then(|b| b.pointer(&d.path)).and_then(|v| serde_json::from_value::<WireValue>(v.clone()).ok());
    }
    e.index = index;
    e
}

/// Parses a body as JSON: the serde value (typed reads) and iys-core's value (validation).
fn parse_body(body: &[u8]) -> Result<(Value, iys_core::json::Value), Response> {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let d = match std::str::from_utf8(body) {
                Err(_) => Diagnostic::new(Code::InvalidUtf8, ""),
                Ok(_) => Diagnostic::new(Code::InvalidJson, "")
                    .with("reason", if e.is_eof() { "beklenmeyen son" } else { "sözdizimi hatası" })
                    .with("offset", e.column().to_string()),
            };
            return Err(error(400, "H014", d.message(Lang::Tr), None));
        }
    };
    let core = match iys_core::json::parse_bytes(body) {
        Ok(c) => c,
        // serde_json took the body, so this is what only iys-core's reader refuses (nesting past its
        // depth limit, and the like): IYS's H014 with the core's reason, never a silent stand-in.
        Err(d) => return Err(error(400, "H014", d.message(Lang::Tr), None)),
    };
    Ok((v, core))
}

fn options(sim: &Sim, now_ms: i64) -> Options {
    Options {
        mode: Mode::Strict,
        now: now_ms.div_euclid(1000),
        window: sim.accounts.limits.business_day_window.then(BusinessDays::default),
    }
}

/// Who is calling.
#[derive(Debug, Clone, Copy)]
enum Who {
    Integrator,
    Sp(u64),
}

fn who(sim: &Sim, username: &str) -> Who {
    match sim.accounts.user(username).and_then(|u| u.iys_code) {
        Some(code) => Who::Sp(code),
        None => Who::Integrator,
    }
}

/// The caller's permission for a brand and type.
fn permission(who: Who, sp: &ServiceProvider, brand: &BrandAccount, kind: ConsentType) -> Option<Permission> {
    match who {
        Who::Sp(code) if code == sp.iys_code => Some(Permission::Write),
        Who::Sp(_) => None,
        Who::Integrator => brand.permission(kind),
    }
}

fn visible(who: Who, sp: &ServiceProvider, brand: &BrandAccount) -> bool {
    ConsentType::ALL.iter().any(|&k| permission(who, sp, brand, k).is_some())
}

fn parse_code(seg: &str, code: &str, field: &str) -> Result<u64, Response> {
    match seg.parse::<u64>() {
        Ok(n) if seg.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => {
            let msg = Diagnostic::new(Code::InvalidPathParam, "").with("param", field).message(Lang::Tr);
            Err(error(422, code, msg, key(field)))
        }
    }
}

/// Resolves `/sps/{iysCode}[/brands/{brandCode}]` for the caller.
fn scope<'a>(
    sim: &'a Sim,
    who: Who,
    iys_seg: &str,
    brand_seg: Option<&str>,
) -> Result<(&'a ServiceProvider, Option<&'a BrandAccount>), Response> {
    let iys = parse_code(iys_seg, "H190", "iysCode")?;
    let brand = brand_seg.map(|b| parse_code(b, "H191", "brandCode")).transpose()?;
    let Some(sp) = sim.accounts.sp(iys) else {
        return Err(error(
            404,
            "H268",
            format!("{iys} İYS numarasına bağlı bir iş ortağı kullanıcısı bulunamadı."),
            key("iysCode"),
        ));
    };
    if let Who::Sp(own) = who {
        if own != iys {
            return Err(error(403, "H353", "Bu İYS numarası için yetkiniz bulunmamaktadır.", key("iysCode")));
        }
    }
    let brand = match brand {
        None => None,
        Some(code) => match sp.brand(code) {
            Some(b) if visible(who, sp, b) => Some(b),
            _ => return Err(error(403, "H195", format!("{code} markası bulunamadı."), key("brandCode"))),
        },
    };
    Ok((sp, brand))
}

/// IYS's 403 H180 for the first retailer code `c` names that does not exist on `brand` (its
/// `retailerCode`, then each `retailerAccess` item, located as IYS locates them); `None` when every
/// code exists, or the brand does not model retailers.
fn unknown_retailer(brand: &BrandAccount, c: &Consent) -> Option<IysError> {
    let known = brand.retailers.as_ref()?;
    let named =
        c.retailer_code.map(|n| (vec![LocationSegment::Key("retailerCode".into())], n)).into_iter().chain(
            c.retailer_access.iter().flatten().enumerate().map(|(i, &n)| {
                (vec![LocationSegment::Key("retailerAccess".into()), LocationSegment::Index(i as u64)], n)
            }),
        );
    let (location, code) = named.into_iter().find(|(_, n)| !known.contains(n))?;
    let mut e = IysError::new("H180", format!("{code} bayi kodlu bir bayi bulunamadı."));
    e.location = Some(location);
    e.value = i64::try_from(code).ok().map(WireValue::Int);
    Some(e)
}

fn need(
    who: Who,
    sp: &ServiceProvider,
    brand: &BrandAccount,
    kind: ConsentType,
    level: Permission,
) -> Result<(), IysError> {
    match permission(who, sp, brand, kind) {
        Some(p) if p >= level => Ok(()),
        _ => {
            let mut e = IysError::new(
                "H353",
                format!(
                    "Kullanıcının {} markasında {} için {} yetkisi yok.",
                    brand.brand_code,
                    kind.as_str(),
                    level.as_str()
                ),
            );
            e.location = key("type");
            e.value = Some(WireValue::String(kind.as_str().to_string()));
            Err(e)
        }
    }
}

/// Handles one request on an IYS route or answers 404/405. `/__sim` is handled by [`crate::admin`].
pub fn handle(app: &App, req: &Request) -> Response {
    let now = app.clock.now_ms();
    let segs = segments(&req.path);
    let Some(route) = route_name(&req.method, &req.path) else {
        let known = ["GET", "POST"].iter().any(|m| route_name(m, &req.path).is_some());
        return if known {
            error(405, "METHOD_NOT_ALLOWED", code_text(Code::MethodNotAllowed), None)
        } else {
            not_found()
        };
    };
    app.tick();
    let mut guard = app.lock();
    let sim = &mut *guard;
    if route == "token" {
        return auth::token(sim, req, now);
    }
    let username = match auth::bearer(sim, req, now) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = auth::per_second(sim, &username, now) {
        return r;
    }
    let who = who(sim, &username);
    match (route, segs.as_slice()) {
        ("brands", [_, iys, _]) => brands(sim, who, iys),
        ("add", [_, iys, _, brand, _]) => add(sim, who, iys, brand, req, now),
        ("batch", [_, iys, _, brand, _, _]) => batch(sim, who, iys, brand, req, now),
        ("batch-status", [_, iys, _, brand, _, _, id]) => batch_status(sim, who, iys, brand, id),
        ("status", [_, iys, _, brand, _, _]) => status(sim, who, iys, brand, req),
        ("multi-status", [_, iys, _, brand, _, rt, _, kind]) => multi_status(sim, who, iys, brand, rt, kind, req),
        ("changes", [_, iys, _, brand, _, _]) => changes(sim, who, iys, brand, req, now),
        ("integrator-sps", [_, code, _]) => integrator_sps(sim, who, code, None),
        ("integrator-sp", [_, code, _, iys]) => integrator_sps(sim, who, code, Some(iys)),
        _ => not_found(),
    }
}

fn stats(sim: &Sim, iys: u64, brand: u64) -> BrandStats {
    let mut c = ConsentStats::default();
    for r in sim.store.consents.values().filter(|r| r.iys_code == iys && r.brand_code == brand) {
        c.total += 1;
        match r.status {
            Status::Onay => c.approval += 1,
            Status::Ret => c.rejection += 1,
        }
    }
    BrandStats { consents: c, ..BrandStats::default() }
}

fn brands(sim: &Sim, who: Who, iys: &str) -> Response {
    let (sp, _) = match scope(sim, who, iys, None) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let list: Vec<Brand> = sp
        .brands
        .iter()
        .filter(|b| visible(who, sp, b))
        .map(|b| Brand {
            brand_code: b.brand_code,
            name: b.name.clone(),
            master: b.master,
            stats: stats(sim, sp.iys_code, b.brand_code),
        })
        .collect();
    Response::json(200, &list)
}

fn add(sim: &mut Sim, who: Who, iys: &str, brand: &str, req: &Request, now: i64) -> Response {
    let (sp, b) = match scope(sim, who, iys, Some(brand)) {
        Ok((sp, Some(b))) => (sp.clone(), b.clone()),
        Ok(_) => return not_found(),
        Err(r) => return r,
    };
    let (value, core) = match parse_body(&req.body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let report = iys_core::consent::validate_consent_value(&core, &options(sim, now));
    let errs: Vec<IysError> = report.errors().map(|d| diag_error(d, Some(&value), None)).collect();
    if let Some(first) = errs.first() {
        return errors(status_of(&first.code), errs);
    }
    let consent: Consent = match serde_json::from_value(value) {
        Ok(c) => c,
        Err(_) => return error(400, "H085", "İzin ekleme isteği geçersiz.", None),
    };
    if let Err(e) = need(who, &sp, &b, consent.kind, Permission::Write) {
        return errors(403, vec![e]);
    }
    if let Some(e) = unknown_retailer(&b, &consent) {
        return errors(403, vec![e]);
    }
    let sim_rng = &mut sim.rng;
    match sim.store.apply(sp.iys_code, b.brand_code, &consent, now, sim_rng) {
        Ok((transaction_id, creation_date)) => {
            sim.generation += 1;
            Response::json(200, &json!({ "transactionId": transaction_id, "creationDate": creation_date }))
        }
        Err(rule) => {
            let mut e = IysError::new(rule.code, rule.message);
            e.location = key(rule.field);
            errors(400, vec![e])
        }
    }
}

fn batch(sim: &mut Sim, who: Who, iys: &str, brand: &str, req: &Request, now: i64) -> Response {
    let (sp, b) = match scope(sim, who, iys, Some(brand)) {
        Ok((sp, Some(b))) => (sp.clone(), b.clone()),
        Ok(_) => return not_found(),
        Err(r) => return r,
    };
    let (value, core) = match parse_body(&req.body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let report = iys_core::batch::validate_batch_value(&core, &options(sim, now));
    let batch_errs: Vec<IysError> =
        report.diagnostics.iter().filter(|d| d.is_error()).map(|d| diag_error(d, Some(&value), None)).collect();
    if let Some(first) = batch_errs.first() {
        return errors(status_of(&first.code), batch_errs);
    }
    // The sim cannot take anything but a non-empty array of at most 1000 (iys-core says the same).
    let items = match &value {
        Value::Array(a) if a.is_empty() => {
            return errors(400, vec![diag_error(&Diagnostic::new(Code::BatchEmpty, ""), None, None)])
        }
        Value::Array(a) if a.len() > iys_core::batch::MAX_BATCH => {
            let d = Diagnostic::new(Code::BatchTooLarge, "").with("count", a.len().to_string());
            return errors(422, vec![diag_error(&d, None, None)]);
        }
        Value::Array(a) => a,
        _ => return errors(400, vec![diag_error(&Diagnostic::new(Code::BatchNotArray, ""), None, None)]),
    };
    // A duplicate inside the list refuses the whole request (H194); other item errors fail that item.
    let dup_errs: Vec<IysError> = report
        .items
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.errors().filter(|d| d.code == Code::BatchDuplicate).map(move |d| (i, d)))
        .map(|(i, d)| diag_error(d, Some(&value), Some(i as u64)))
        .collect();
    if !dup_errs.is_empty() {
        return errors(422, dup_errs);
    }
    let mut batch_items = Vec::with_capacity(items.len());
    let mut echo = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let sub_request_id = sim.rng.uuid();
        let mut preset = report
            .items
            .get(i)
            .and_then(|r| r.errors().next().cloned())
            .map(|d| (d.code.iys_code().unwrap_or("H085").to_string(), d.message(Lang::Tr)));
        let consent = serde_json::from_value::<Consent>(item.clone()).ok();
        match &consent {
            None if preset.is_none() => preset = Some(("H085".into(), "İzin ekleme isteği geçersiz.".into())),
            Some(c) if preset.is_none() => {
                if let Err(e) = need(who, &sp, &b, c.kind, Permission::Write) {
                    preset = Some((e.code, e.message));
                } else if let Some(e) = unknown_retailer(&b, c) {
                    preset = Some((e.code, e.message));
                }
            }
            _ => {}
        }
        // An `item` fault: the item settles as a failure with the fault's code, like an item IYS
        // could not process (a real refusal found above wins).
        if preset.is_none() {
            preset = sim.faults.pick_item(&mut sim.fault_rng);
        }
        let mut e = serde_json::Map::new();
        e.insert("subrequestId".into(), Value::String(sub_request_id.clone()));
        for field in ["consentDate", "recipient", "recipientType", "source", "status", "type"] {
            if let Some(v) = item.get(field) {
                e.insert(field.into(), v.clone());
            }
        }
        echo.push(Value::Object(e));
        batch_items.push(BatchItem {
            sub_request_id,
            consent,
            preset_error: preset,
            status: BatchItemStatus::Enqueue,
            transaction_id: None,
            creation_date: None,
            error: None,
        });
    }
    let request_id = sim.rng.uuid();
    let delay = i64::try_from(sim.accounts.limits.batch_delay_ms).unwrap_or(i64::MAX / 4);
    sim.store.batches.insert(
        request_id.clone(),
        Batch {
            request_id: request_id.clone(),
            iys_code: sp.iys_code,
            brand_code: b.brand_code,
            submitted_ms: now,
            due_ms: now.saturating_add(delay),
            items: batch_items,
        },
    );
    sim.generation += 1;
    Response::json(200, &json!({ "requestId": request_id, "subRequests": echo }))
}

fn batch_status(sim: &Sim, who: Who, iys: &str, brand: &str, id: &str) -> Response {
    let (sp, b) = match scope(sim, who, iys, Some(brand)) {
        Ok((sp, Some(b))) => (sp, b),
        Ok(_) => return not_found(),
        Err(r) => return r,
    };
    let bad = |code: &str, msg: &str| error(422, code, msg, key("requestId"));
    if id.chars().count() > 36 {
        return bad("H198", "requestId en fazla 36 karakter olabilir.");
    }
    if id.chars().all(|c| c.is_alphabetic()) {
        return bad("H199", "requestId yalnızca harflerden oluşamaz.");
    }
    if id.chars().all(|c| c.is_ascii_digit()) {
        return bad("H400", "requestId yalnızca rakamlardan oluşamaz.");
    }
    let Some(batch) = sim.store.batches.get(id).filter(|x| x.iys_code == sp.iys_code && x.brand_code == b.brand_code)
    else {
        return bad("H093", "İşlem numarası bulunamadı.");
    };
    let list: Vec<BatchStatusItem> = batch
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| BatchStatusItem {
            index: i as u64 + 1,
            status: item.status,
            sub_request_id: item.sub_request_id.clone(),
            transaction_id: item.transaction_id.clone(),
            creation_date: item.creation_date.clone(),
            request_id: Some(batch.request_id.clone()),
            error: item
                .error
                .as_ref()
                .map(|(code, message)| BatchItemError { code: code.clone(), message: message.clone() }),
        })
        .collect();
    Response::json(200, &list)
}

/// Reads `recipient`, `recipientType`, `type` from a status query body, with IYS's codes.
fn status_query(value: &Value) -> Result<(String, RecipientType, ConsentType), Vec<IysError>> {
    let mut errs = Vec::new();
    let mut field_err = |code: &str, msg: String, field: &str, v: Option<&Value>| {
        let mut e = IysError::new(code, msg);
        e.location = key(field);
        e.value = v.and_then(|v| serde_json::from_value(v.clone()).ok());
        errs.push(e);
    };
    if !value.is_object() {
        field_err("H097", "İzin sorgulama isteği geçersiz.".into(), "recipient", None);
        return Err(errs);
    }
    let recipient = value.get("recipient").and_then(Value::as_str).filter(|s| !s.trim().is_empty());
    if recipient.is_none() {
        field_err("H114", code_text(Code::RecipientMissing), "recipient", value.get("recipient"));
    }
    let rt = match value.get("recipientType") {
        None | Some(Value::Null) => {
            field_err("H170", code_text(Code::RecipientTypeMissing), "recipientType", None);
            None
        }
        Some(v) => {
            let parsed = v.as_str().and_then(RecipientType::from_wire);
            if parsed.is_none() {
                field_err("H116", code_text(Code::InvalidRecipientType), "recipientType", Some(v));
            }
            parsed
        }
    };
    let kind = match value.get("type") {
        None | Some(Value::Null) => {
            field_err("H111", code_text(Code::TypeMissing), "type", None);
            None
        }
        Some(v) => {
            let parsed = v.as_str().and_then(ConsentType::from_wire);
            if parsed.is_none() {
                field_err("H117", code_text(Code::InvalidType), "type", Some(v));
            }
            parsed
        }
    };
    match (recipient, rt, kind) {
        (Some(r), Some(rt), Some(k)) if errs.is_empty() => Ok((r.to_string(), rt, k)),
        _ => Err(errs),
    }
}

fn status(sim: &Sim, who: Who, iys: &str, brand: &str, req: &Request) -> Response {
    let (sp, b) = match scope(sim, who, iys, Some(brand)) {
        Ok((sp, Some(b))) => (sp, b),
        Ok(_) => return not_found(),
        Err(r) => return r,
    };
    let (value, _) = match parse_body(&req.body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (recipient, rt, kind) = match status_query(&value) {
        Ok(q) => q,
        Err(errs) => {
            let s = errs.first().map(|e| status_of(&e.code)).unwrap_or(422);
            return errors(s, errs);
        }
    };
    if let Err(e) = need(who, sp, b, kind, Permission::Read) {
        return errors(403, vec![e]);
    }
    match sim.store.get(sp.iys_code, b.brand_code, rt, kind, &recipient) {
        Some(r) => Response::json(
            200,
            &ConsentRecord {
                kind: r.kind,
                source: r.source.clone(),
                recipient: r.recipient.clone(),
                recipient_type: r.recipient_type,
                status: r.status,
                consent_date: r.consent_date.clone(),
                creation_date: Some(r.creation_date.clone()),
                transaction_id: Some(r.transaction_id.clone()),
                retailer_code: r.retailer_code,
                retailer_access: r.retailer_access.clone(),
                retailer_access_count: Some(r.retailer_access.as_ref().map_or(0, |a| a.len() as u64)),
            },
        ),
        None => error(404, "H097", "Kayıt bulunamadı.", key("recipient")),
    }
}

/// Most recipients in one multiple-status query.
pub const MAX_RECIPIENTS: usize = 1000;

fn multi_status(sim: &mut Sim, who: Who, iys: &str, brand: &str, rt: &str, kind: &str, req: &Request) -> Response {
    let (sp, b) = match scope(sim, who, iys, Some(brand)) {
        Ok((sp, Some(b))) => (sp.clone(), b.clone()),
        Ok(_) => return not_found(),
        Err(r) => return r,
    };
    let Some(rt) = RecipientType::from_wire(rt) else {
        return error(422, "H116", code_text(Code::InvalidRecipientType), key("recipientType"));
    };
    let Some(kind) = ConsentType::from_wire(kind) else {
        return error(422, "H117", code_text(Code::InvalidType), key("type"));
    };
    if let Err(e) = need(who, &sp, &b, kind, Permission::Read) {
        return errors(403, vec![e]);
    }
    let (value, _) = match parse_body(&req.body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let recipients = match value.get("recipients") {
        None | Some(Value::Null) => return error(422, "H168", "recipients listesi zorunludur.", key("recipients")),
        Some(Value::Array(a)) if a.is_empty() => {
            return error(422, "H164", "recipients listesi boş olamaz.", key("recipients"))
        }
        Some(Value::Array(a)) if a.len() > MAX_RECIPIENTS => {
            return error(
                422,
                "H127",
                format!("recipients listesi en fazla {MAX_RECIPIENTS} elemanlı olabilir."),
                key("recipients"),
            )
        }
        Some(Value::Array(a)) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, v) in a.iter().enumerate() {
                match v.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => {
                        let mut e = IysError::new("H085", "recipients yalnızca metin içerebilir.");
                        e.location =
                            Some(vec![LocationSegment::Key("recipients".into()), LocationSegment::Index(i as u64)]);
                        return errors(400, vec![e]);
                    }
                }
            }
            out
        }
        Some(_) => return error(422, "H168", "recipients bir liste olmalıdır.", key("recipients")),
    };
    let list: Vec<String> = recipients
        .into_iter()
        .filter(|r| sim.store.get(sp.iys_code, b.brand_code, rt, kind, r).is_some_and(|c| c.status == Status::Onay))
        .collect();
    let request_id = sim.rng.uuid();
    Response::json(200, &MultipleStatusResponse { request_id, list })
}

/// The default and the largest `limit` of a pull.
pub const PULL_LIMIT: usize = 999;
const PULL_MAX: usize = 1000;

fn changes(sim: &Sim, who: Who, iys: &str, brand: &str, req: &Request, now: i64) -> Response {
    let (sp, b) = match scope(sim, who, iys, Some(brand)) {
        Ok((sp, Some(b))) => (sp, b),
        Ok(_) => return not_found(),
        Err(r) => return r,
    };
    let side = match req.query_param("source").as_deref() {
        Some("HS") => Side::Hs,
        Some("IYS") => Side::Iys,
        _ => return error(400, "H098", "source HS veya IYS olmalıdır.", key("source")),
    };
    let limit = match req.query_param("limit") {
        None => PULL_LIMIT,
        Some(t) => match t.parse::<i64>() {
            Ok(0) => return error(422, "H187", "limit sıfır olamaz.", key("limit")),
            Ok(n) if n > 0 => usize::try_from(n).unwrap_or(PULL_MAX).min(PULL_MAX),
            _ => return error(422, "H183", "limit geçersiz.", key("limit")),
        },
    };
    let after = match req.query_param("after").filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => match a.split_once('_').and_then(|(ms, tx)| ms.parse::<i64>().ok().map(|ms| (ms, tx.to_string()))) {
            Some(p) => Some(p),
            None => return error(400, "H098", "after değeri geçersiz.", key("after")),
        },
    };
    let readable: Vec<ConsentType> =
        ConsentType::ALL.iter().copied().filter(|&k| permission(who, sp, b, k).is_some()).collect();
    let limits = &sim.accounts.limits;
    let window_ms = i64::try_from(limits.pull_window_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX / 4);
    let exclude_ms = i64::try_from(limits.pull_exclude_recent_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 4);
    let found = sim.store.pull(
        sp.iys_code,
        b.brand_code,
        side,
        &readable,
        now.saturating_sub(window_ms),
        now.saturating_sub(exclude_ms),
        after.as_ref().map(|(ms, tx)| (*ms, tx.as_str())),
        limit,
    );
    let next = found.last().map(|c| format!("{}_{}", c.at_ms, c.item.transaction_id));
    let list: Vec<PullItem> = found.into_iter().map(|c| c.item.clone()).collect();
    let after_out = next.or_else(|| after.map(|(ms, tx)| format!("{ms}_{tx}")));
    Response::json(200, &PullResponse { after: after_out, list })
}

fn integrator_sps(sim: &Sim, who: Who, code: &str, iys: Option<&str>) -> Response {
    let integrator = &sim.accounts.integrator;
    if code.parse::<u64>().ok() != Some(integrator.code) {
        return error(404, "H129", format!("{code} kodlu iş ortağı bulunamadı."), key("integratorCode"));
    }
    if let Who::Sp(_) = who {
        return error(400, "H363", "Bu servis için yetkiniz bulunmamaktadır.", None);
    }
    let view = |sp: &ServiceProvider| IntegratorSp {
        title: sp.title.clone(),
        iys_code: sp.iys_code,
        brands: sp
            .brands
            .iter()
            .filter(|b| visible(who, sp, b))
            .map(|b| IntegratorBrand {
                brand_code: b.brand_code,
                name: b.name.clone(),
                master: b.master,
                stats: stats(sim, sp.iys_code, b.brand_code),
                agreement_control: b.agreement_control,
                arama: b.permission(ConsentType::Arama).map(|p| p.as_str().to_string()),
                mesaj: b.permission(ConsentType::Mesaj).map(|p| p.as_str().to_string()),
                eposta: b.permission(ConsentType::Eposta).map(|p| p.as_str().to_string()),
            })
            .collect(),
    };
    match iys {
        Some(seg) => match scope(sim, who, seg, None) {
            Ok((sp, _)) => Response::json(200, &view(sp)),
            Err(r) => r,
        },
        None => {
            let list: Vec<IntegratorSp> = sim.accounts.sps.iter().map(view).collect();
            let n = list.len() as u64;
            Response::json(
                200,
                &IntegratorSps {
                    pagination: Pagination { offset: 0, total_count: n, page_size: n },
                    title: integrator.title.clone(),
                    list,
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_names() {
        assert_eq!(route_name("POST", "/oauth2/token"), Some("token"));
        assert_eq!(route_name("POST", "/sps/1/brands/2/consents"), Some("add"));
        assert_eq!(route_name("GET", "/sps/1/brands/2/consents/request/abc"), Some("batch-status"));
        assert_eq!(route_name("POST", "/sps/1/brands/2/consents/BIREYSEL/status/MESAJ"), Some("multi-status"));
        assert_eq!(route_name("GET", "/sps/1/brands/2/consents/changes"), Some("changes"));
        assert_eq!(route_name("GET", "/sps/1/brands/2/consents"), None);
        assert_eq!(route_name("GET", "/__sim/requests"), None);
    }
}
