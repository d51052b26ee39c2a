//! Runs the built `iys` binary on temp files and standard input; asserts output lines and exit codes.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

#[path = "../../xtask/src/gen.rs"]
mod gen;

const NOW: &str = "2025-11-19 12:00:00";
const DATE: &str = "2025-11-18 10:00:00";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> Vec<Value> {
        self.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
    }

    /// The record lines (without the summary) and the summary.
    fn records_and_summary(&self) -> (Vec<Value>, Value) {
        let mut lines = self.lines();
        let summary = lines.pop().expect("a summary line");
        assert!(summary.get("summary").is_some(), "last line is not a summary: {summary}");
        (lines, summary["summary"].clone())
    }
}

fn iys(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iys"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run iys");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        // A run that does not read standard input (its input is a file) may exit before this write:
        // the broken pipe is its business, not the test's.
        if let Err(e) = pipe.write_all(text.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    let out = child.wait_with_output().expect("wait for iys");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temp file");
    path.to_str().expect("utf-8 path").to_owned()
}

fn codes(record: &Value, list: &str) -> Vec<String> {
    record[list]
        .as_array()
        .map_or_else(Vec::new, |a| a.iter().map(|d| d["code"].as_str().unwrap_or_default().to_owned()).collect())
}

const HEADER: &str = "recipientType;type;source;recipient;status;consentDate";

// ---- recipient --------------------------------------------------------------------------------

