//! Runs the seed U-Net of DSL.md §1 on a PNG or JPEG and writes its output as an
//! image (issue 6):
//!
//! ```sh
//! cargo run --release --example segment -- INPUT.png OUTPUT.png [--weights PATH] [--runs N] [--size WxH]
//! ```
//!
//! The pipeline, and what each step does to the pixels:
//!
//! 1. **load**: reads the safetensors file (default: the Keras fixture
//!    `tests/fixtures/seed_unet/weights.safetensors` of this crate) and packs the
//!    weights (`SkipUNet::from_safetensors`).
//! 2. **preprocess**: decodes the input (PNG or JPEG, the format is read from the
//!    file's bytes, not its name), converts it to RGB (alpha dropped, grey
//!    replicated), scales every sample to `[0, 1]` (`value / max` of its bit depth:
//!    `/255` for 8-bit, `/65535` for 16-bit) and resizes it to the network's
//!    `INPUT_SHAPE` (32x32, bilinear, aspect ratio not kept) as channels-last
//!    `[H, W, C]` f32, the layout Keras uses.
//! 3. **forward**: `--runs N` calls (default 20) on one workspace; the median is
//!    reported, the output of the last call is kept.
//! 4. **postprocess**: normalises each output channel to 0..=255 on its own
//!    (min-max over the 32x32 pixels, `255 * (v - min) / (max - min)`, rounded; a
//!    constant channel becomes 0), optionally upscales to `--size WxH` with nearest
//!    neighbour (each output pixel a crisp block), encodes as PNG or JPEG (from
//!    OUTPUT's extension) and writes the file.
//!
//! The fixture's weights are seeded random numbers (`tools/keras_fixtures.py`), not
//! a trained model: the output shows the network running end to end, not a useful
//! segmentation. Train a Keras model with the same layer names and pass its
//! weights with `--weights` for that.
//!
//! Every failure (arguments, input, weights, output) is one line on stderr and
//! exit code 1. The pipeline is `run`, which `tests/segment_cli.rs` calls directly.

use image::imageops::{self, FilterType};
use image::{ImageFormat, ImageReader, RgbImage};
use skipnet::network;
use std::fmt;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

network! {
    /// DSL.md §1's encoder-decoder with concatenate skips (the fixture `seed_unet`).
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

/// The fixture's weights, used when `--weights` is not given.
pub const DEFAULT_WEIGHTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/seed_unet/weights.safetensors"
);

const IN_H: usize = SkipUNet::INPUT_SHAPE[0];
const IN_W: usize = SkipUNet::INPUT_SHAPE[1];
const IN_C: usize = SkipUNet::INPUT_SHAPE[2];
const OUT_H: usize = SkipUNet::OUTPUT_SHAPE[0];
const OUT_W: usize = SkipUNet::OUTPUT_SHAPE[1];
const OUT_C: usize = SkipUNet::OUTPUT_SHAPE[2];
const IN_LEN: usize = IN_H * IN_W * IN_C;
const OUT_LEN: usize = OUT_H * OUT_W * OUT_C;
const _: () = assert!(IN_C == 3 && OUT_C == 3, "the example reads and writes RGB");

/// The network's input, `[H, W, C]` flattened.
pub type NetInput = Box<[f32; IN_LEN]>;

/// Largest `--size` side: keeps a typo from asking for gigabytes.
pub const MAX_SIDE: u32 = 8192;

pub const USAGE: &str = "\
segment: run skipnet's seed U-Net (32x32x3 -> 32x32x3) on an image

usage: segment INPUT OUTPUT [--weights PATH] [--runs N] [--size WxH]

  INPUT           PNG or JPEG; converted to RGB in [0, 1], resized to 32x32 (bilinear)
  OUTPUT          .png, .jpg or .jpeg; the 32x32x3 output, each channel min-max
                  normalised to 0..255
  --weights PATH  safetensors weights (default: the crate's
                  tests/fixtures/seed_unet/weights.safetensors)
  --runs N        forward passes to time, the median is printed (default 20)
  --size WxH      upscale the output image to W x H, nearest neighbour (e.g. 256x256)
  -h, --help      print this help

example: cargo run --release --example segment -- photo.jpg mask.png --size 256x256";

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub input: PathBuf,
    pub output: PathBuf,
    pub weights: PathBuf,
    pub runs: usize,
    pub size: Option<(u32, u32)>,
}

/// What `run` did: `--help`, or a segmentation with its measurements.
#[derive(Debug)]
pub enum Outcome {
    Help,
    Segmented(Box<Report>),
}

