//! Any string as a recipient, in both modes. See `iys_core_fuzz::check_recipient` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(input) = std::str::from_utf8(data) {
        iys_core_fuzz::check_recipient(input);
    }
});
