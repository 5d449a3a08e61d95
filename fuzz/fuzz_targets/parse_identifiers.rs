//! libFuzzer target: every input goes through `hyperfed_fuzz::check`, which panics when an
//! invariant of identifier or argument parsing breaks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hyperfed_fuzz::check(data);
});
