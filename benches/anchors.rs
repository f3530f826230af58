//! The anchor networks of `shared/anchors/models.py` and `tools/extra_anchors.py`
//! (MobileNetV2), timed the way the peers are timed there (batch 1, one timestamp
//! per `forward`; one thread, or with `--features parallel` and `--threads N` a
//! workspace with N threads):
//!
//! ```text
//! cargo bench --bench anchors -- <model> --weights <w.safetensors> --input <x.safetensors> \
//!     [--min-time S] [--threads N] [--output <y.safetensors>] [--out-json <r.json>] \
//!     [--profile <layers.json>]
//! cargo bench --bench anchors -- --list
//! cargo bench --bench anchors -- --summary <model>
//! ```
//!
//! `--summary` prints the model's `summary()` (layers, the algorithm of each
//! conv, arena offsets) and exits.
//!
//! `tools/bench_peers.py` writes the weights and the input, runs this binary and
//! compares the output with Keras; see `doc/benchmarks.md`.
//!
//! - weights: every tensor as `<Keras layer name>.<variable>` (DSL.md §4); the
//!   bindings below carry the Keras layer names of models.py (the U-Net's last
//!   layer is `output` there).
//! - input: a safetensors file holding `x`, f32, `[H, W, C]` or `[1, H, W, C]`.
//! - output: `y` (f32, `OUTPUT_SHAPE`) of the first `forward`.
//! - timing: 5 warm-up calls and `--warmup-time` s more, then one `Instant` per call
//!   for at least `--min-time` s and `--min-iters` calls, at most `--max-iters`
//!   (bench_anchors.py's `time_fn` defaults). Over the timed loop it also records
//!   this process's CPU use and everyone else's (`/proc/stat`), in cores.
//!
//! - profile (`--features profile`): `--profile <layers.json>` writes every step
//!   of `forward` (layer name, op, MACs, calls, mean and fastest µs per call) over the timed
//!   loop, and the whole `forward` as the profile saw it; `tools/bench_layers.py`
//!   reads it.
//!
//! Every anchor is declared `#[winograd = fast]`, as a server would build it:
//! Winograd wherever it is faster than the direct kernel, the arena growing for its
//! scratch where needed (only the 32x32 seed U-Net's up3 and up4 change: 192 KiB ->
//! 501.5 KiB of arena; `--summary` shows each layer's algorithm and the arena).
//!
//! Adding a model: declare it with `network!` (layer names as in models.py) and add
//! one `"name" => Type` line to `anchors!` at the bottom. A Keras model can be
//! declared with what `tools/keras_to_skipnet.py` prints (as MobilenetV2 is).
//!
//! Without a model (as `cargo bench` and `cargo test --all-targets` run it) it
//! prints the usage and exits successfully.

use skipnet::network;
use std::error::Error;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../tests/common/anchors.rs"]
mod anchors;
use anchors::{apes_block_net, mobilenet_v2, seed_unet};

seed_unet! {
    /// models.py `seed_unet`: encoder-decoder with concatenate skips, 32x32x3.
    #[winograd = fast]
    SeedUnet([32, 32, 3]) -> output
}

seed_unet! {
    /// models.py `seed_unet_256`: the same topology on 256x256x3.
    #[winograd = fast]
    SeedUnet256([256, 256, 3]) -> output
}

apes_block_net! {
    /// models.py `apes_block_net`: parallel conv paths merged by add, 64x64x16.
    #[winograd = fast]
    ApesBlockNet
}

