//! The seed U-Net of DSL.md §1, run on its Keras fixture:
//! `cargo run --release --example seed_unet`
//!
//! Prints `summary()`, the max abs error against Keras's output for the same
//! input, and the median time of `forward` on this machine.

use skipnet::network;
use std::time::Instant;

network! {
    /// Encoder-decoder with concatenate skips (the classic Keras example).
    pub SkipUNet(x: [32, 32, 3]) -> out {
        conv1  = conv2d(x, 32, 3, strides = 2, padding = same, activation = relu);
        conv2  = conv2d(conv1, 64, 3, strides = 2, padding = same, activation = relu);
        conv3  = conv2d(conv2, 128, 3, strides = 2, padding = same, activation = relu);
        conv4  = conv2d(conv3, 128, 3, strides = 2, padding = same, activation = relu);
        up1    = conv2d(upsample2d(conv4, 2), 128, 3, padding = same, activation = relu);
        merge1 = concat(conv3, up1);
        up2    = conv2d(upsample2d(merge1, 2), 64, 3, padding = same, activation = relu);
        merge2 = concat(conv2, up2);
        up3    = conv2d(upsample2d(merge2, 2), 32, 3, padding = same, activation = relu);
        merge3 = concat(conv1, up3);
        up4    = conv2d(upsample2d(merge3, 2), 32, 3, padding = same);
        out    = conv2d(up4, 3, 3, padding = same);
    }
}

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed_unet");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let weights = std::fs::read(format!("{FIXTURE}/weights.safetensors"))?;
    let net = SkipUNet::from_safetensors(&weights)?;
    let mut ws = SkipUNet::workspace();

    // Keras's seeded input and its output for it (tools/keras_fixtures.py).
    let io_bytes = std::fs::read(format!("{FIXTURE}/io.safetensors"))?;
    let io = safetensors::SafeTensors::deserialize(&io_bytes)?;
    let read = |name: &str| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let t = io.tensor(name)?;
        Ok(t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    let x: Box<[f32; 3072]> = read("x")?
        .into_boxed_slice()
        .try_into()
        .map_err(|_| "x has the wrong length")?;
    let keras_y = read("y")?;

    println!("{}", SkipUNet::summary());

    let y = net.forward(&mut ws, &x);
    // NaN-aware: a NaN or infinite difference counts as infinitely far.
    let max_err = skipnet::compare::max_abs_diff(y, &keras_y);
    println!("max abs error vs Keras: {max_err:.2e} (tolerance 1e-4)");
    if max_err > 1e-4 {
        return Err(format!("output differs from Keras by {max_err:e} (tolerance 1e-4)").into());
    }

    let mut times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        std::hint::black_box(net.forward(&mut ws, std::hint::black_box(&x)));
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "forward: median {:.1} us over {} runs",
        times[times.len() / 2].as_secs_f64() * 1e6,
        times.len()
    );
    if max_err > 1e-4 {
        return Err(format!("max abs error {max_err} exceeds 1e-4").into());
    }
    Ok(())
}