/// The measurements of one segmentation, printed by `main` (its `Display`).
#[derive(Debug, Clone)]
pub struct Report {
    pub options: Options,
    /// Decoded input, before resizing.
    pub input_size: (u32, u32),
    /// Written image.
    pub output_size: (u32, u32),
    /// Raw output range of each channel, before normalisation.
    pub channel_ranges: [(f32, f32); 3],
    /// Reading the weight file and `from_safetensors`.
    pub load: Duration,
    /// Reading, decoding, converting and resizing the input.
    pub preprocess: Duration,
    /// Every forward time, sorted.
    pub forward: Vec<Duration>,
    /// Normalising, upscaling, encoding and writing the output.
    pub postprocess: Duration,
}

impl Report {
    pub fn forward_median(&self) -> Duration {
        self.forward[self.forward.len() / 2]
    }
}

fn ms(d: Duration) -> String {
    format!("{:8.3} ms", d.as_secs_f64() * 1e3)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let (iw, ih) = self.input_size;
        let (ow, oh) = self.output_size;
        writeln!(
            f,
            "input   {}: {iw}x{ih} -> {IN_H}x{IN_W}x{IN_C} RGB in [0, 1]",
            o.input.display()
        )?;
        writeln!(
            f,
            "weights {} ({} parameters)",
            o.weights.display(),
            SkipUNet::PARAMS
        )?;
        write!(f, "output  {}: {ow}x{oh}", o.output.display())?;
        if o.size.is_some() {
            write!(f, " (from {OUT_W}x{OUT_H}, nearest)")?;
        }
        writeln!(f, ", each channel min-max normalised to 0..255")?;
        for (name, (lo, hi)) in ["R", "G", "B"].iter().zip(&self.channel_ranges) {
            writeln!(f, "  {name}: raw output range [{lo:.4}, {hi:.4}]")?;
        }
        writeln!(f, "load        {}", ms(self.load))?;
        writeln!(f, "preprocess  {}", ms(self.preprocess))?;
        writeln!(
            f,
            "forward     {} median of {} runs (min {}, max {})",
            ms(self.forward_median()),
            self.forward.len(),
            ms(self.forward[0]).trim_start(),
            ms(self.forward[self.forward.len() - 1]).trim_start()
        )?;
        write!(f, "postprocess {}", ms(self.postprocess))
    }
}

/// Parses the arguments after the program name. `--flag VALUE` and
/// `--flag=VALUE` both work; `--` ends the options.
pub fn parse_args<I, S>(args: I) -> Result<Option<Options>, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let mut positional = Vec::new();
    let mut weights = None;
    let mut runs = None;
    let mut size = None;
    let mut options_done = false;
    while let Some(arg) = args.next() {
        if options_done || !arg.starts_with('-') || arg == "-" {
            positional.push(arg);
            continue;
        }
        if arg == "--" {
            options_done = true;
            continue;
        }
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        if !matches!(flag.as_str(), "--weights" | "--runs" | "--size") {
            return Err(format!("unknown option `{flag}` (see --help)"));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) if !v.is_empty() => v,
            _ => return Err(format!("`{flag}` needs a value (see --help)")),
        };
        let slot_taken = match flag.as_str() {
            "--weights" => weights.replace(PathBuf::from(value)).is_some(),
            "--runs" => runs.replace(parse_runs(&value)?).is_some(),
            _ => size.replace(parse_size(&value)?).is_some(),
        };
        if slot_taken {
            return Err(format!("`{flag}` given twice"));
        }
    }
    let (input, output) = match <[String; 2]>::try_from(positional) {
        Ok([input, output]) => (PathBuf::from(input), PathBuf::from(output)),
        Err(p) if p.len() < 2 => {
            return Err("expected INPUT and OUTPUT image paths (see --help)".into())
        }
        Err(p) => {
            return Err(format!(
                "expected INPUT and OUTPUT only, got {} paths: unexpected `{}` (see --help)",
                p.len(),
                p[2]
            ))
        }
    };
    output_format(&output)?;
    Ok(Some(Options {
        input,
        output,
        weights: weights.unwrap_or_else(|| PathBuf::from(DEFAULT_WEIGHTS)),
        runs: runs.unwrap_or(20),
        size,
    }))
}

fn parse_runs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("--runs expects a positive integer, got `{s}`")),
    }
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("--size expects WxH with sides 1..={MAX_SIDE}, e.g. 256x256, got `{s}`");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let side = |v: &str| match v.parse::<u32>() {
        Ok(n) if (1..=MAX_SIDE).contains(&n) => Ok(n),
        _ => Err(bad()),
    };
    Ok((side(w)?, side(h)?))
}

/// The encoder for OUTPUT, from its extension.
fn output_format(path: &Path) -> Result<ImageFormat, String> {
    match ImageFormat::from_path(path) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => Ok(f),
        _ => Err(format!(
            "OUTPUT `{}` must end in .png, .jpg or .jpeg",
            path.display()
        )),
    }
}

