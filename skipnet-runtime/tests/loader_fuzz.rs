//! Hostile weight files: a seeded mutator over valid safetensors files, and
//! every truncation of a few of them. `WeightFile` must never panic, and an
//! error about one tensor must name it.
//!
//! What is mutated: the header length (0, short, past the end, huge); dtypes
//! (F16, I64, BF16, unknown, not a string); shapes (transposed, other sizes,
//! overflowing, negative, fractional, nested); data offsets (out of order,
//! overlapping, reversed, past the end, huge, the wrong count); names (empty,
//! unicode, escapes, very long, duplicated, reserved); fields (missing, twice,
//! extra, wrong type); `__metadata__`; deep JSON nesting; NaN and infinities
//! in the data (`validate`); random byte flips, insertions and deletions in
//! the header and the data; truncation.
//!
//! Each file goes through what generated code does (`parse`, `take` of every
//! expected tensor, `finish`) plus `validate`, under `catch_unwind`. It is
//! also handed to safetensors directly, to tell our deliberate strictness
//! (duplicate names) from a wrong rejection.
//!
//! ```text
//! cargo test -p skipnet-runtime --test loader_fuzz -- --nocapture           # CI default
//! SKIPNET_FUZZ_CASES=1000000 cargo test -p skipnet-runtime --release --test loader_fuzz -- --nocapture
//! SKIPNET_FUZZ_SECONDS=600 cargo test -p skipnet-runtime --release --test loader_fuzz -- --nocapture
//! ```
//! (`SKIPNET_FUZZ_SEED` picks the seed, `SKIPNET_FUZZ_ONLY` replays one case.)

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use skipnet_runtime::{Error, WeightFile};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Cases per run when `SKIPNET_FUZZ_CASES` is unset (a few seconds in debug).
const DEFAULT_CASES: u64 = 20_000;

// ---------------------------------------------------------------- the PRNG

/// SplitMix64, shared with the macro's fuzzer.
use skipnet_runtime::testing::SplitMix64 as Rng;

fn case_rng(seed: u64, i: u64) -> Rng {
    let mut r = Rng(seed ^ i.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    r.next_u64();
    r
}

// ---------------------------------------------------------------- files

/// Names a network or a hostile file might use.
const NAMES: &[&str] = &[
    "conv1.kernel",
    "conv1.bias",
    "b1.a.kernel",
    "b1.a.bias",
    "out.bias",
    "fc.kernel",
    "",
    " ",
    "ünïcödé.kernel",
    "名前.bias",
    "emoji😀.kernel",
    "with space",
    "quote\"inside",
    "back\\slash",
    "new\nline",
    "tab\tand\u{1}control",
    "`backticks`",
    "{braces}",
    "[0, 8]",
    "dtype",
    "data_offsets",
    "a.kernel",
    "A.KERNEL",
];

/// One tensor of a file as this test writes it: JSON text of each field, so
/// that any of them can be made wrong.
#[derive(Clone)]
struct Entry {
    name: String,
    dtype: String,
    shape: String,
    offsets: String,
    /// Extra `"key": value` pairs, already JSON (with a leading comma).
    extra: String,
    /// The entry's whole value, replacing the object (for wrong types).
    raw: Option<String>,
}

/// A file as a list of entries and a data section.
#[derive(Clone)]
struct File {
    entries: Vec<Entry>,
    metadata: Option<String>,
    data: Vec<u8>,
    /// Appended to the header text (spaces are legal padding).
    pad: String,
    /// What the "network" asks for: names and shapes, in order.
    expected: Vec<(String, Vec<usize>)>,
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_list(xs: &[usize]) -> String {
    let parts: Vec<String> = xs.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(","))
}

impl File {
    fn header(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = &self.metadata {
            parts.push(format!("\"__metadata__\":{m}"));
        }
        for e in &self.entries {
            let v = match &e.raw {
                Some(r) => r.clone(),
                None => format!(
                    "{{\"dtype\":{},\"shape\":{},\"data_offsets\":{}{}}}",
                    e.dtype, e.shape, e.offsets, e.extra
                ),
            };
            parts.push(format!("{}:{v}", json_str(&e.name)));
        }
        format!("{{{}}}{}", parts.join(","), self.pad)
    }

    fn bytes(&self) -> Vec<u8> {
        let h = self.header();
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&self.data);
        out
    }
}

