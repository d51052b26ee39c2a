//! Options header + any text as a batch. See `iys_core_fuzz::check_batch` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((opts, text)) = iys_core_fuzz::split(data) {
        iys_core_fuzz::check_batch(&opts, text);
    }
});
