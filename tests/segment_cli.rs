//! `examples/segment.rs` (issue 6) end to end, called in-process through its
//! `run`: images in and out with the expected sizes, and a one-line `Err` naming
//! the culprit for every bad input, never a panic.

#[path = "../examples/segment.rs"]
#[allow(dead_code)]
mod segment;

use image::{DynamicImage, GenericImageView, ImageBuffer, Luma, Rgb, RgbImage, Rgba};
use segment::{run, Outcome, Report};
use std::path::{Path, PathBuf};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("skipnet-segment-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `w` x `h` picture with structure: gradients and a bright disc.
fn picture(w: u32, h: u32) -> RgbImage {
    ImageBuffer::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - w as f32 / 2.0, y as f32 - h as f32 / 2.0);
        let disc = dx * dx + dy * dy < (w.min(h) as f32 / 4.0).powi(2);
        Rgb([
            if disc { 255 } else { (255 * x / w) as u8 },
            (255 * y / h) as u8,
            if disc { 0 } else { 180 },
        ])
    })
}

fn segmented<const N: usize>(args: [&str; N]) -> Report {
    match run(args) {
        Ok(Outcome::Segmented(r)) => *r,
        Ok(Outcome::Help) => panic!("{args:?} printed the help"),
        Err(e) => panic!("{args:?} failed: {e}"),
    }
}

fn error<const N: usize>(args: [&str; N]) -> String {
    match run(args) {
        Ok(_) => panic!("{args:?} succeeded"),
        Err(e) => {
            assert!(!e.contains('\n'), "not one line: {e}");
            e
        }
    }
}

fn assert_contains(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "`{msg}` does not mention `{p}`");
    }
}

#[test]
fn png_in_upscaled_png_out() {
    let dir = TempDir::new("png");
    let (input, output) = (dir.path("in.png"), dir.path("out.png"));
    picture(48, 40).save(&input).unwrap();

    let r = segmented([&input, &output, "--runs", "3", "--size", "96x64"]);
    assert_eq!(r.input_size, (48, 40));
    assert_eq!(r.output_size, (96, 64));
    assert_eq!(r.forward.len(), 3);
    assert!(r.forward.windows(2).all(|w| w[0] <= w[1]), "sorted");
    assert_eq!(
        r.options.weights,
        Path::new(segment::DEFAULT_WEIGHTS),
        "the fixture by default"
    );

    let out = image::open(&output).unwrap();
    assert_eq!(out.dimensions(), (96, 64));
    let out = out.to_rgb8();
    // Min-max per channel: each channel spans 0..=255 (the random network's
    // output is not constant on a structured picture).
    for c in 0..3 {
        let vals = out.pixels().map(|p| p[c]);
        assert_eq!(vals.clone().min(), Some(0), "channel {c}");
        assert_eq!(vals.max(), Some(255), "channel {c}");
        let (lo, hi) = r.channel_ranges[c];
        assert!(lo < hi, "channel {c}: {lo} {hi}");
    }
    // Nearest upscaling by 3x2: blocks of identical pixels.
    for (x, y, p) in out.enumerate_pixels() {
        assert_eq!(p, out.get_pixel(x / 3 * 3, y / 2 * 2));
    }

    let shown = r.to_string();
    assert_contains(
        &shown,
        &[
            "48x40 -> 32x32x3",
            "96x64 (from 32x32, nearest)",
            "load",
            "preprocess",
            "median of 3 runs",
            "postprocess",
        ],
    );
}

#[test]
fn the_same_input_gives_the_same_output_and_size_defaults_to_32x32() {
    let dir = TempDir::new("same");
    let input = dir.path("in.png");
    picture(32, 32).save(&input).unwrap();
    let (a, b) = (dir.path("a.png"), dir.path("b.png"));
    segmented([&input, &a, "--runs=1"]);
    segmented([&input, &b, "--runs", "2"]);
    let (a, b) = (image::open(a).unwrap(), image::open(b).unwrap());
    assert_eq!(a.dimensions(), (32, 32));
    assert_eq!(a.as_bytes(), b.as_bytes());
}

#[test]
fn jpeg_grey_16_bit_and_rgba_inputs_jpeg_output() {
    let dir = TempDir::new("formats");
    let pic = picture(70, 50);
    let inputs = [
        ("in.jpg", DynamicImage::ImageRgb8(pic.clone())),
        (
            "grey16.png",
            DynamicImage::ImageLuma16(ImageBuffer::from_fn(20, 30, |x, y| {
                Luma([(x * 3000 + y * 100) as u16])
            })),
        ),
        (
            "rgba.png",
            DynamicImage::ImageRgba8(ImageBuffer::from_fn(70, 50, |x, y| {
                let [r, g, b] = pic.get_pixel(x, y).0;
                Rgba([r, g, b, (x * 3) as u8])
            })),
        ),
    ];
    for (name, img) in inputs {
        let input = dir.path(name);
        img.save(&input).unwrap();
        let output = dir.path(&format!("{name}.out.jpeg"));
        let r = segmented([&input, &output, "--runs", "1", "--size", "64x64"]);
        assert_eq!(r.input_size, img.dimensions(), "{name}");
        let out = image::open(&output).unwrap();
        assert_eq!(out.dimensions(), (64, 64), "{name}");
    }
}

