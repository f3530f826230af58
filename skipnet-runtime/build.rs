//! Sets `skipnet_cortex_m_fpu` on targets whose every CPU has a single-precision
//! FPU with fused multiply-add and 32 `s` registers (FPv4-SP or later):
//! Cortex-M4F and M7F (`thumbv7em-*-eabihf`), M33/M35P/M55/M85
//! (`thumbv8m.main-*-eabihf`, `thumbv8.1m.main-*-eabihf`). The Cortex-M
//! kernel (`igemm/cortex_m.rs`) is written in their assembly. A build script
//! because stable Rust does not expose ARM's FPU features to `cfg`
//! (`target_feature = "vfp4"` is unstable), and `target_abi = "eabihf"`
//! alone also covers Cortex-R and ARMv7-A parts with VFPv3, which lack
//! `vfma`.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(skipnet_cortex_m_fpu)");
    println!("cargo::rustc-check-cfg=cfg(skipnet_cortex_m_dsp)");
    println!("cargo::rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let fpv4_or_later = ["thumbv7em-", "thumbv8m.main-", "thumbv8.1m.main-"]
        .iter()
        .any(|arch| target.starts_with(arch));
    if fpv4_or_later && target.ends_with("eabihf") {
        println!("cargo::rustc-cfg=skipnet_cortex_m_fpu");
    }
    // The DSP extension (`SMLAD`, `SXTB16`: the int8 kernel, qgemm/cortex_m.rs)
    // is in every ARMv7E-M core and in the ARMv8-M mainline ones with it
    // (M33, M35P, M55, M85; `thumbv8m.main` parts may lack it, so only
    // thumbv7em and ARMv8.1-M, where MVE implies it).
    if target.starts_with("thumbv7em-") || target.starts_with("thumbv8.1m.main-") {
        println!("cargo::rustc-cfg=skipnet_cortex_m_dsp");
    }
}