network! {
    /// models.py `resnet_like_224`: ResNet-18 topology without batch norm, 224x224x3.
    #[winograd = fast]
    pub ResnetLike224(x: [224, 224, 3]) -> fc {
        conv1 = conv2d(x, 64, 7, strides = 2, padding = same, activation = relu);
        pool1 = max_pool2d(conv1, 3, strides = 2, padding = same);
        s1b1_conv1 = conv2d(pool1, 64, 3, padding = same, activation = relu);
        s1b1_conv2 = conv2d(s1b1_conv1, 64, 3, padding = same);
        s1b1_relu = relu(add(s1b1_conv2, pool1));
        s1b2_conv1 = conv2d(s1b1_relu, 64, 3, padding = same, activation = relu);
        s1b2_conv2 = conv2d(s1b2_conv1, 64, 3, padding = same);
        s1b2_relu = relu(add(s1b2_conv2, s1b1_relu));
        s2b1_conv1 = conv2d(s1b2_relu, 128, 3, strides = 2, padding = same, activation = relu);
        s2b1_conv2 = conv2d(s2b1_conv1, 128, 3, padding = same);
        s2b1_proj = conv2d(s1b2_relu, 128, 1, strides = 2, padding = same);
        s2b1_relu = relu(add(s2b1_conv2, s2b1_proj));
        s2b2_conv1 = conv2d(s2b1_relu, 128, 3, padding = same, activation = relu);
        s2b2_conv2 = conv2d(s2b2_conv1, 128, 3, padding = same);
        s2b2_relu = relu(add(s2b2_conv2, s2b1_relu));
        s3b1_conv1 = conv2d(s2b2_relu, 256, 3, strides = 2, padding = same, activation = relu);
        s3b1_conv2 = conv2d(s3b1_conv1, 256, 3, padding = same);
        s3b1_proj = conv2d(s2b2_relu, 256, 1, strides = 2, padding = same);
        s3b1_relu = relu(add(s3b1_conv2, s3b1_proj));
        s3b2_conv1 = conv2d(s3b1_relu, 256, 3, padding = same, activation = relu);
        s3b2_conv2 = conv2d(s3b2_conv1, 256, 3, padding = same);
        s3b2_relu = relu(add(s3b2_conv2, s3b1_relu));
        s4b1_conv1 = conv2d(s3b2_relu, 512, 3, strides = 2, padding = same, activation = relu);
        s4b1_conv2 = conv2d(s4b1_conv1, 512, 3, padding = same);
        s4b1_proj = conv2d(s3b2_relu, 512, 1, strides = 2, padding = same);
        s4b1_relu = relu(add(s4b1_conv2, s4b1_proj));
        s4b2_conv1 = conv2d(s4b1_relu, 512, 3, padding = same, activation = relu);
        s4b2_conv2 = conv2d(s4b2_conv1, 512, 3, padding = same);
        s4b2_relu = relu(add(s4b2_conv2, s4b1_relu));
        gap = global_avg_pool2d(s4b2_relu);
        fc = dense(gap, 1000);
    }
}

mobilenet_v2! {
    /// tools/extra_anchors.py `mobilenet_v2`: `keras.applications.MobileNetV2` as shipped
    /// (224x224x3, alpha 1.0, include_top, softmax), imported unchanged with
    /// `tools/keras_to_skipnet.py mobilenet_v2.keras --name MobilenetV2` (Keras 3.15.1):
    /// 155 layers, 262 weight tensors, 3,538,984 parameters.
    #[winograd = fast]
    MobilenetV2
}

type Res<T> = Result<T, Box<dyn Error>>;

const USAGE: &str = "usage: anchors <model> --weights <w.safetensors> --input <x.safetensors> \
[--min-time S] [--min-iters N] [--max-iters N] [--warmup-time S] [--threads N] [--scaling] \
[--output <y.safetensors>] [--out-json <r.json>] [--profile <layers.json>]\n       anchors --list\n       anchors --summary <model>";

struct Args {
    model: String,
    weights: PathBuf,
    input: PathBuf,
    output: Option<PathBuf>,
    out_json: Option<PathBuf>,
    /// Per-step times of `forward` as JSON (`--features profile`).
    profile: Option<PathBuf>,
    min_time: f64,
    warmup_time: f64,
    min_iters: usize,
    max_iters: usize,
    /// `Workspace::with_threads(threads)` when above 1 (`--features parallel`).
    threads: usize,
    /// Also time a 1-thread and a `threads`-thread workspace call by call,
    /// alternating, and print their medians and ratio (`SCALING` line).
    /// Only read with `--features parallel` (refused without it).
    #[cfg_attr(not(feature = "parallel"), allow(dead_code))]
    scaling: bool,
}

enum Command {
    Usage,
    List,
    Summary(String),
    Run(Args),
}