#[test]
fn recipient_json_normalises_a_human_written_phone() {
    let r = iys(&["recipient", "--json", "0532 123 45 67"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(l["input"], "0532 123 45 67");
    assert_eq!(l["ok"], true);
    assert_eq!(l["value"], "+905321234567");
    assert_eq!(l["kind"], "phone");
    assert_eq!(l["type"], "mobile");
    assert_eq!(l["errors"], serde_json::json!([]));
    assert_eq!(codes(l, "warnings"), ["recipient/normalized"]);
}

#[test]
fn recipient_strict_rejects_a_human_written_phone_with_h121() {
    let r = iys(&["recipient", "--json", "--strict", "0532 123 45 67", "+905321234567"], None);
    assert_eq!(r.code, 1);
    let lines = r.lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["ok"], false);
    assert_eq!(lines[0]["value"], Value::Null);
    let e = &lines[0]["errors"][0];
    assert_eq!(e["code"], "recipient/phone-not-wire-form");
    assert_eq!(e["iys_code"], "H121");
    assert_eq!(e["path"], "");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(lines[1]["ok"], true);
    assert_eq!(lines[1]["value"], "+905321234567");
}

#[test]
fn recipient_reads_one_input_per_stdin_line_in_order() {
    let r = iys(&["recipient", "--json", "-"], Some("+905321234567\nali@example.com\n\nayşe@örnek.com\r\n"));
    assert_eq!(r.code, 1);
    let lines = r.lines();
    let inputs: Vec<_> = lines.iter().map(|l| l["input"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(inputs, ["+905321234567", "ali@example.com", "", "ayşe@örnek.com"]);
    assert_eq!(lines[0]["kind"], "phone");
    assert_eq!(lines[1]["kind"], "email");
    assert_eq!(lines[1]["type"], Value::Null);
    assert_eq!(lines[1]["value"], "ali@example.com");
    assert_eq!(codes(&lines[2], "errors"), ["recipient/empty"]);
    assert_eq!(lines[3]["kind"], "email");
    assert_eq!(lines[3]["errors"][0]["code"], "recipient/email-non-ascii");
    assert_eq!(lines[3]["errors"][0]["iys_code"], "H120");
}

#[test]
fn recipient_all_valid_exits_0_and_human_output_shows_the_wire_form() {
    let r = iys(&["recipient", "--lang", "en", "0532 123 45 67", "ali@example.com"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("0532 123 45 67 → +905321234567 (phone, mobile)"), "{}", r.stdout);
    assert!(r.stdout.contains("warning recipient/normalized"), "{}", r.stdout);
    assert!(r.stdout.contains("ali@example.com → ali@example.com (email)"), "{}", r.stdout);
}

#[test]
fn recipient_dash_among_other_inputs_is_a_usage_error() {
    let r = iys(&["recipient", "-", "+905321234567"], Some(""));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`-`"), "{}", r.stderr);
}

// ---- check ------------------------------------------------------------------------------------

#[test]
fn check_csv_with_bom_and_semicolons_normalises_and_reports_each_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = format!(
        "\u{FEFF}{HEADER}\r\n\
         BIREYSEL;MESAJ;HS_WEB;+905321234567;ONAY;{DATE}\r\n\
         BIREYSEL;MESAJ;HS_WEB;0532 123 45 68;ONAY;{DATE}\r\n\
         BIREYSEL;MESAJ;HS_WEB;+905321234569;ONAY;1990-01-01 00:00:00\r\n"
    );
    let file = write(dir.path(), "consents.csv", csv.as_bytes());
    let r = iys(&["check", "--json", "--now", NOW, &file], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (records, summary) = r.records_and_summary();
    assert_eq!(records.len(), 3);

    assert_eq!(records[0]["index"], 0);
    assert_eq!(records[0]["line"], 2);
    assert_eq!(records[0]["ok"], true);
    assert_eq!(records[0]["consent"]["recipient"], "+905321234567");
    assert_eq!(records[0]["consent"]["recipientType"], "BIREYSEL");
    assert_eq!(records[0]["consent"]["consentDate"], DATE);

    assert_eq!(records[1]["ok"], true);
    assert_eq!(records[1]["consent"]["recipient"], "+905321234568");
    assert_eq!(codes(&records[1], "warnings"), ["recipient/normalized"]);
    assert_eq!(records[1]["warnings"][0]["path"], "/recipient");

    assert_eq!(records[2]["ok"], false);
    assert_eq!(records[2]["consent"], Value::Null);
    assert!(codes(&records[2], "errors").contains(&"consent/date-before-2015".to_owned()));
    let e = &records[2]["errors"][0];
    assert_eq!(e["path"], "/consentDate");
    assert_eq!(e["iys_code"], "H156");

    assert_eq!(summary["records"], 3);
    assert_eq!(summary["valid"], 2);
    assert_eq!(summary["invalid"], 1);
    assert_eq!(summary["normalized"], 1);
}

#[test]
fn check_csv_with_commas_all_valid_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = format!(
        "recipient,type,recipientType,status,source,consentDate\n\
         +905321234567,MESAJ,BIREYSEL,ONAY,HS_WEB,{DATE}\n\
         ali@example.com,EPOSTA,BIREYSEL,RET,HS_WEB,{DATE}\n\
         ,,,,,\n"
    );
    let file = write(dir.path(), "consents.csv", csv.as_bytes());
    let r = iys(&["check", "--json", "--now", NOW, &file], None);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let (records, summary) = r.records_and_summary();
    assert_eq!(records.len(), 2, "a row of bare separators is skipped");
    assert_eq!(records[1]["consent"]["recipient"], "ali@example.com");
    assert_eq!(summary["valid"], 2);
    assert_eq!(summary["invalid"], 0);
}

#[test]
fn check_strict_judges_human_written_recipients_as_iys_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = format!("{HEADER}\nBIREYSEL;MESAJ;HS_WEB;0532 123 45 67;ONAY;{DATE}\n");
    let file = write(dir.path(), "c.csv", csv.as_bytes());
    let r = iys(&["check", "--json", "--strict", "--now", NOW, &file], None);
    assert_eq!(r.code, 1);
    let (records, _) = r.records_and_summary();
    let e = &records[0]["errors"][0];
    assert_eq!(e["iys_code"], "H121");
    assert_eq!(e["path"], "/recipient");
    // The same file without --strict is valid.
    let r = iys(&["check", "--json", "--now", NOW, &file], None);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn check_csv_cells_become_typed_fields_and_unknown_columns_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = format!(
        "{HEADER};retailerCode;retailerAccess;note\n\
         BIREYSEL;MESAJ;HS_WEB;+905321234567;ONAY;{DATE};12345;1001|1002;\n\
         BIREYSEL;MESAJ;HS_WEB;+905321234568;ONAY;{DATE};;;VIP\n"
    );
    let file = write(dir.path(), "c.csv", csv.as_bytes());
    let r = iys(&["check", "--json", "--now", NOW, &file], None);
    assert_eq!(r.code, 1);
    let (records, _) = r.records_and_summary();
    assert_eq!(records[0]["ok"], true, "{}", records[0]);
    assert_eq!(records[0]["consent"]["retailerCode"], 12345);
    assert_eq!(records[0]["consent"]["retailerAccess"], serde_json::json!([1001, 1002]));
    assert_eq!(codes(&records[1], "errors"), ["consent/unknown-field"]);
    assert_eq!(records[1]["errors"][0]["params"]["field"], "note");
    assert_eq!(records[1]["errors"][0]["iys_code"], "H118");
}

#[test]
fn check_ndjson_on_stdin_and_a_json_array_give_the_same_verdicts() {
    let a = format!(
        r#"{{"recipient":"+905321234567","type":"MESAJ","recipientType":"BIREYSEL","status":"ONAY","source":"HS_WEB","consentDate":"{DATE}"}}"#
    );
    let b = r#"{"recipient":"+905321234568","type":"MESAJ","recipientType":"BIREYSEL","status":"ONAY","source":"HS_WEB","consentDate":"1990-01-01 00:00:00"}"#;
    let ndjson = format!("{a}\n\n{b}\nnot json\n");
    let r = iys(&["check", "--json", "--now", NOW, "-"], Some(&ndjson));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (nd, summary) = r.records_and_summary();
    assert_eq!(nd.len(), 3);
    assert_eq!(nd[1]["line"], 3, "blank lines count for line numbers");
    assert_eq!(codes(&nd[2], "errors"), ["request/invalid-json"]);
    assert_eq!(summary["valid"], 1);

    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "c.json", format!("[\n  {a},\n  {b}\n]\n").as_bytes());
    let r = iys(&["check", "--json", "--now", NOW, &file], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (arr, _) = r.records_and_summary();
    assert_eq!(arr.len(), 2);
    for (x, y) in arr.iter().zip(&nd) {
        assert_eq!(x["ok"], y["ok"]);
        assert_eq!(x["consent"], y["consent"]);
        assert_eq!(codes(x, "errors"), codes(y, "errors"));
    }
    assert_eq!(arr[1]["line"], 3);
    assert!(codes(&arr[1], "errors").contains(&"consent/date-before-2015".to_owned()));
}

#[test]
fn check_format_flag_overrides_the_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "export.txt", b"[]");
    let r = iys(&["check", "--json", "--format", "json", &file], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (records, summary) = r.records_and_summary();
    assert!(records.is_empty());
    assert_eq!(summary["records"], 0);
}

#[test]
fn check_json_that_is_not_an_array_is_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "c.json", br#"{"recipient":"+905321234567"}"#);
    let r = iys(&["check", "--json", &file], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("expected a JSON array"), "{}", r.stderr);
}

