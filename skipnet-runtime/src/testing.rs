//! Support for tests of the kernels (this crate's and the workspace's): which
//! instruction sets a test exercises, said out loud.
//!
//! A kernel test that silently skips an ISA the machine lacks proves less than
//! it seems to. [`isas_under_test`] returns every [`Isa`] this machine can
//! run, prints which ran and which did not, and fails when the environment
//! variable `SKIPNET_REQUIRE_ISA` (a comma-separated list such as
//! `avx2,avx512`) names one that is missing, so CI can insist on the kernels
//! its machine is expected to have.

use crate::igemm::Isa;
use std::vec::Vec;

/// Every ISA a test could exercise, in a fixed order.
pub const ALL_ISAS: [Isa; 5] = [
    Isa::Scalar,
    Isa::Avx2Fma,
    Isa::Avx512,
    Isa::Neon,
    Isa::CortexM,
];

/// The name `SKIPNET_REQUIRE_ISA` uses for `isa`.
pub fn isa_name(isa: Isa) -> &'static str {
    match isa {
        Isa::Scalar => "scalar",
        Isa::Avx2Fma => "avx2",
        Isa::Avx512 => "avx512",
        Isa::Neon => "neon",
        Isa::CortexM => "cortex-m",
    }
}

/// The ISAs this machine runs, after printing `"<test>: ran on ...; not
/// available: ..."` to stderr (shown by `cargo test -- --nocapture`, and with
/// a failing test's output).
///
/// # Panics
/// When `SKIPNET_REQUIRE_ISA` names an ISA this machine cannot run, or a name
/// that is not one of `scalar`, `avx2`, `avx512`, `neon`, `cortex-m`.
pub fn isas_under_test(test: &str) -> Vec<Isa> {
    let (ran, missing): (Vec<Isa>, Vec<Isa>) = ALL_ISAS.iter().partition(|i| i.available());
    let names = |v: &[Isa]| {
        v.iter()
            .map(|&i| isa_name(i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    std::eprintln!(
        "{test}: ran on {}; not available here: {}",
        names(&ran),
        if missing.is_empty() {
            "none".into()
        } else {
            names(&missing)
        }
    );
    if let Ok(required) = std::env::var("SKIPNET_REQUIRE_ISA") {
        for want in required.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let isa = ALL_ISAS
                .iter()
                .copied()
                .find(|&i| isa_name(i) == want)
                .unwrap_or_else(|| {
                    panic!(
                        "SKIPNET_REQUIRE_ISA names {want:?}: not one of scalar, avx2, avx512, neon, cortex-m"
                    )
                });
            assert!(
                isa.available(),
                "{test}: SKIPNET_REQUIRE_ISA requires {want}, which this machine cannot run"
            );
        }
    }
    ran
}

pub use crate::rng::SplitMix64;