fn parse_args(argv: impl Iterator<Item = String>) -> Res<Command> {
    let mut model = None;
    let (mut weights, mut input, mut output, mut out_json) = (None, None, None, None);
    let (mut min_time, mut warmup_time, mut min_iters, mut max_iters) = (4.0, 1.0, 30, 20_000);
    let mut threads = 1;
    let mut scaling = false;
    let mut profile = None;
    let mut argv = argv.peekable();
    while let Some(a) = argv.next() {
        let mut value = |flag: &str| {
            argv.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            // cargo bench appends `--bench` to the arguments of harness = false benches.
            "--bench" => {}
            "--list" => return Ok(Command::List),
            "--summary" => return Ok(Command::Summary(value(&a)?)),
            "-h" | "--help" => return Ok(Command::Usage),
            "--weights" => weights = Some(PathBuf::from(value(&a)?)),
            "--input" => input = Some(PathBuf::from(value(&a)?)),
            "--output" => output = Some(PathBuf::from(value(&a)?)),
            "--out-json" => out_json = Some(PathBuf::from(value(&a)?)),
            "--min-time" => min_time = value(&a)?.parse()?,
            "--warmup-time" => warmup_time = value(&a)?.parse()?,
            "--min-iters" => min_iters = value(&a)?.parse()?,
            "--max-iters" => max_iters = value(&a)?.parse()?,
            "--profile" => {
                if !cfg!(feature = "profile") {
                    return Err("--profile needs `--features profile`".into());
                }
                profile = Some(PathBuf::from(value(&a)?));
            }
            "--scaling" => {
                if !cfg!(feature = "parallel") {
                    return Err("--scaling needs `--features parallel`".into());
                }
                scaling = true;
            }
            "--threads" => {
                threads = value(&a)?.parse()?;
                if threads == 0 || (threads > 1 && !cfg!(feature = "parallel")) {
                    return Err(format!(
                        "--threads {threads}: more than one thread needs `--features parallel`"
                    )
                    .into());
                }
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}").into()),
            s if model.is_none() => model = Some(s.to_string()),
            s => return Err(format!("unexpected argument {s}\n{USAGE}").into()),
        }
    }
    let Some(model) = model else {
        return Ok(Command::Usage);
    };
    let need =
        |p: Option<PathBuf>, flag: &str| p.ok_or_else(|| format!("{flag} is required\n{USAGE}"));
    Ok(Command::Run(Args {
        model,
        weights: need(weights, "--weights")?,
        input: need(input, "--input")?,
        output,
        out_json,
        profile,
        min_time,
        warmup_time,
        min_iters: min_iters.max(1),
        max_iters: max_iters.max(1),
        threads,
        scaling,
    }))
}

/// What one model's run produced.
struct Outcome {
    net: &'static str,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    arena_len: usize,
    y: Vec<f32>,
    stats: Stats,
    /// `--profile`'s JSON (`--features profile`).
    profile: Option<String>,
}

struct Stats {
    warmup_iters: usize,
    times_us: Vec<f64>,
    wall_s: f64,
    self_cores: f64,
    foreign_cores: f64,
}

/// Reads tensor `x` (f32) of `shape`, with or without a leading batch dimension of 1.
fn read_input(path: &Path, shape: &[usize]) -> Res<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let t = st.tensor("x")?;
    if t.dtype() != safetensors::Dtype::F32 {
        return Err(format!("x is {:?}, expected F32", t.dtype()).into());
    }
    let dims: Vec<usize> = match t.shape() {
        [1, rest @ ..] if rest.len() == shape.len() => rest.to_vec(),
        s => s.to_vec(),
    };
    if dims != shape {
        return Err(format!("x has shape {:?}, the network takes {shape:?}", t.shape()).into());
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn write_output(path: &Path, shape: &[usize], y: &[f32]) -> Res<()> {
    let bytes: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.to_vec(), &bytes)?;
    safetensors::serialize_to_file([("y", view)], &None, path)?;
    Ok(())
}

/// Busy ticks of all CPUs since boot (`/proc/stat`, USER_HZ), or None off Linux.
fn machine_busy_ticks() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = s
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal: busy = all - idle - iowait
    (v.len() == 8).then(|| v.iter().sum::<u64>() - v[3] - v[4])
}

/// This process's user + system ticks (`/proc/self/stat`, USER_HZ).
fn self_ticks() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // fields after the comm: state(3) ... utime(14) stime(15) -> indices 11, 12
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// USER_HZ, the unit of /proc/stat; 100 on every Linux ABI in use.
const USER_HZ: f64 = 100.0;