#[test]
fn help() {
    for flag in ["--help", "-h"] {
        assert!(matches!(run(["in.png", flag]), Ok(Outcome::Help)));
    }
    assert_contains(
        segment::USAGE,
        &[
            "INPUT OUTPUT",
            "--weights",
            "--runs",
            "--size WxH",
            "[0, 1]",
        ],
    );
}

#[test]
fn bad_arguments() {
    let cases: &[(&[&str], &[&str])] = &[
        (&[], &["expected INPUT and OUTPUT"]),
        (&["in.png"], &["expected INPUT and OUTPUT"]),
        (&["a.png", "b.png", "c.png"], &["unexpected `c.png`"]),
        (&["a.png", "b.bmp"], &["`b.bmp`", ".png, .jpg or .jpeg"]),
        (&["a.png", "b"], &["`b`", ".png, .jpg or .jpeg"]),
        (&["a.png", "b.png", "--runs", "0"], &["--runs", "`0`"]),
        (&["a.png", "b.png", "--runs", "many"], &["--runs", "`many`"]),
        (&["a.png", "b.png", "--runs"], &["`--runs` needs a value"]),
        (
            &["a.png", "b.png", "--weights="],
            &["`--weights` needs a value"],
        ),
        (&["a.png", "b.png", "--size", "256"], &["WxH", "`256`"]),
        (&["a.png", "b.png", "--size", "0x4"], &["WxH", "`0x4`"]),
        (&["a.png", "b.png", "--size", "99999x4"], &["1..=8192"]),
        (
            &["a.png", "b.png", "--runs", "1", "--runs", "2"],
            &["`--runs` given twice"],
        ),
        (&["a.png", "b.png", "--fast"], &["unknown option `--fast`"]),
    ];
    for (args, parts) in cases {
        let e = match run(args.iter().copied()) {
            Ok(_) => panic!("{args:?} succeeded"),
            Err(e) => e,
        };
        assert_contains(&e, parts);
    }
    // `--` ends the options: a file named like a flag is a path.
    let e = error(["--", "--odd.png", "b.png"]);
    assert_contains(&e, &["cannot read input `--odd.png`"]);
}

#[test]
fn bad_input_files() {
    let dir = TempDir::new("input");
    let output = dir.path("out.png");

    let missing = dir.path("missing.png");
    let e = error([&missing, &output]);
    assert_contains(&e, &["cannot read input", &missing]);

    let text = dir.path("notes.png");
    std::fs::write(&text, "not an image, despite the name").unwrap();
    let e = error([&text, &output]);
    assert_contains(&e, &["cannot decode input", &text, "PNG or JPEG"]);

    let truncated = dir.path("truncated.png");
    picture(40, 40).save(&truncated).unwrap();
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = error([&truncated, &output]);
    assert_contains(&e, &["cannot decode input", &truncated]);

    let e = error([&dir.path(""), &output]);
    assert_contains(&e, &["cannot read input"]);

    assert!(!Path::new(&output).exists(), "no output on failure");
}

#[test]
fn bad_weight_files() {
    let dir = TempDir::new("weights");
    let (input, output) = (dir.path("in.png"), dir.path("out.png"));
    picture(32, 32).save(&input).unwrap();

    let missing = dir.path("missing.safetensors");
    let e = error([&input, &output, "--weights", &missing]);
    assert_contains(&e, &["cannot read weights", &missing]);

    let garbage = dir.path("garbage.safetensors");
    std::fs::write(&garbage, [7u8; 100]).unwrap();
    let e = error([&input, &output, "--weights", &garbage]);
    assert_contains(
        &e,
        &[
            "cannot load weights",
            &garbage,
            "not a valid safetensors file",
        ],
    );

    // The fixture without `up2.bias`: skipnet's error names the tensor.
    let fixture = std::fs::read(segment::DEFAULT_WEIGHTS).unwrap();
    let st = safetensors::SafeTensors::deserialize(&fixture).unwrap();
    let kept: Vec<_> = st
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != "up2.bias")
        .collect();
    let partial = dir.path("partial.safetensors");
    std::fs::write(&partial, safetensors::serialize(kept, &None).unwrap()).unwrap();
    let e = error([&input, &output, &format!("--weights={partial}")]);
    assert_contains(
        &e,
        &[
            "cannot load weights",
            &partial,
            "weight file has no tensor `up2.bias` (the network needs it with shape [64])",
        ],
    );

    assert!(!Path::new(&output).exists(), "no output on failure");
}

#[test]
fn unwritable_output() {
    let dir = TempDir::new("output");
    let input = dir.path("in.png");
    picture(32, 32).save(&input).unwrap();

    let nowhere = dir.path("no/such/dir/out.png");
    let e = error([&input, &nowhere]);
    assert_contains(&e, &["cannot write output", &nowhere, "does not exist"]);

    // A directory where the file should go: found only when writing.
    let taken = dir.path("taken.png");
    std::fs::create_dir(&taken).unwrap();
    let e = error([&input, &taken, "--runs", "1"]);
    assert_contains(&e, &["cannot write output", &taken]);
}