#[test]
fn check_unclosed_json_array_reports_the_records_then_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "c.json", br#"[{"recipient":"+905321234567"}, {"recip"#);
    let r = iys(&["check", "--json", &file], None);
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    assert!(r.stderr.contains("not closed"), "{}", r.stderr);
}

#[test]
fn check_missing_file_is_exit_2_with_a_clear_message() {
    let r = iys(&["check", "/nonexistent/consents.csv"], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot open /nonexistent/consents.csv"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

/// `text` in UTF-16 with its BOM, as Excel's "Unicode Text" writes it.
fn utf16(text: &str, little: bool) -> Vec<u8> {
    let mut out = if little { vec![0xFF, 0xFE] } else { vec![0xFE, 0xFF] };
    for unit in text.encode_utf16() {
        out.extend(if little { unit.to_le_bytes() } else { unit.to_be_bytes() });
    }
    out
}

#[test]
fn utf16_input_and_a_non_utf8_header_are_exit_2_with_the_save_as_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = format!("{HEADER}\nBIREYSEL;MESAJ;HS_WEB;+905321234567;ONAY;{DATE}\n");
    for (name, bytes) in [
        ("le.csv", utf16(&csv, true)),
        ("be.csv", utf16(&csv, false)),
        ("le.json", utf16("[{\"type\":\"MESAJ\"}]", true)),
        ("noext", utf16(&csv, true)),
    ] {
        let path = write(dir.path(), name, &bytes);
        let r = iys(&["check", "--now", NOW, &path], None);
        assert_eq!(r.code, 2, "{name}: {}", r.stdout);
        assert!(r.stderr.contains("UTF-16 (Excel 'Unicode Text'); save it as CSV UTF-8"), "{name}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{name}: {}", r.stdout);
    }
    // Windows-1254 (Turkish ANSI) in the header: `alıcı` as cp1254.
    let path = write(dir.path(), "ansi.csv", b"al\xFDc\xFD;recipient;type\nx;y;z\n");
    let r = iys(&["check", "--now", NOW, &path], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("header column 1 is not valid UTF-8; save the sheet as CSV UTF-8"), "{}", r.stderr);
}

#[test]
fn check_usage_errors_are_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "c.csv", format!("{HEADER}\n").as_bytes());
    let r = iys(&["check", "--now", "19.11.2025", &file], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--now"), "{}", r.stderr);
    assert_eq!(iys(&["check", "--lang", "de", &file], None).code, 2);
    assert_eq!(iys(&["check", "--format", "xml", &file], None).code, 2);
    assert_eq!(iys(&["check"], None).code, 2);
    assert_eq!(iys(&["frobnicate"], None).code, 2);
    assert_eq!(iys(&["--help"], None).code, 0);
    let r = iys(&["check", "--json", "/"], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("directory"), "{}", r.stderr);
    let empty = write(dir.path(), "empty.csv", b"");
    let r = iys(&["check", &empty], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("header"), "{}", r.stderr);
}