fn random_shape(rng: &mut Rng) -> Vec<usize> {
    let rank = *rng.pick(&[1, 1, 2, 4, 4, 3, 0]);
    (0..rank)
        .map(|_| if rng.one_in(40) { 0 } else { rng.range(1, 5) })
        .collect()
}

fn random_value(rng: &mut Rng) -> f32 {
    match rng.below(50) {
        0 => f32::MIN_POSITIVE / 2.0,
        1 => f32::MAX,
        2 => -0.0,
        _ => (rng.below(2001) as f32 - 1000.0) / 100.0,
    }
}

/// A valid file of finite F32 tensors.
fn valid_file(rng: &mut Rng) -> File {
    let n = rng.range(1, 6);
    let mut names: Vec<String> = Vec::new();
    while names.len() < n {
        let name = if rng.one_in(20) {
            "k".repeat(rng.range(200, 20_000))
        } else {
            rng.pick(NAMES).to_string()
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let mut data = Vec::new();
    let mut entries = Vec::new();
    let mut expected = Vec::new();
    for name in names {
        let shape = random_shape(rng);
        let len: usize = shape.iter().product();
        let start = data.len();
        for _ in 0..len {
            data.extend_from_slice(&random_value(rng).to_le_bytes());
        }
        entries.push(Entry {
            name: name.clone(),
            dtype: "\"F32\"".into(),
            shape: json_list(&shape),
            offsets: json_list(&[start, data.len()]),
            extra: String::new(),
            raw: None,
        });
        expected.push((name, shape));
    }
    let metadata = match rng.below(4) {
        0 => Some("{\"format\":\"pt\"}".to_string()),
        1 => Some("null".to_string()),
        _ => None,
    };
    File {
        entries,
        metadata,
        data,
        pad: " ".repeat(rng.below(8)),
        expected,
    }
}

/// The same tensors, written by safetensors itself.
fn serialized(f: &File) -> Option<Vec<u8>> {
    let mut views = Vec::new();
    for (name, shape) in &f.expected {
        let e = f.entries.iter().find(|e| &e.name == name)?;
        let offs = offsets(e);
        let bytes = f.data.get(*offs.first()?..*offs.get(1)?)?;
        views.push((
            name.clone(),
            TensorView::new(Dtype::F32, shape.clone(), bytes).ok()?,
        ));
    }
    let meta = f
        .metadata
        .as_deref()
        .filter(|m| m.starts_with('{'))
        .map(|_| {
            let mut m = HashMap::new();
            m.insert("format".to_string(), "pt".to_string());
            m
        });
    safetensors::serialize(views, &meta).ok()
}

// ---------------------------------------------------------------- mutations

/// What a case's error must name.
#[derive(Clone, Debug, PartialEq)]
enum Blame {
    /// This tensor (the one mutated).
    Tensor(String),
    /// Some tensor of the file.
    AnyTensor,
    /// Nothing required (byte-level damage).
    Nothing,
}

const HUGE: &[&str] = &[
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775808",
    "4294967296",
    "2147483648",
    "100000000000000000000000000000",
];

/// The entry's offsets, if they are numbers.
fn offsets(e: &Entry) -> Vec<usize> {
    e.offsets
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .filter_map(|x| x.parse().ok())
        .collect()
}

/// Rewrites the offsets of every entry from its (valid) size, in order.
fn reoffset(f: &mut File, sizes: &[usize]) {
    let mut at = 0;
    for (e, &s) in f.entries.iter_mut().zip(sizes) {
        e.offsets = json_list(&[at, at + s]);
        at += s;
    }
}

/// One structural mutation of the header or data; what the error must name.
fn mutate_structure(rng: &mut Rng, f: &mut File) -> Blame {
    let t = rng.below(f.entries.len());
    let name = f.entries[t].name.clone();
    let shape_of = |f: &File, n: &str| -> Vec<usize> {
        f.expected
            .iter()
            .find(|(m, _)| m == n)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    };
    match rng.below(16) {
        // Another real dtype, the data left as it is (a size mismatch for most).
        0 => {
            let d: &str = rng.pick::<&str>(&["F16", "I64", "BF16", "F64", "U8", "BOOL", "I32"]);
            f.entries[t].dtype = json_str(d);
            Blame::Tensor(name)
        }
        // Another real dtype with data of the right size: `take` refuses it.
        1 => {
            let (d, size) =
                *rng.pick(&[("F16", 2), ("BF16", 2), ("I64", 8), ("F64", 8), ("U8", 1)]);
            let sizes: Vec<usize> = f
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    shape_of(f, &e.name).iter().product::<usize>() * if i == t { size } else { 4 }
                })
                .collect();
            f.entries[t].dtype = json_str(d);
            let mut data = Vec::new();
            for s in &sizes {
                data.extend((0..*s).map(|_| rng.below(256) as u8));
            }
            f.data = data;
            reoffset(f, &sizes);
            Blame::Tensor(name)
        }
        2 => {
            f.entries[t].dtype = rng
                .pick(&[
                    "\"F33\"",
                    "\"f32\"",
                    "\"\"",
                    "5",
                    "null",
                    "[\"F32\"]",
                    "{}",
                    "\"F32 \"",
                ])
                .to_string();
            Blame::Tensor(name)
        }
        // Shapes: the same size transposed (caught by `take`), other sizes, hostile numbers.
        3 => {
            let shape = &shape_of(f, &name);
            let new = match rng.below(9) {
                0 if shape.len() > 1 => {
                    let mut s = shape.clone();
                    s.reverse();
                    if &s == shape {
                        s.push(1);
                    }
                    json_list(&s)
                }
                1 => {
                    let mut s = shape.clone();
                    s.push(2);
                    json_list(&s)
                }
                2 => format!("[{}]", rng.pick(HUGE)),
                3 => "[4294967296,4294967296]".into(),
                4 => "[-1]".into(),
                5 => "[1.5]".into(),
                6 => "[[1]]".into(),
                7 => "\"[1]\"".into(),
                _ => "[1e2]".into(),
            };
            f.entries[t].shape = new;
            Blame::Tensor(name)
        }
        // Offsets past the end, huge, reversed, the wrong count or type.
        4 => {
            f.entries[t].offsets = match rng.below(9) {
                0 => json_list(&[0, f.data.len() + rng.range(1, 64)]),
                1 => format!("[0,{}]", rng.pick(HUGE)),
                2 => format!("[{},0]", rng.pick(HUGE)),
                3 => format!("[{},{}]", rng.pick(HUGE), rng.pick(HUGE)),
                4 => "[8,0]".into(),
                5 => "[0]".into(),
                6 => "[0,4,8]".into(),
                7 => "[\"0\",\"4\"]".into(),
                _ => "null".into(),
            };
            Blame::Tensor(name)
        }
        // Offsets out of order or overlapping with another tensor's.
        5 if f.entries.len() > 1 => {
            let u = (t + rng.range(1, f.entries.len() - 1)) % f.entries.len();
            if rng.one_in(2) {
                let o = f.entries[u].offsets.clone();
                f.entries[u].offsets = f.entries[t].offsets.clone();
                f.entries[t].offsets = o;
            } else {
                f.entries[t].offsets = f.entries[u].offsets.clone();
            }
            Blame::AnyTensor
        }
        // The offsets move: a gap or an overlap.
        6 => {
            let shift = rng.range(1, 8);
            if let [s, e] = offsets(&f.entries[t])[..] {
                f.entries[t].offsets = if rng.one_in(2) {
                    json_list(&[s.saturating_add(shift), e.saturating_add(shift)])
                } else {
                    json_list(&[s.saturating_sub(shift), e.saturating_sub(shift)])
                };
            }
            Blame::AnyTensor
        }
        // The largest tensor safetensors' validation accepts: ends at usize::MAX.
        7 => {
            f.entries = vec![Entry {
                name: name.clone(),
                dtype: "\"U8\"".into(),
                shape: format!("[{}]", usize::MAX),
                offsets: format!("[0,{}]", usize::MAX),
                extra: String::new(),
                raw: None,
            }];
            Blame::Tensor(name)
        }
        // A duplicate name.
        8 => {
            let mut e = f.entries[t].clone();
            if rng.one_in(2) {
                e.offsets = json_list(&[f.data.len(), f.data.len()]);
                e.shape = "[0]".into();
            }
            let at = rng.below(f.entries.len() + 1);
            f.entries.insert(at, e);
            Blame::Tensor(name)
        }
        // Renamed: the network's tensor is missing, the file has an extra one.
        9 => {
            let new = if rng.one_in(4) {
                "__metadata__".to_string()
            } else {
                format!("{}{}", name, rng.pick(&["x", ".", "\u{301}", " ", "\u{0}"]))
            };
            let clash = new == "__metadata__" || f.entries.iter().any(|e| e.name == new);
            f.entries[t].name = new;
            if clash {
                Blame::Nothing
            } else {
                Blame::Tensor(name)
            }
        }
        // Fields missing, twice, extra, or the entry not an object.
        10 => {
            match rng.below(5) {
                0 => f.entries[t].extra = ",\"dtype\":\"F32\"".into(),
                1 => f.entries[t].extra = ",\"extra\":[1,{\"a\":null}],\"more\":true".into(),
                2 => {
                    f.entries[t].raw =
                        Some(rng.pick(&["5", "\"F32\"", "[]", "null", "{}"]).to_string())
                }
                3 => {
                    f.entries[t].raw = Some(format!(
                        "{{\"shape\":{},\"data_offsets\":{}}}",
                        f.entries[t].shape, f.entries[t].offsets
                    ))
                }
                _ => {
                    f.entries[t].raw = Some(format!(
                        "{{\"dtype\":{},\"data_offsets\":{}}}",
                        f.entries[t].dtype, f.entries[t].offsets
                    ))
                }
            }
            // An extra unknown field is legal.
            if f.entries[t].extra.starts_with(",\"extra\"") {
                Blame::Nothing
            } else {
                Blame::Tensor(name)
            }
        }
        11 => {
            f.metadata = Some(
                rng.pick(&[
                    "{\"a\":1}",
                    "[]",
                    "\"x\"",
                    "{\"a\":{\"b\":\"c\"}}",
                    "{\"\":\"\"}",
                    "{}",
                ])
                .to_string(),
            );
            Blame::Nothing
        }
        // Deep nesting inside an entry.
        12 => {
            let d = *rng.pick(&[10, 100, 127, 128, 129, 1000, 100_000]);
            f.entries[t].extra = format!(",\"deep\":{}{}", "[".repeat(d), "]".repeat(d));
            Blame::Nothing
        }
        // NaN or an infinity in the data: `validate` must name the tensor.
        13 => {
            let len: usize = shape_of(f, &name).iter().product();
            let offs = offsets(&f.entries[t]);
            if let (true, Some(&start)) = (len > 0, offs.first()) {
                let at = start.saturating_add(4 * rng.below(len));
                let v = *rng.pick(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
                if let Some(d) = f.data.get_mut(at..at.saturating_add(4)) {
                    d.copy_from_slice(&v.to_le_bytes());
                    return Blame::Tensor(name);
                }
            }
            Blame::Nothing
        }
        14 => {
            f.pad = rng
                .pick(&["\0\0\0", "\n\t\r ", "x", "}", "   "])
                .to_string();
            Blame::Nothing
        }
        _ => {
            // Data longer or shorter than the tensors need.
            if rng.one_in(2) {
                f.data.extend((0..rng.range(1, 16)).map(|_| 0u8));
            } else {
                let cut = rng.range(1, 16).min(f.data.len());
                f.data.truncate(f.data.len() - cut);
            }
            Blame::Nothing
        }
    }
}

/// Byte-level damage to a whole file.
fn mutate_bytes(rng: &mut Rng, b: &mut Vec<u8>) {
    let header_end = b
        .get(..8)
        .map(|l| u64::from_le_bytes(l.try_into().unwrap_or([0; 8])).saturating_add(8))
        .unwrap_or(0)
        .min(b.len() as u64) as usize;
    match rng.below(7) {
        0 => {
            let cut = rng.below(b.len() + 1);
            b.truncate(cut);
        }
        1 if b.len() >= 8 => {
            let v: u64 = match rng.below(8) {
                0 => 0,
                1 => u64::MAX,
                2 => 1 << 63,
                3 => 100_000_001,
                4 => b.len() as u64,
                5 => (b.len() as u64).saturating_sub(7),
                6 => (header_end as u64).saturating_sub(8) + 1,
                _ => rng.next_u64() % 4096,
            };
            b[..8].copy_from_slice(&v.to_le_bytes());
        }
        // Flips in the header (most interesting) or anywhere.
        2 | 3 if !b.is_empty() => {
            for _ in 0..rng.range(1, 4) {
                let at = if header_end > 8 && rng.one_in(2) {
                    rng.range(8, header_end - 1)
                } else {
                    rng.below(b.len())
                };
                b[at] ^= 1 << rng.below(8);
            }
        }
        4 if !b.is_empty() => {
            let at = rng.below(b.len());
            b[at] = *rng.pick(&[
                b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'0', b'9', b'-', 0, 0xff, 0xc3,
            ]);
        }
        5 => {
            let at = rng.below(b.len() + 1);
            b.insert(at, rng.next_u64() as u8);
        }
        _ if !b.is_empty() => {
            let at = rng.below(b.len());
            b.remove(at);
        }
        _ => {}
    }
}

// ---------------------------------------------------------------- running one file

thread_local! {
    static CAPTURE: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Installs (once) a panic hook that records panics on capturing threads
/// instead of printing them.
fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURE.with(|c| c.get()) {
                let loc = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = format!("{payload}{loc}"));
            } else {
                previous(info);
            }
        }));
    });
}

