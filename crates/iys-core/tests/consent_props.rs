//! Property tests for the JSON reader and the consent and batch validators: no input panics, the
//! reader agrees with serde_json, and the `Consent` wire type round-trips through serde with IYS's
//! exact field names and enum spellings.

use iys_core::batch::{validate_batch, validate_batch_value};
use iys_core::consent::{
    validate_consent, validate_consent_value, Consent, ConsentType, Options, RecipientType, Source, Status,
    ALLOWED_FIELDS,
};
use iys_core::json::{parse, Value};
use iys_core::recipient::Mode;
use iys_core::time::BusinessDays;
use proptest::prelude::*;

/// Options with `now` between 2016-09-07 and 2035, any mode, window on or off.
fn options() -> impl Strategy<Value = Options> {
    (1_473_206_400i64..2_050_000_000, any::<bool>(), any::<bool>()).prop_map(|(now, normalize, window)| Options {
        mode: if normalize { Mode::Normalize } else { Mode::Strict },
        now,
        window: window.then(BusinessDays::default),
    })
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,20})",
        "-?(0|[1-9][0-9]{0,5})\\.[0-9]{1,5}",
        "-?(0|[1-9][0-9]{0,3})([eE][+-]?[0-9]{1,2})",
    ]
}

/// Strings that matter to a consent, plus anything at all.
fn plausible_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "ARAMA", "MESAJ", "EPOSTA", "ONAY", "RET", "RED", "BIREYSEL", "TACIR", "HS_WEB", "HS_2015", "HS_KARAR",
            "IYS_WEB", "", " ",
        ])
        .prop_map(str::to_owned),
        "\\+90[0-9]{10}",
        "0 ?5[0-9]{2} ?[0-9]{3} ?[0-9]{2} ?[0-9]{2}",
        "[a-z.]{1,8}@[a-z]{1,8}\\.(com|tr|c)",
        "20[0-3][0-9]-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9]",
        "2015-05-01 00:00:00",
        any::<String>(),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        plausible_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(Value::Object),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(ALLOWED_FIELDS.to_vec()).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// Objects that look like consents: mostly allowed keys, sometimes repeated, values often right.
fn consent_like() -> impl Strategy<Value = Value> {
    let field = (key(), prop_oneof![3 => plausible_string().prop_map(Value::String), 1 => value()]);
    prop::collection::vec(field, 0..10).prop_map(Value::Object)
}

/// JSON-ish token soup: mostly well-formed pieces in random order.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "\n",
            "\"",
            "\\",
            "\\u",
            "\\ud83d",
            "\\ude00",
            "null",
            "true",
            "fals",
            "\"recipient\"",
            "\"a\"",
            "0",
            "-",
            "1.",
            "e5",
            "01",
            "\t",
            "\u{0}",
            "\u{feff}",
        ])
        .prop_map(str::to_owned),
        number(),
        "\"[^\"\\\\\\x00-\\x1f]{0,6}\"",
    ];
    prop::collection::vec(token, 0..30).prop_map(|t| t.concat())
}

/// Consents built from valid parts (TACIR needs no date), sometimes with a field dropped or nulled.
fn near_valid() -> impl Strategy<Value = Value> {
    let s = |v: &'static [&'static str]| prop::sample::select(v.to_vec()).prop_map(|x| Value::String(x.into()));
    (
        prop_oneof![
            "\\+905[0-9]{9}",
            "0 ?5[0-9]{2} [0-9]{3} [0-9]{2} [0-9]{2}",
            "\\+902[0-9]{9}",
            "[a-z]{1,6}@[a-z]{2,6}\\.com"
        ],
        s(&["TACIR", "TACIR", "BIREYSEL"]),
        s(&["ARAMA", "MESAJ", "EPOSTA"]),
        s(&["ONAY", "RET"]),
        prop::option::of(s(&["HS_WEB", "HS_KARAR", "HS_2015"])),
        prop::option::of(prop::collection::vec(1u64..20, 1..4)),
        prop::option::of(0usize..6),
    )
        .prop_map(|(recipient, rt, kind, status, source, access, drop)| {
            let mut fields = vec![
                ("recipient".to_owned(), Value::String(recipient)),
                ("recipientType".to_owned(), rt),
                ("type".to_owned(), kind),
                ("status".to_owned(), status),
            ];
            if let Some(source) = source {
                fields.push(("source".to_owned(), source));
            }
            if let Some(access) = access {
                let items = access.into_iter().map(|n| Value::Number(n.to_string())).collect();
                fields.push(("retailerAccess".to_owned(), Value::Array(items)));
            }
            if let Some(i) = drop.filter(|i| *i < fields.len()) {
                fields[i].1 = Value::Null;
            }
            Value::Object(fields)
        })
}

