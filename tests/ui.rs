//! Compile-error suite of the `network!` macro (trybuild).
//!
//! `tests/ui/fail/*.rs` must each fail to compile with exactly the diagnostics
//! recorded in the matching `.stderr`; `tests/ui/pass/*.rs` must compile and run.
//! Regenerate the expectations with
//! `TRYBUILD=overwrite cargo test --test ui` and review every changed `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