#[test]
fn check_human_output_lists_problems_and_a_summary_in_the_chosen_language() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = format!(
        "{HEADER}\n\
         BIREYSEL;MESAJ;HS_WEB;+905321234567;ONAY;{DATE}\n\
         BIREYSEL;MESAJ;HS_WEB;+905321234568;ONAY;1990-01-01 00:00:00\n"
    );
    let file = write(dir.path(), "c.csv", csv.as_bytes());
    let r = iys(&["check", "--lang", "en", "--now", NOW, &file], None);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains(
            "record 1 (line 3): error consent/date-before-2015 [H156] at /consentDate: consentDate may not be before"
        ),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("record 0"), "valid records without warnings are not listed: {}", r.stdout);
    assert!(r.stdout.ends_with("2 records: 1 valid, 1 invalid; 0 normalised to the IYS form.\n"), "{}", r.stdout);
    assert!(r.stderr.is_empty(), "no progress bar when stderr is not a terminal: {}", r.stderr);

    let r = iys(&["check", "--now", NOW, &file], None);
    assert!(r.stdout.contains("2 kayıt: 1 geçerli, 1 geçersiz"), "Turkish by default: {}", r.stdout);
}

#[test]
fn check_bundled_sample_mixes_valid_normalised_and_invalid_records() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/consents.csv");
    let r = iys(&["check", "--json", "--lang", "en", "--now", NOW, sample], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (records, summary) = r.records_and_summary();
    assert_eq!(records.len(), 30);
    assert!(summary["valid"].as_u64().unwrap_or(0) >= 12, "{summary}");
    assert!(summary["invalid"].as_u64().unwrap_or(0) >= 14, "{summary}");
    assert!(summary["normalized"].as_u64().unwrap_or(0) >= 5, "{summary}");
    // Row 17 of the file: a human-written phone with a 1990 date.
    let r15 = &records[15];
    assert_eq!(r15["line"], 17);
    assert!(codes(r15, "errors").contains(&"consent/date-before-2015".to_owned()), "{r15}");
}