fn check_report_invariants<T>(r: &iys_core::Report<T>) {
    if r.diagnostics.iter().any(|d| d.is_error()) {
        assert!(r.value.is_none());
    }
    for d in &r.diagnostics {
        assert!(d.path.is_empty() || d.path.starts_with('/'), "{d:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), opts in options()) {
        let _ = parse(&text);
        check_report_invariants(&validate_consent(&text, &opts));
        let _ = validate_batch(&text, &opts);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = iys_core::json::parse_bytes(&bytes);
    }

    #[test]
    fn reader_agrees_with_serde_json(text in token_soup()) {
        let ours = parse(&text);
        let theirs = serde_json::from_str::<serde_json::Value>(&text);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: ours {:?}", text, ours);
        if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
            // Same data (serde_json's map drops duplicate keys, so compare via its reading of our output).
            let again: serde_json::Value = serde_json::from_str(&ours.to_json()).unwrap();
            prop_assert_eq!(again, theirs);
        }
    }

    #[test]
    fn text_and_value_paths_agree(
        items in prop::collection::vec(prop_oneof![consent_like(), near_valid(), value()], 0..5),
        cut in any::<prop::sample::Index>(),
        soup in token_soup(),
        opts in options(),
    ) {
        // validate_consent and validate_batch read the text themselves; they must answer exactly as the
        // validators of parsed values do, first JSON error included.
        let texts: Vec<String> = items.iter().map(Value::to_json).collect();
        let batch = format!("[{}]", texts.join(","));
        let mut at = cut.index(batch.len() + 1);
        while !batch.is_char_boundary(at) {
            at -= 1;
        }
        let spliced = format!("{}{}{}", &batch[..at], soup, &batch[at..]);
        let mut cases = vec![batch.clone(), spliced, soup, format!(" {batch}\n")];
        cases.extend(texts);
        for text in &cases {
            let by_value = match parse(text) {
                Ok(v) => validate_consent_value(&v, &opts),
                Err(d) => iys_core::Report::from_parts(None, vec![d]),
            };
            prop_assert_eq!(validate_consent(text, &opts), by_value, "{}", text);
            let by_value = match parse(text) {
                Ok(v) => validate_batch_value(&v, &opts),
                Err(d) => iys_core::BatchReport { diagnostics: vec![d], items: Vec::new() },
            };
            prop_assert_eq!(validate_batch(text, &opts), by_value, "{}", text);
        }
    }

    #[test]
    fn writer_and_reader_round_trip(v in value()) {
        let text = v.to_json();
        prop_assert_eq!(parse(&text), Ok(v.clone()));
        let pretty: serde_json::Value = serde_json::from_str(&text).unwrap();
        let _ = pretty; // serde_json accepts everything we write
    }

    #[test]
    fn arbitrary_values_never_panic(v in value(), opts in options()) {
        let r = validate_consent_value(&v, &opts);
        check_report_invariants(&r);
        prop_assert_eq!(&validate_consent(&v.to_json(), &opts), &r);
        let b = validate_batch_value(&v, &opts);
        for item in &b.items {
            check_report_invariants(item);
        }
        let batch = Value::Array(vec![v.clone(), v]);
        let b = validate_batch_value(&batch, &opts);
        prop_assert_eq!(b.items.len(), 2);
    }

    #[test]
    fn consent_like_objects_never_panic_and_valid_ones_are_stable(
        v in prop_oneof![consent_like(), near_valid()],
        opts in options(),
    ) {
        let r = validate_consent_value(&v, &opts);
        check_report_invariants(&r);
        if let Some(valid) = &r.value {
            // The normalised consent is itself valid, in strict mode, and normalises to itself.
            let text = valid.consent().to_json();
            let again = validate_consent(&text, &Options { mode: Mode::Strict, ..opts });
            prop_assert!(again.is_ok(), "{} -> {:?}", text, again.diagnostics);
            prop_assert_eq!(again.value.as_ref().map(|v| v.consent()), Some(valid.consent()));
            prop_assert_eq!(serde_json::to_string(valid.consent()).unwrap(), text);
        }
    }
}

fn consent() -> impl Strategy<Value = Consent> {
    (
        any::<String>(),
        prop::sample::select(RecipientType::ALL.to_vec()),
        prop::sample::select(ConsentType::ALL.to_vec()),
        prop::sample::select(Status::ALL.to_vec()),
        prop::option::of(prop::sample::select(Source::ALL.to_vec())),
        prop::option::of(any::<String>()),
        prop::option::of(any::<u64>()),
        prop::option::of(prop::collection::vec(any::<u64>(), 0..4)),
    )
        .prop_map(
            |(recipient, recipient_type, kind, status, source, consent_date, retailer_code, retailer_access)| Consent {
                recipient,
                recipient_type,
                kind,
                status,
                source,
                consent_date,
                retailer_code,
                retailer_access,
            },
        )
}