/// Parses `args` (without the program name) and runs the pipeline.
pub fn run<I, S>(args: I) -> Result<Outcome, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    match parse_args(args)? {
        None => Ok(Outcome::Help),
        Some(options) => segment(options).map(|r| Outcome::Segmented(Box::new(r))),
    }
}

/// Reads the input image as channels-last RGB in `[0, 1]`, resized to 32x32.
/// Returns the pixels and the decoded image's size.
pub fn preprocess(path: &Path) -> Result<(NetInput, (u32, u32)), String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read input `{shown}`: {e}"))?;
    let decoded = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read input `{shown}`: {e}"))?
        .decode()
        .map_err(|e| format!("cannot decode input `{shown}` (PNG or JPEG expected): {e}"))?;
    let size = (decoded.width(), decoded.height());
    // `to_rgb32f` scales each sample by the maximum of its bit depth: [0, 1].
    let resized = imageops::resize(
        &decoded.to_rgb32f(),
        IN_W as u32,
        IN_H as u32,
        FilterType::Triangle,
    );
    // ImageBuffer's layout is row-major, channel last: Keras's [H, W, C].
    let x: NetInput = resized
        .into_raw()
        .into_boxed_slice()
        .try_into()
        .map_err(|_| "resized input has the wrong length".to_string())?;
    Ok((x, size))
}

/// Each channel min-max normalised to 0..=255 (a constant channel becomes 0).
/// Returns the image and each channel's raw range.
pub fn to_image(y: &[f32; OUT_LEN]) -> (RgbImage, [(f32, f32); 3]) {
    let mut ranges = [(f32::INFINITY, f32::NEG_INFINITY); 3];
    for px in y.chunks_exact(3) {
        for (r, &v) in ranges.iter_mut().zip(px) {
            *r = (r.0.min(v), r.1.max(v));
        }
    }
    let img = RgbImage::from_fn(OUT_W as u32, OUT_H as u32, |col, row| {
        let at = (row as usize * OUT_W + col as usize) * OUT_C;
        image::Rgb(std::array::from_fn(|c| {
            let (lo, hi) = ranges[c];
            if hi > lo {
                (255.0 * (y[at + c] - lo) / (hi - lo))
                    .round()
                    .clamp(0.0, 255.0) as u8
            } else {
                0
            }
        }))
    });
    (img, ranges)
}

/// The whole pipeline on parsed options.
pub fn segment(options: Options) -> Result<Report, String> {
    let format = output_format(&options.output)?;
    // Fail before the work, not after it, when OUTPUT cannot be created.
    if let Some(dir) = options
        .output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        if !dir.is_dir() {
            return Err(format!(
                "cannot write output `{}`: directory `{}` does not exist",
                options.output.display(),
                dir.display()
            ));
        }
    }

    let t = Instant::now();
    let weights_shown = options.weights.display();
    let bytes = std::fs::read(&options.weights)
        .map_err(|e| format!("cannot read weights `{weights_shown}`: {e}"))?;
    let net = SkipUNet::from_safetensors(&bytes)
        .map_err(|e| format!("cannot load weights `{weights_shown}`: {e}"))?;
    drop(bytes);
    let mut ws = SkipUNet::workspace();
    let load = t.elapsed();

    let t = Instant::now();
    let (x, input_size) = preprocess(&options.input)?;
    let preprocess = t.elapsed();

    let mut forward = Vec::with_capacity(options.runs);
    for _ in 0..options.runs {
        let t = Instant::now();
        std::hint::black_box(net.forward(&mut ws, std::hint::black_box(&x)));
        forward.push(t.elapsed());
    }
    forward.sort();
    let y: &[f32; OUT_LEN] = net.forward(&mut ws, &x);

    let t = Instant::now();
    let (mut img, channel_ranges) = to_image(y);
    if let Some((w, h)) = options.size {
        img = imageops::resize(&img, w, h, FilterType::Nearest);
    }
    let output_size = img.dimensions();
    let mut encoded = Cursor::new(Vec::new());
    img.write_to(&mut encoded, format)
        .map_err(|e| format!("cannot encode output: {e}"))?;
    std::fs::write(&options.output, encoded.into_inner())
        .map_err(|e| format!("cannot write output `{}`: {e}", options.output.display()))?;
    let postprocess = t.elapsed();

    Ok(Report {
        options,
        input_size,
        output_size,
        channel_ranges,
        load,
        preprocess,
        forward,
        postprocess,
    })
}

fn main() {
    let args: Result<Vec<String>, String> = std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("argument `{}` is not valid UTF-8", a.to_string_lossy()))
        })
        .collect();
    match args.and_then(run) {
        Ok(Outcome::Help) => println!("{USAGE}"),
        Ok(Outcome::Segmented(report)) => println!("{report}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