// ---- batch ------------------------------------------------------------------------------------

fn consent_line(phone: u64, date: &str) -> String {
    format!(
        r#"{{"recipient":"0532 {:03} {:02} {:02}","type":"MESAJ","recipientType":"BIREYSEL","status":"ONAY","source":"HS_WEB","consentDate":"{date}"}}"#,
        100 + phone / 10_000,
        phone / 100 % 100,
        phone % 100
    )
}

#[test]
fn batch_writes_batches_of_1000_and_rejects_duplicates_and_invalid_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ndjson = String::new();
    for i in 0..2100 {
        ndjson.push_str(&consent_line(i, DATE));
        ndjson.push('\n');
    }
    ndjson.push_str(&consent_line(5, DATE)); // index 2100: duplicate of index 5
    ndjson.push('\n');
    ndjson.push_str(&consent_line(3000, "1990-01-01 00:00:00")); // index 2101: invalid
    ndjson.push('\n');
    let input = write(dir.path(), "in.ndjson", ndjson.as_bytes());
    let out = dir.path().join("out");
    let out_s = out.to_str().expect("utf-8");
    let r = iys(&["batch", "--json", "--now", NOW, "--out", out_s, &input], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let summary = &r.lines()[0]["summary"];
    assert_eq!(summary["records"], 2102);
    assert_eq!(summary["valid"], 2100);
    assert_eq!(summary["rejected"], 2);
    assert_eq!(summary["duplicates"], 1);
    assert_eq!(summary["batches"], 3);

    let mut sizes = Vec::new();
    for n in 1..=3 {
        let text = std::fs::read_to_string(out.join(format!("batch-{n:05}.json"))).expect("batch file");
        let items: Vec<Value> = serde_json::from_str(&text).expect("a bare JSON array");
        for item in &items {
            let rec = item["recipient"].as_str().unwrap_or_default();
            assert!(rec.starts_with("+90532") && rec.len() == 13, "wire form: {rec}");
        }
        sizes.push(items.len());
    }
    assert_eq!(sizes, [1000, 1000, 100]);
    assert!(!out.join("batch-00004.json").exists());

    let rejects = std::fs::read_to_string(out.join("rejects.ndjson")).expect("rejects");
    let rejects: Vec<Value> = rejects.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(rejects.len(), 2);
    assert_eq!(rejects[0]["index"], 2100);
    let dup = rejects[0]["errors"].as_array().and_then(|a| a.last()).expect("an error");
    assert_eq!(dup["code"], "batch/duplicate");
    assert_eq!(dup["iys_code"], "H194");
    assert_eq!(dup["params"]["first"], "5");
    assert_eq!(rejects[1]["index"], 2101);
    assert!(codes(&rejects[1], "errors").contains(&"consent/date-before-2015".to_owned()));
}