/// Times `call`; `timed_start` runs between the warm-up and the timed loop.
fn time_it(mut call: impl FnMut(), timed_start: impl FnOnce(), args: &Args) -> Stats {
    let mut warmup_iters = 0;
    for _ in 0..5 {
        call();
        warmup_iters += 1;
    }
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < args.warmup_time {
        call();
        warmup_iters += 1;
    }
    let min_time = Duration::from_secs_f64(args.min_time.max(0.0));
    let mut times = Vec::with_capacity(args.max_iters);
    timed_start();
    let (busy0, self0) = (machine_busy_ticks(), self_ticks());
    let t0 = Instant::now();
    while (times.len() < args.min_iters || t0.elapsed() < min_time) && times.len() < args.max_iters
    {
        let a = Instant::now();
        call();
        times.push(a.elapsed().as_secs_f64() * 1e6);
    }
    let wall_s = t0.elapsed().as_secs_f64();
    let (busy1, self1) = (machine_busy_ticks(), self_ticks());
    let (self_cores, foreign_cores) = match (busy0, self0, busy1, self1) {
        (Some(b0), Some(s0), Some(b1), Some(s1)) => {
            let busy = (b1 - b0) as f64 / USER_HZ;
            let selfc = (s1 - s0) as f64 / USER_HZ;
            (selfc / wall_s, ((busy - selfc) / wall_s).max(0.0))
        }
        _ => (f64::NAN, f64::NAN),
    };
    Stats {
        warmup_iters,
        times_us: times,
        wall_s,
        self_cores,
        foreign_cores,
    }
}

/// 1 thread against `args.threads`, call by call alternating (so both see the
/// same machine: on a shared VM the speed of a core drifts by tens of percent
/// between runs of a few seconds), as a `SCALING {json}` line: both medians and
/// their ratio.
#[cfg(feature = "parallel")]
fn scaling(mut call: impl FnMut(bool), args: &Args) -> String {
    for _ in 0..5 {
        call(true);
        call(false);
    }
    let (mut one, mut many) = (Vec::new(), Vec::new());
    let t0 = Instant::now();
    while one.len() < args.min_iters || t0.elapsed().as_secs_f64() < args.min_time {
        for (single, times) in [(true, &mut one), (false, &mut many)] {
            let a = Instant::now();
            call(single);
            times.push(a.elapsed().as_secs_f64() * 1e6);
        }
    }
    for t in [&mut one, &mut many] {
        t.sort_by(f64::total_cmp);
    }
    let (m1, mn) = (percentile(&one, 50.0), percentile(&many, 50.0));
    format!(
        "SCALING {{\"model\": {}, \"threads\": {}, \"pairs\": {}, \"median_us_1t\": {m1:.1}, \"median_us_nt\": {mn:.1}, \"speedup\": {:.3}}}",
        json_str(&args.model),
        args.threads,
        one.len(),
        m1 / mn
    )
}

