//! The embedded build's network on the host: the baked weights give Keras's
//! output (tests/fixtures/seed_unet, max abs error <= 1e-4), and `forward`
//! fits in a small stack.

use skipnet_embedded_example::{segment, SkipUNetWorkspace, WORKSPACE};

fn io(name: &str) -> Vec<f32> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/seed_unet/io.safetensors"
    );
    let bytes = std::fs::read(path).expect("fixture");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid fixture");
    let t = st.tensor(name).expect("tensor in fixture");
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn matches_keras_from_a_static_workspace() {
    let x: [f32; 3072] = io("x").try_into().expect("32x32x3 input");
    let want = io("y");
    let ws = WORKSPACE.take().expect("first take");
    let y = segment(ws, &x);
    // NaN-aware: a NaN or infinite difference counts as infinitely far.
    let err = skipnet::compare::max_abs_diff(y, &want);
    println!("embedded seed U-Net max abs error vs Keras: {err:e}");
    assert!(err <= 1e-4, "{err}");
}

/// `forward`'s stack: the smallest thread stack (4 KiB steps) on which one
/// frame completes, at most 8 KiB with the portable kernel, 128 KiB with a
/// SIMD one. A stack overflow aborts the process, so each size is tried
/// in a child process (this test binary re-run on `stack_child`).
#[test]
fn stack_high_water_mark() {
    if let Ok(size) = std::env::var("SKIPNET_STACK_CHILD") {
        let size: usize = size.parse().expect("stack size");
        // Built here, not on the measured thread: `Box::new` of the 192 KiB
        // arena goes through the stack in unoptimized builds.
        let mut ws = Box::new(SkipUNetWorkspace::new());
        let x = Box::new([0.25f32; 3072]);
        let ok = std::thread::Builder::new()
            .stack_size(size)
            .spawn(move || {
                let y = segment(&mut ws, &x);
                y.iter().sum::<f32>().is_finite()
            })
            .expect("spawn")
            .join()
            .expect("join");
        assert!(ok);
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let runs = |size: usize| {
        std::process::Command::new(&exe)
            .args(["--exact", "stack_high_water_mark", "--test-threads=1"])
            .env("SKIPNET_STACK_CHILD", size.to_string())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let (mut lo, mut hi) = (4096usize, 1 << 20);
    assert!(runs(hi), "one frame must run on a 1 MiB stack");
    while hi - lo > 4096 {
        let mid = (lo + hi) / 2 / 4096 * 4096;
        if runs(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    println!(
        "one frame runs on a {} KiB thread stack (fails on {} KiB)",
        hi / 1024,
        lo / 1024
    );
    // The portable kernel (what no_std selects on a target without SIMD, the
    // embedded configuration) keeps its working set in a few KiB. The SIMD
    // drivers (a host build with std: `--all-features` unifies it in) hold per
    // call a block of tile pointers (19 KiB), partial sums (6 KiB) and the
    // zero-padded input rows of the row-merged mode (48 KiB) on the stack.
    let isa = skipnet::Isa::detect();
    // (8 KiB: the README's figure; `cargo test -p skipnet-embedded-example`
    // alone builds the portable kernel, as .ci/run does.)
    let bound = if isa == skipnet::Isa::Scalar {
        8 * 1024
    } else {
        128 * 1024
    };
    println!("kernel {isa:?}: bound {} KiB", bound / 1024);
    assert!(hi <= bound, "forward needs {hi} bytes of stack on {isa:?}");
}