#[test]
fn batch_cut_short_by_an_input_error_leaves_no_manifest_and_no_unterminated_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 1500 valid items of a JSON array whose closing `]` is missing: an input error (exit 2) after
    // the first batch file is closed and while the second is open.
    let items: Vec<String> = (0..1500).map(|i| consent_line(i, DATE)).collect();
    let input = write(dir.path(), "in.json", format!("[{}", items.join(",\n")).as_bytes());
    let out = dir.path().join("out");
    let out_s = out.to_str().expect("utf-8");
    let r = iys(&["batch", "--now", NOW, "--out", out_s, &input], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is incomplete (no manifest.json): `iys upload` refuses it"), "{}", r.stderr);
    assert!(!out.join("manifest.json").exists());
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("the out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["batch-00001.json", "rejects.ndjson"], "the open second file is removed");
    let text = std::fs::read_to_string(out.join("batch-00001.json")).expect("batch file");
    assert_eq!(serde_json::from_str::<Vec<Value>>(&text).expect("a closed array").len(), 1000);
}

#[test]
fn batch_of_valid_records_exits_0_and_refuses_a_directory_with_earlier_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = format!("{HEADER}\nBIREYSEL;MESAJ;HS_WEB;+905321234567;ONAY;{DATE}\n");
    let input = write(dir.path(), "c.csv", csv.as_bytes());
    let out = dir.path().join("out");
    let out_s = out.to_str().expect("utf-8");
    let r = iys(&["batch", "--lang", "en", "--now", NOW, "--out", out_s, &input], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("1 records: 1 consents in 1 batch files, 0 rejected"), "{}", r.stdout);
    let text = std::fs::read_to_string(out.join("batch-00001.json")).expect("batch file");
    let items: Vec<Value> = serde_json::from_str(&text).expect("JSON array");
    assert_eq!(items.len(), 1);
    assert_eq!(std::fs::read_to_string(out.join("rejects.ndjson")).expect("rejects"), "");

    let r = iys(&["batch", "--now", NOW, "--out", out_s, &input], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already holds batch files"), "{}", r.stderr);
}

#[test]
fn a_csv_row_over_1_mib_is_body_too_large_and_the_next_rows_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = |n: u64| format!("BIREYSEL;MESAJ;HS_WEB;+90532{n:07};ONAY;{DATE}\n");
    // Row 2 quotes 1.5 MB (over two lines); the last row's stray `"` runs to the end of the file.
    let csv = format!(
        "{HEADER}\n{}BIREYSEL;MESAJ;HS_WEB;\"{}\n{}\";ONAY;{DATE}\n{}\"{}",
        ok(1),
        "5".repeat(1_000_000),
        "5".repeat(500_000),
        ok(2),
        ok(3).repeat(40_000),
    );
    let input = write(dir.path(), "c.csv", csv.as_bytes());
    let r = iys(&["check", "--json", "--now", NOW, &input], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.len() < 4096, "the output echoes the row: {} bytes", r.stdout.len());
    let (records, summary) = r.records_and_summary();
    assert_eq!(summary["records"], 4);
    let at: Vec<(u64, bool)> =
        records.iter().map(|x| (x["line"].as_u64().unwrap_or(0), x["ok"].as_bool().unwrap_or(false))).collect();
    assert_eq!(at, [(2, true), (3, false), (5, true), (6, false)]);
    assert_eq!(codes(&records[1], "errors"), ["request/body-too-large"]);
    assert_eq!(codes(&records[3], "errors"), ["request/body-too-large"]);

    // batch reads rows one by one (not in slices): the same verdicts.
    let out = dir.path().join("out");
    let r = iys(&["batch", "--json", "--now", NOW, "--out", out.to_str().expect("utf-8"), &input], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.lines()[0]["summary"]["valid"], 2);
    let rejects = std::fs::read_to_string(out.join("rejects.ndjson")).expect("rejects");
    assert_eq!(rejects.lines().count(), 2);
    assert!(rejects.lines().all(|l| l.contains("request/body-too-large")), "{rejects}");
}

