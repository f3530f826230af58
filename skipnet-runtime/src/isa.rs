//! The instruction sets the kernels are written for, and which one this CPU
//! runs. A leaf module: the executor, the kernels and the tests all read it,
//! and it reads none of them (each ISA's entry points are in `igemm`,
//! `Isa::kernels`).

/// Which tile kernel `conv2d` uses on this machine (chosen once per call from
/// cached CPU feature flags, never per element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Discriminants from 1: a workspace's "no ISA chosen" (`Option<Isa>::None`)
// then takes the niche 0, so a `static` workspace is all zeros and lands in
// `.bss` (RAM only) instead of `.data` (its 192 KiB image copied from flash
// at reset on a microcontroller).
#[repr(u8)]
pub enum Isa {
    /// 8 x 32 tiles of `zmm` FMAs.
    Avx512 = 1,
    /// 6 x 16 tiles of `ymm` FMAs.
    Avx2Fma = 2,
    /// AArch64 Advanced SIMD: 6 x 16 tiles, 24 `q` accumulators.
    Neon = 3,
    /// Portable 4 x 16 tiles, no SIMD assumed.
    Scalar = 4,
    /// Cortex-M with a single-precision FPU (M4F, M7F, M33, M55):
    /// 2 pixels x 8 filters in 16 `s` registers, `vfma.f32`.
    CortexM = 5,
}

impl Isa {
    /// The best ISA this CPU (std: detected at run time; no_std: enabled at compile time) supports.
    pub fn detect() -> Isa {
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        {
            // Code compiled with `avx512f` may also use what that feature
            // implies to the compiler (AVX2, FMA, F16C): a CPU (or a VM that
            // masks features) must report all of them.
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
                && std::is_x86_feature_detected!("f16c")
            {
                return Isa::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Isa::Avx2Fma;
            }
        }
        #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
        {
            if cfg!(all(
                target_feature = "avx512f",
                target_feature = "avx2",
                target_feature = "fma",
                target_feature = "f16c"
            )) {
                return Isa::Avx512;
            }
            if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
                return Isa::Avx2Fma;
            }
        }
        // NEON is part of every AArch64 target Rust ships (a compile-time fact).
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        {
            return Isa::Neon;
        }
        // Set by build.rs from the target triple (stable Rust does not
        // expose ARM's FPU features to `cfg`).
        #[cfg(skipnet_cortex_m_fpu)]
        {
            return Isa::CortexM;
        }
        #[allow(unreachable_code)]
        Isa::Scalar
    }

    /// Whether this CPU can run `self`.
    pub fn available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => matches!(Isa::detect(), Isa::Avx2Fma | Isa::Avx512),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Isa::detect() == Isa::Avx512,
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            Isa::Neon => true,
            #[cfg(skipnet_cortex_m_fpu)]
            Isa::CortexM => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}