proptest! {
    #[test]
    fn consent_serde_round_trips_with_iys_names(c in consent()) {
        let text = serde_json::to_string(&c).unwrap();
        prop_assert_eq!(&c.to_json(), &text);
        let back: Consent = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &c);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let obj = v.as_object().unwrap();
        for k in obj.keys() {
            prop_assert!(ALLOWED_FIELDS.contains(&k.as_str()), "{}", k);
        }
        prop_assert_eq!(obj["type"].as_str(), Some(c.kind.as_str()));
        prop_assert_eq!(obj["recipientType"].as_str(), Some(c.recipient_type.as_str()));
        prop_assert_eq!(obj["status"].as_str(), Some(c.status.as_str()));
        prop_assert_eq!(obj.contains_key("source"), c.source.is_some());
        prop_assert_eq!(obj.contains_key("consentDate"), c.consent_date.is_some());
        prop_assert_eq!(obj.contains_key("retailerCode"), c.retailer_code.is_some());
        prop_assert_eq!(obj.contains_key("retailerAccess"), c.retailer_access.is_some());
        // Our own reader reads what serde wrote, numbers exactly.
        prop_assert_eq!(parse(&text).unwrap().to_json(), text);
    }
}

#[test]
fn enum_spellings_are_exact() {
    let spell = |s: String| s.trim_matches('"').to_owned();
    for t in ConsentType::ALL {
        assert_eq!(spell(serde_json::to_string(t).unwrap()), t.as_str());
    }
    for t in RecipientType::ALL {
        assert_eq!(spell(serde_json::to_string(t).unwrap()), t.as_str());
    }
    for t in Status::ALL {
        assert_eq!(spell(serde_json::to_string(t).unwrap()), t.as_str());
    }
    for t in Source::ALL {
        assert_eq!(spell(serde_json::to_string(t).unwrap()), t.as_str());
    }
    let names: Vec<&str> = ConsentType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(names, ["ARAMA", "MESAJ", "EPOSTA"]);
    let names: Vec<&str> = Source::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(names.len(), 13);
    assert!(names.iter().all(|s| s.starts_with("HS_")));
    assert!(serde_json::from_str::<Status>("\"RED\"").is_err());
    assert!(serde_json::from_str::<Status>("\"onay\"").is_err());
    let unknown = r#"{"recipient":"x","recipientType":"TACIR","type":"ARAMA","status":"ONAY","extra":1}"#;
    assert!(serde_json::from_str::<Consent>(unknown).is_err());
    let mut fields: Vec<&str> = ALLOWED_FIELDS.to_vec();
    fields.sort_unstable();
    let full = Consent {
        recipient: "+905321234567".into(),
        recipient_type: RecipientType::Bireysel,
        kind: ConsentType::Mesaj,
        status: Status::Onay,
        source: Some(Source::HsWeb),
        consent_date: Some("2025-03-11 10:00:00".into()),
        retailer_code: Some(1),
        retailer_access: Some(vec![2]),
    };
    let v = serde_json::to_value(&full).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, fields);
}

#[test]
fn text_and_value_paths_agree_at_the_depth_limit() {
    // Nesting right around json::MAX_DEPTH, inside retailerAccess (read item by item from the text) and
    // inside an unknown field (skipped), for a consent and for a batch (one level deeper).
    let opts = Options::new(1_741_780_800);
    for n in 58..=68 {
        let nested = format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let objects = format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        for extra in [
            format!(r#""retailerAccess":{nested}"#),
            format!(r#""retailerAccess":[1,{nested}]"#),
            format!(r#""zzz":{nested}"#),
            format!(r#""zzz":{objects}"#),
            format!(r#""recipient":{objects}"#),
        ] {
            let consent = format!(
                r#"{{"recipient":"+905321234567","recipientType":"TACIR","type":"ARAMA","status":"ONAY",{extra}}}"#
            );
            for text in [consent.clone(), format!("[{consent}]"), format!("[1,{consent}]")] {
                let by_value = match parse(&text) {
                    Ok(v) => validate_consent_value(&v, &opts),
                    Err(d) => iys_core::Report::from_parts(None, vec![d]),
                };
                assert_eq!(validate_consent(&text, &opts), by_value, "{text}");
                let by_value = match parse(&text) {
                    Ok(v) => validate_batch_value(&v, &opts),
                    Err(d) => iys_core::BatchReport { diagnostics: vec![d], items: Vec::new() },
                };
                assert_eq!(validate_batch(&text, &opts), by_value, "{text}");
            }
        }
    }
}