fn caught<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    CAPTURE.with(|c| c.set(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURE.with(|c| c.set(false));
    r.map_err(|_| LAST_PANIC.with(|p| p.borrow().clone()))
}

/// Takes one tensor the way generated code does (`take::<N>` for the sizes
/// it can name here, `take_values` otherwise).
fn take(f: &mut WeightFile<'_>, name: &str, shape: &[usize]) -> Result<(), Error> {
    let n: usize = shape.iter().product();
    macro_rules! by_size {
        ($($n:literal)*) => {
            match n {
                $($n => f.take::<$n>(name, shape).map(|_| ()),)*
                _ => f.take_values(name, shape).map(|_| ()),
            }
        };
    }
    if n == 4 {
        // The packed form too, with an identity packing.
        return f
            .take_packed::<4>(name, shape, |raw, out| out.copy_from_slice(raw))
            .map(|_| ());
    }
    by_size!(0 1 2 3 5 6 8 9 12 16 24 27 36 64)
}

#[derive(Debug)]
enum Outcome {
    Loaded,
    Refused(String),
}

/// Everything generated code and a careful user do with a file.
fn load(bytes: &[u8], expected: &[(String, Vec<usize>)]) -> Result<Outcome, String> {
    caught(|| {
        let mut f = match WeightFile::parse(bytes) {
            Ok(f) => f,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        for (name, shape) in expected {
            if let Err(e) = take(&mut f, name, shape) {
                return Outcome::Refused(e.to_string());
            }
        }
        if let Err(e) = f.validate() {
            return Outcome::Refused(e.to_string());
        }
        match f.finish() {
            Ok(()) => Outcome::Loaded,
            Err(e) => Outcome::Refused(e.to_string()),
        }
    })
}

const PREFIXES: &[&str] = &[
    "not a valid safetensors file: ",
    "weight file has no tensor `",
    "weight file has tensor `",
    "tensor `",
];

/// safetensors' own error names, which a message must never be reduced to.
const RAW: &[&str] = &[
    "TensorInvalidInfo",
    "InvalidOffset",
    "InvalidHeader",
    "HeaderTooLarge",
    "HeaderTooSmall",
    "MetadataIncompleteBuffer",
    "ValidationOverflow",
    "JsonError",
];

#[derive(Default)]
struct Stats {
    cases: u64,
    loaded: u64,
    refused: u64,
    /// Files that make safetensors 0.4 itself panic (our checks stop them).
    upstream_panics: u64,
    failures: Vec<String>,
}

impl Stats {
    fn fail(&mut self, msg: String) {
        let key: String = msg.chars().take(60).collect();
        if self.failures.len() < 20 && !self.failures.iter().any(|f| f.contains(&key)) {
            self.failures.push(msg);
        }
    }
}

/// Loads `bytes` and checks the outcome against `blame`.
fn judge(
    bytes: &[u8],
    expected: &[(String, Vec<usize>)],
    blame: &Blame,
    what: &str,
    stats: &mut Stats,
) {
    if let Some(path) = std::env::var_os("SKIPNET_FUZZ_DUMP") {
        // With SKIPNET_FUZZ_ONLY: the file of that case, to look at.
        let _ = std::fs::write(path, bytes);
    }
    stats.cases += 1;
    let outcome = match load(bytes, expected) {
        Ok(o) => o,
        Err(p) => {
            stats.fail(format!("{what}: panic: {p}"));
            return;
        }
    };
    // safetensors on its own, to tell deliberate strictness from a wrong refusal.
    let upstream = caught(|| SafeTensors::deserialize(bytes).is_ok());
    match outcome {
        Outcome::Loaded => stats.loaded += 1,
        Outcome::Refused(msg) => {
            stats.refused += 1;
            if !PREFIXES.iter().any(|p| msg.starts_with(p)) {
                stats.fail(format!("{what}: unexpected message: {msg}"));
            }
            if RAW.iter().any(|r| msg.contains(r)) {
                stats.fail(format!("{what}: raw safetensors error: {msg}"));
            }
            match blame {
                Blame::Tensor(t) if !msg.contains(&format!("`{t}`")) => {
                    stats.fail(format!("{what}: the error does not name `{t:?}`: {msg}"))
                }
                Blame::AnyTensor if !msg.contains('`') => {
                    stats.fail(format!("{what}: the error names no tensor: {msg}"))
                }
                _ => {}
            }
            if msg.starts_with("not a valid safetensors file")
                && upstream == Ok(true)
                && !msg.contains("appears twice")
            {
                stats.fail(format!("{what}: refused a file safetensors accepts: {msg}"));
            }
        }
    }
    if upstream.is_err() {
        stats.upstream_panics += 1;
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn one_case(seed: u64, i: u64, stats: &mut Stats) {
    let mut rng = case_rng(seed, i);
    let mut f = valid_file(&mut rng);
    let what = format!("SKIPNET_FUZZ_SEED={seed} SKIPNET_FUZZ_ONLY={i}");
    match rng.below(10) {
        // Unmutated: must load.
        0 => {
            let bytes = if rng.one_in(2) {
                serialized(&f).unwrap_or_else(|| f.bytes())
            } else {
                f.bytes()
            };
            match load(&bytes, &f.expected) {
                Ok(Outcome::Loaded) => {
                    stats.cases += 1;
                    stats.loaded += 1;
                }
                other => stats.fail(format!("{what}: a valid file: {other:?}")),
            }
        }
        // One structural mutation: the error must name what it says.
        1..=5 => {
            let blame = mutate_structure(&mut rng, &mut f);
            judge(&f.bytes(), &f.expected, &blame, &what, stats);
        }
        // Several mutations, structural and byte-level.
        _ => {
            for _ in 0..rng.range(0, 2) {
                mutate_structure(&mut rng, &mut f);
            }
            let mut bytes = if rng.one_in(3) {
                serialized(&f).unwrap_or_else(|| f.bytes())
            } else {
                f.bytes()
            };
            for _ in 0..rng.range(1, 4) {
                mutate_bytes(&mut rng, &mut bytes);
            }
            judge(&bytes, &f.expected, &Blame::Nothing, &what, stats);
        }
    }
}

#[test]
fn fuzz_weight_file_never_panics() {
    install_hook();
    let seed = env_u64("SKIPNET_FUZZ_SEED").unwrap_or(0x5EED_0007);
    let cases = env_u64("SKIPNET_FUZZ_CASES").unwrap_or(DEFAULT_CASES);
    let deadline = env_u64("SKIPNET_FUZZ_SECONDS").map(|s| Instant::now() + Duration::from_secs(s));
    let only = env_u64("SKIPNET_FUZZ_ONLY");
    let started = Instant::now();
    let mut stats = Stats::default();
    let mut i = only.unwrap_or(0);
    loop {
        match (only, deadline) {
            (Some(o), _) if i > o => break,
            (None, Some(d)) if Instant::now() >= d => break,
            (None, None) if i >= cases => break,
            _ => {}
        }
        one_case(seed, i, &mut stats);
        i += 1;
        if i.is_multiple_of(100_000) {
            println!(
                "  ... {i} cases, {:.0} s, {} failures",
                started.elapsed().as_secs_f64(),
                stats.failures.len()
            );
        }
    }
    println!(
        "fuzz loader (seed {seed:#x}): {} files in {:.1} s: {} loaded, {} refused; {} made safetensors 0.4 itself panic",
        stats.cases,
        started.elapsed().as_secs_f64(),
        stats.loaded,
        stats.refused,
        stats.upstream_panics
    );
    assert!(
        stats.failures.is_empty(),
        "{} failures:\n{}",
        stats.failures.len(),
        stats.failures.join("\n")
    );
}

/// Every prefix of a few valid files (and of one hostile file) is refused
/// without a panic.
#[test]
fn every_truncation_is_an_error() {
    install_hook();
    let mut stats = Stats::default();
    for seed in 0..6 {
        let mut rng = case_rng(0x7_2000 + seed, 0);
        let mut f = valid_file(&mut rng);
        if seed == 5 {
            // A file whose tensor claims to end at usize::MAX.
            f.entries.truncate(1);
            f.entries[0].dtype = "\"U8\"".into();
            f.entries[0].shape = format!("[{}]", usize::MAX);
            f.entries[0].offsets = format!("[0,{}]", usize::MAX);
        }
        let full = if seed % 2 == 0 {
            serialized(&f).unwrap_or_else(|| f.bytes())
        } else {
            f.bytes()
        };
        if full.len() > 50_000 {
            continue;
        }
        for cut in 0..full.len() {
            let what = format!("seed {seed}, cut at {cut} of {}", full.len());
            judge(
                &full[..cut],
                &f.expected,
                &Blame::Nothing,
                &what,
                &mut stats,
            );
            if let Ok(Outcome::Loaded) = load(&full[..cut], &f.expected) {
                stats.fail(format!("{what}: a truncated file loaded"));
            }
        }
    }
    println!("truncations: {} prefixes refused", stats.refused);
    assert!(stats.refused > 1000, "{}", stats.refused);
    assert!(stats.failures.is_empty(), "{}", stats.failures.join("\n"));
}

/// The files found by fuzzing, each with the error it now gets.
#[test]
fn hostile_headers_name_the_tensor() {
    let file = |header: &str, data: &[u8]| {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    };
    let err = |b: &[u8]| match WeightFile::parse(b) {
        Ok(_) => "parsed".to_string(),
        Err(e) => e.to_string(),
    };
    // Was a panic in debug builds ("attempt to add with overflow" in
    // safetensors' read_metadata): its validation accepts this tensor.
    let max = usize::MAX;
    let h = format!(r#"{{"big":{{"dtype":"U8","shape":[{max}],"data_offsets":[0,{max}]}}}}"#);
    assert_eq!(
        err(&file(&h, &[])),
        format!("not a valid safetensors file: tensor `big` has data_offsets [0, {max}], past the end of the file's 0 bytes of data")
    );
    // Was "TensorInvalidInfo" (no name).
    let h = r#"{"a.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b.bias":{"dtype":"F16","shape":[2],"data_offsets":[8,16]}}"#;
    assert_eq!(
        err(&file(h, &[0; 16])),
        "not a valid safetensors file: tensor `b.bias` in the header: F16 of shape [2] takes 4 bytes, but its data_offsets [8, 16] do not span that"
    );
    // Was "ValidationOverflow" (no name).
    let h = r#"{"k":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#;
    assert_eq!(
        err(&file(h, &[0; 4])),
        "not a valid safetensors file: tensor `k` in the header: F32 of shape [4294967296, 4294967296] is too large"
    );
    // Was "InvalidHeaderDeserialization" (no name).
    let h = r#"{"k":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#;
    assert_eq!(
        err(&file(h, &[0; 4])),
        "not a valid safetensors file: tensor `k` in the header: unknown dtype `F33`"
    );
    // Was accepted: safetensors keeps the last of duplicate names.
    let h = r#"{"k":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"k":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    assert_eq!(
        err(&file(h, &[0; 4])),
        "not a valid safetensors file: tensor `k` appears twice in the header"
    );
    // Overlapping and out-of-order offsets name both tensors.
    let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    assert_eq!(
        err(&file(h, &[0; 8])),
        "not a valid safetensors file: tensor `b` has data_offsets [4, 8], which overlaps tensor `a`, which ends at 8"
    );
    // Header length past the end, and huge.
    let mut b = file(r#"{}"#, &[]);
    b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        err(&b),
        "not a valid safetensors file: the header length is 18446744073709551615 bytes, more than safetensors' limit of 100000000"
    );
    b[..8].copy_from_slice(&3u64.to_le_bytes());
    assert_eq!(
        err(&b),
        "not a valid safetensors file: the header length 3 points past the end of the file (10 bytes)"
    );
}

#[test]
fn validate_names_nan_and_infinity() {
    let data: Vec<u8> = [0.0f32, 1.0, 2.0, f32::NEG_INFINITY, 4.0, f32::NAN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let a = TensorView::new(Dtype::F32, vec![2, 3], &data[..24]).unwrap();
    let ok = TensorView::new(Dtype::F32, vec![1], &data[4..8]).unwrap();
    let bytes = safetensors::serialize([("conv.kernel", a), ("conv.bias", ok)], &None).unwrap();
    let f = WeightFile::parse(&bytes).unwrap();
    let e = f.validate().unwrap_err();
    assert_eq!(
        e,
        Error::NonFinite {
            name: "conv.kernel".into(),
            index: vec![1, 0],
            value: "-inf".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "tensor `conv.kernel` holds -inf at [1, 0] in the weight file"
    );
    // Non-F32 tensors are `take`'s business, not `validate`'s.
    let h = TensorView::new(Dtype::F16, vec![2], &[0xff; 4]).unwrap();
    let bytes = safetensors::serialize([("h", h)], &None).unwrap();
    assert!(WeightFile::parse(&bytes).unwrap().validate().is_ok());
}