#[test]
fn a_csv_with_cr_only_line_ends_is_read_row_by_row() {
    // Old Excel for Mac ("Macintosh CSV"): a lone `\r` ends each line, also inside a quoted cell.
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = format!(
        "{HEADER}\rBIREYSEL;MESAJ;HS_WEB;+905321234567;ONAY;{DATE}\rBIREYSEL;\"MESAJ\rX\";HS_WEB;+905321234568;ONAY;{DATE}\rBIREYSEL;MESAJ;HS_WEB;+905321234569;ONAY;{DATE}\r"
    );
    let input = write(dir.path(), "mac.csv", csv.as_bytes());
    let r = iys(&["check", "--json", "--now", NOW, &input], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (records, summary) = r.records_and_summary();
    assert_eq!(summary["records"], 3);
    let at: Vec<(u64, bool)> =
        records.iter().map(|x| (x["line"].as_u64().unwrap_or(0), x["ok"].as_bool().unwrap_or(false))).collect();
    assert_eq!(at, [(2, true), (3, false), (5, true)]);
    assert_eq!(codes(&records[1], "errors"), ["consent/invalid-type"]);
}

#[test]
fn a_csv_header_naming_no_iys_field_is_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No header: the first row is data.
    let rows =
        format!("BIREYSEL;MESAJ;HS_WEB;+905321234567;ONAY;{DATE}\nBIREYSEL;MESAJ;HS_WEB;+905321234568;ONAY;{DATE}\n");
    let input = write(dir.path(), "rows.csv", rows.as_bytes());
    let r = iys(&["check", "--now", NOW, &input], None);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("the CSV header names no IYS consent field (recipient, recipientType, type, status, source, consentDate, retailerCode, retailerAccess); is the header missing, or is this not CSV?"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    // A one-line JSON array saved as .txt goes to the CSV reader, which says what it looks like.
    let json = format!("[{{\"recipient\":\"+905321234567\",\"type\":\"MESAJ\",\"consentDate\":\"{DATE}\"}}]");
    let input = write(dir.path(), "data.txt", json.as_bytes());
    let r = iys(&["check", "--now", NOW, &input], None);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("It looks like JSON: give --format json"), "{}", r.stderr);
    let r = iys(&["check", "--json", "--format", "json", "--now", NOW, &input], None);
    assert_eq!(r.records_and_summary().1["records"], 1);
    // Tab-separated text (Excel's "Text (Tab delimited)") is read with the tab as the separator.
    let tsv = format!(
        "{}\n{}\n",
        HEADER.replace(';', "\t"),
        format!("BIREYSEL;MESAJ;HS_WEB;+905321234567;ONAY;{DATE}").replace(';', "\t")
    );
    let input = write(dir.path(), "tab.txt", tsv.as_bytes());
    let r = iys(&["check", "--json", "--now", NOW, &input], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (records, summary) = r.records_and_summary();
    assert_eq!(
        (summary["records"].clone(), summary["valid"].clone()),
        (serde_json::json!(1), serde_json::json!(1)),
        "{records:?}"
    );
    assert_eq!(records[0]["consent"]["recipient"], "+905321234567");
}

#[test]
fn an_excel_sep_line_names_the_separator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let header = HEADER.replace(';', ",");
    for (name, end) in [("crlf.csv", "\r\n"), ("lf.csv", "\n"), ("cr.csv", "\r")] {
        let csv = format!("sep=,{end}{header}{end}BIREYSEL,MESAJ,HS_WEB,+905321234567,ONAY,{DATE}{end}");
        let input = write(dir.path(), name, csv.as_bytes());
        let r = iys(&["check", "--json", "--now", NOW, &input], None);
        assert_eq!(r.code, 0, "{name}: {} {}", r.stdout, r.stderr);
        let (records, summary) = r.records_and_summary();
        assert_eq!(summary["records"], 1, "{name}");
        assert_eq!(records[0]["line"], 3, "{name}");
    }
}

#[test]
fn a_header_name_in_the_wrong_case_is_exit_2_once_not_an_error_per_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = format!("BIREYSEL;MESAJ;HS_WEB;+905321234567;ONAY;{DATE}\n").repeat(50);
    let header = "RECIPIENTTYPE;Type;source;recipient;status;consent_date";
    let input = write(dir.path(), "c.csv", format!("{header}\n{rows}").as_bytes());
    let r = iys(&["check", "--now", NOW, &input], None);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "the CSV header has `RECIPIENTTYPE` (did you mean `recipientType`?), `Type` (did you mean `type`?), `consent_date` (did you mean `consentDate`?)"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    // A column that is no IYS field at all is still the core's per-record consent/unknown-field.
    let input = write(
        dir.path(),
        "x.csv",
        format!("{HEADER};note\nBIREYSEL;MESAJ;HS_WEB;+905321234567;ONAY;{DATE};hi\n").as_bytes(),
    );
    let r = iys(&["check", "--json", "--now", NOW, &input], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(codes(&r.records_and_summary().0[0], "errors"), ["consent/unknown-field"]);
}