/// numpy's default (linear) percentile of sorted data.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn report(args: &Args, out: &Outcome) -> String {
    let mut t = out.stats.times_us.clone();
    t.sort_by(f64::total_cmp);
    let n = t.len();
    let mean = t.iter().sum::<f64>() / n as f64;
    let shape = |s: &[usize]| {
        let v: Vec<String> = s.iter().map(usize::to_string).collect();
        format!("[{}]", v.join(", "))
    };
    let fields = [
        ("model", json_str(&args.model)),
        ("engine", json_str("skipnet")),
        ("net", json_str(out.net)),
        ("threads", args.threads.to_string()),
        ("input_shape", shape(&out.input_shape)),
        ("output_shape", shape(&out.output_shape)),
        ("arena_len", out.arena_len.to_string()),
        ("n", n.to_string()),
        ("warmup_iters", out.stats.warmup_iters.to_string()),
        ("wall_s", json_num(out.stats.wall_s)),
        ("min_us", json_num(t[0])),
        ("median_us", json_num(percentile(&t, 50.0))),
        ("p10_us", json_num(percentile(&t, 10.0))),
        ("p90_us", json_num(percentile(&t, 90.0))),
        ("max_us", json_num(t[n - 1])),
        ("mean_us", json_num(mean)),
        ("self_cores", json_num(out.stats.self_cores)),
        ("foreign_cores", json_num(out.stats.foreign_cores)),
        (
            "output",
            args.output
                .as_ref()
                .map_or("null".into(), |p| json_str(&p.display().to_string())),
        ),
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {v}", json_str(k)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// `--profile`'s JSON: the steps of `forward` (feature `profile`) since the
/// last `profile_reset`, and the whole `forward` as timed by the profile.
#[cfg(feature = "profile")]
fn profile_json(
    args: &Args,
    net: &str,
    steps: impl Iterator<Item = skipnet::profile::StepTime>,
    all: skipnet::profile::StepTime,
) -> String {
    let steps: Vec<String> = steps
        .map(|s| {
            format!(
                "{{\"name\": {}, \"op\": {}, \"macs\": {}, \"calls\": {}, \"total_ns\": {}, \"mean_us\": {}, \"min_us\": {}}}",
                json_str(s.name),
                json_str(s.op),
                s.macs,
                s.calls,
                s.total_ns,
                json_num(s.mean_ns() / 1e3),
                json_num(s.min_ns as f64 / 1e3)
            )
        })
        .collect();
    format!(
        "{{\"model\": {}, \"net\": {}, \"threads\": {}, \"calls\": {}, \"macs\": {}, \"forward_mean_us\": {}, \"steps\": [\n  {}\n]}}\n",
        json_str(&args.model),
        json_str(net),
        args.threads,
        all.calls,
        all.macs,
        json_num(all.mean_ns() / 1e3),
        steps.join(",\n  ")
    )
}

/// Loads `$net`, runs it once on the input, times `forward`.
macro_rules! run_net {
    ($net:ident, $args:expr) => {{
        let args: &Args = $args;
        let bytes =
            std::fs::read(&args.weights).map_err(|e| format!("{}: {e}", args.weights.display()))?;
        let net = $net::from_safetensors(&bytes)?;
        #[cfg(feature = "parallel")]
        let mut ws = skipnet::Workspace::<{ $net::ARENA_LEN }, $net>::with_threads(args.threads);
        #[cfg(not(feature = "parallel"))]
        let mut ws = $net::workspace();
        let x_vec = read_input(&args.input, &$net::INPUT_SHAPE)?;
        let x = x_vec
            .as_slice()
            .try_into()
            .map_err(|_| "input length does not match INPUT_SHAPE")?;
        let y = net.forward(&mut ws, x).to_vec();
        #[cfg(feature = "profile")]
        let timed_start = $net::profile_reset;
        #[cfg(not(feature = "profile"))]
        let timed_start = || {};
        let stats = time_it(
            || {
                black_box(net.forward(&mut ws, black_box(x)));
            },
            timed_start,
            args,
        );
        #[cfg(feature = "profile")]
        let profile = Some(profile_json(
            args,
            stringify!($net),
            $net::profile(),
            $net::profile_forward(),
        ));
        #[cfg(not(feature = "profile"))]
        let profile = None;
        #[cfg(feature = "parallel")]
        if args.scaling && args.threads > 1 {
            let mut one = $net::workspace();
            println!(
                "{}",
                scaling(
                    |ws1| {
                        let ws = if ws1 { &mut *one } else { &mut *ws };
                        black_box(net.forward(ws, black_box(x)));
                    },
                    args
                )
            );
        }
        Outcome {
            net: stringify!($net),
            input_shape: $net::INPUT_SHAPE.to_vec(),
            output_shape: $net::OUTPUT_SHAPE.to_vec(),
            arena_len: $net::ARENA_LEN,
            y,
            stats,
            profile,
        }
    }};
}

/// The models this binary knows: `"models.py name" => network type`.
macro_rules! anchors {
    ($($name:literal => $net:ident),* $(,)?) => {
        const MODELS: &[&str] = &[$($name),*];

        fn summary_of(model: &str) -> Res<&'static str> {
            Ok(match model {
                $($name => $net::summary(),)*
                m => {
                    return Err(format!("unknown model {m}; supported: {}", MODELS.join(", ")).into())
                }
            })
        }

        fn run_model(args: &Args) -> Res<Outcome> {
            Ok(match args.model.as_str() {
                $($name => run_net!($net, args),)*
                m => {
                    return Err(format!("unknown model {m}; supported: {}", MODELS.join(", ")).into())
                }
            })
        }
    };
}

anchors! {
    "seed_unet" => SeedUnet,
    "seed_unet_256" => SeedUnet256,
    "apes_block_net" => ApesBlockNet,
    "resnet_like_224" => ResnetLike224,
    "mobilenet_v2" => MobilenetV2,
}

fn main() -> Res<()> {
    let args = match parse_args(std::env::args().skip(1))? {
        Command::Usage => {
            eprintln!("{USAGE}\nmodels: {}", MODELS.join(", "));
            return Ok(());
        }
        Command::List => {
            for m in MODELS {
                println!("{m}");
            }
            return Ok(());
        }
        Command::Summary(m) => {
            println!("{}", summary_of(&m)?);
            return Ok(());
        }
        Command::Run(a) => a,
    };
    let out = run_model(&args)?;
    if let Some(p) = &args.output {
        write_output(p, &out.output_shape, &out.y)?;
    }
    if let (Some(p), Some(j)) = (&args.profile, &out.profile) {
        std::fs::write(p, j).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let json = report(&args, &out);
    if let Some(p) = &args.out_json {
        std::fs::write(p, format!("{json}\n")).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    println!("RESULT {json}");
    Ok(())
}