#[test]
fn no_records_is_a_warning_for_check_and_exit_2_for_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let header_only = write(dir.path(), "h.csv", format!("{HEADER}\r\n").as_bytes());
    let r = iys(&["check", "--lang", "en", "--now", NOW, &header_only], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("0 records"), "{}", r.stdout);
    assert!(r.stderr.contains("h.csv holds no records"), "{}", r.stderr);

    let out = dir.path().join("out");
    let out_s = out.to_str().expect("utf-8");
    let empty_array = write(dir.path(), "e.json", b" [ ] ");
    for input in [&["csv", header_only.as_str()], &["json", &empty_array], &["ndjson", "-"]] {
        let r = iys(&["batch", "--now", NOW, "--out", out_s, "--format", input[0], input[1]], Some("\n \n"));
        let input = input[1];
        assert_eq!(r.code, 2, "{input}: {}", r.stdout);
        assert!(r.stderr.contains("holds no records"), "{input}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{input}: {}", r.stdout);
        // Nothing left behind that would refuse the next run into the same directory.
        assert_eq!(std::fs::read_dir(&out).expect("out").count(), 0, "{input}");
    }
    let good =
        write(dir.path(), "g.csv", format!("{HEADER}\nBIREYSEL;MESAJ;HS_WEB;+905321234567;ONAY;{DATE}\n").as_bytes());
    let r = iys(&["batch", "--now", NOW, "--out", out_s, &good], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn echoed_input_cannot_forge_report_lines_or_send_escape_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A quoted cell with a line break and a fake report line, then an ESC sequence and a C1 CSI.
    let csv = format!(
        "{HEADER}\nBIREYSEL;\"x\nrecord 5 (line 9): error FORGED\";HS_WEB;+905321234567;ONAY;{DATE}\nBIREYSEL;\"\x1b[2J\u{9b}31m\x7f\";HS_WEB;+905321234568;ONAY;{DATE}\n"
    );
    let input = write(dir.path(), "c.csv", csv.as_bytes());
    let r = iys(&["check", "--lang", "en", "--now", NOW, &input], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.lines().all(|l| l.starts_with("record ") || l.starts_with("2 records")), "{}", r.stdout);
    assert!(!r.stdout.lines().any(|l| l.starts_with("record 5")), "{}", r.stdout);
    assert!(r.stdout.contains(r"not x\nrecord 5 (line 9): error FORGED."), "{}", r.stdout);
    assert!(r.stdout.contains(r"not \u{1b}[2J\u{9b}31m\u{7f}."), "{}", r.stdout);
    assert!(!r.stdout.chars().any(|c| c.is_control() && c != '\n'), "{:?}", r.stdout);

    // `recipient` text mode echoes its input too.
    let r = iys(&["recipient", "0532\x1b[31m123"], None);
    assert_eq!(r.code, 1);
    assert!(r.stdout.starts_with(r"invalid 0532\u{1b}[31m123"), "{}", r.stdout);
    assert!(!r.stdout.chars().any(|c| c.is_control() && c != '\n'), "{:?}", r.stdout);
}

// ---- the benchmark generator ------------------------------------------------------------------

#[test]
fn generated_csv_is_deterministic_and_mostly_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    gen::write_consents_csv(&a, 3000, 42).expect("generate");
    gen::write_consents_csv(&b, 3000, 42).expect("generate");
    let bytes = std::fs::read(&a).expect("read");
    assert_eq!(bytes, std::fs::read(&b).expect("read"));
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    assert!(bytes[3..].starts_with(gen::HEADER.as_bytes()));

    let r = iys(&["check", "--json", "--now", gen::REFERENCE_NOW, a.to_str().expect("utf-8")], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (records, summary) = r.records_and_summary();
    assert_eq!(records.len(), 3000);
    let valid = summary["valid"].as_u64().unwrap_or(0);
    assert!((2400..=2760).contains(&valid), "80–92 % valid: {summary}");
    assert!(summary["normalized"].as_u64().unwrap_or(0) > 600, "{summary}");
}
