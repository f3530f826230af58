//! `Name::graph_svg()`, `Name::arena_svg()` and `Name::graph_dot()`: pictures
//! of the checked network, drawn at compile time and emitted as string
//! literals (no run-time cost, no dependency for the user).
//!
//! - [`graph`]: the layers as a layered drawing of the DAG (one box per
//!   binding, skip edges distinct, blocks grouped, fused and never-stored
//!   tensors marked as `summary()` marks them), and the same as Graphviz DOT;
//! - [`arena`]: the memory plan, x = schedule step, y = arena offset, one
//!   rectangle per stored tensor.
//!
//! Both read [`Tensor`]s, what this module says of every value: its kind
//! (the colour), its label lines and where it lives.

mod arena;
mod graph;

pub use arena::arena_svg;
pub use graph::{graph_dot, graph_svg};

use crate::checked::Checked;
use crate::diag::shape_str;
use crate::fuse::Slot;
use crate::graph::ValueKind;

/// What kind of op made a value: the colour of its box and its rectangles.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Input,
    /// Convolutions and dense layers: the ops with a GEMM.
    Conv,
    /// `add`, `concat`: where paths meet.
    Merge,
    /// Pooling, upsampling, padding, cropping, reshapes.
    Resample,
    /// Everything else: normalizations, activations, rescaling.
    Other,
}

impl Kind {
    fn of_op(name: &str) -> Kind {
        match name {
            "conv2d" | "depthwise_conv2d" | "separable_conv2d" | "conv2d_transpose" | "dense" => {
                Kind::Conv
            }
            "add" | "concat" => Kind::Merge,
            "max_pool2d" | "avg_pool2d" | "global_avg_pool2d" | "global_max_pool2d"
            | "upsample2d" | "zero_padding2d" | "cropping2d" | "flatten" | "reshape" => {
                Kind::Resample
            }
            _ => Kind::Other,
        }
    }

    /// (fill, stroke) colours.
    pub fn colours(self) -> (&'static str, &'static str) {
        match self {
            Kind::Input => ("#eeeeee", "#555555"),
            Kind::Conv => ("#cfe2f3", "#2f6fa8"),
            Kind::Merge => ("#fce5cd", "#c27014"),
            Kind::Resample => ("#d9ead3", "#4f8a3c"),
            Kind::Other => ("#e6dcf2", "#6f5aa8"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Input => "input",
            Kind::Conv => "conv / dense",
            Kind::Merge => "add / concat",
            Kind::Resample => "pool / resample",
            Kind::Other => "norm / activation / other",
        }
    }

    pub const ALL: [Kind; 5] = [
        Kind::Input,
        Kind::Conv,
        Kind::Merge,
        Kind::Resample,
        Kind::Other,
    ];
}

/// Where a value lives, as `summary()` says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A network input, outside the arena.
    Input,
    /// Its own buffer in the arena.
    Stored,
    /// Computed in the buffer of the operand (path) it replaces.
    InPlace(String),
    /// Written straight into columns `lo..hi` of a concat's rows.
    Slot(String, Slot),
    /// Run inside the step of the value (path) that stores the result.
    Fused(String),
    /// An upsample or padding its consumers read through.
    Folded,
    /// No output needs it.
    NotRun,
}

impl Storage {
    /// Whether the value has no memory of its own in the arena.
    pub fn never_stored(&self) -> bool {
        matches!(self, Storage::Fused(_) | Storage::Folded | Storage::NotRun)
    }

    /// A short phrase for a box's last line.
    fn short(&self, offset: Option<usize>) -> String {
        match self {
            Storage::Input => "outside the arena".into(),
            Storage::Stored => format!("@{}", offset.unwrap_or(0)),
            Storage::InPlace(p) => format!("in place of {p}"),
            Storage::Slot(c, s) => format!("into {c}[{}..{}]", s.lo, s.hi),
            Storage::Fused(p) => format!("fused into {p}"),
            Storage::Folded => "folded: never stored".into(),
            Storage::NotRun => "not run".into(),
        }
    }
}

/// What the pictures say of one value.
pub struct Tensor {
    /// The binding path (`b1.a`), as in `summary()`.
    pub path: String,
    /// The op's name (`conv2d`), or `input`.
    pub op: String,
    /// The op's configuration and algorithm, as in `summary()`.
    pub config: String,
    pub shape: String,
    pub kind: Kind,
    /// The kind of the op that runs at the step storing this value: the
    /// producer of a fused sum (a conv whose epilogue adds and activates),
    /// else `kind`.
    pub step_kind: Kind,
    pub storage: Storage,
    /// Arena offset, for values with a buffer in the arena.
    pub offset: Option<usize>,
    /// Enclosing block instances, outermost first: (path prefix, block name).
    pub groups: Vec<(String, String)>,
}

impl Tensor {
    /// The lines of its box: name and op, config (if any), shape and storage.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("{} : {}", self.path, self.op)];
        if !self.config.is_empty() {
            lines.push(self.config.clone());
        }
        lines.push(format!(
            "{}  {}",
            self.shape,
            self.storage.short(self.offset)
        ));
        lines
    }
}

/// What the pictures say of every value of `c`, in `graph.values` order.
pub fn tensors(c: &Checked) -> Vec<Tensor> {
    let g = &c.graph;
    g.values
        .iter()
        .enumerate()
        .map(|(id, v)| {
            let (op, config, kind, frames) = match &v.kind {
                ValueKind::Input(_) => (
                    "input".to_string(),
                    "network input".to_string(),
                    Kind::Input,
                    &[][..],
                ),
                ValueKind::Node(n) => {
                    let mut config = n.op.describe();
                    let (ins, _) = c.fusions.stored_operands(n, &c.shapes);
                    if let Some(a) = n.op.algorithm(&ins, &c.shapes[id]) {
                        config = format!("{config}, {a}");
                    }
                    (
                        n.def.name.to_string(),
                        config,
                        Kind::of_op(n.def.name),
                        &n.context[..],
                    )
                }
            };
            // Block instances are path prefixes: `b1.a` inside block `apes`
            // called as `b1`, and the block's result is `b1` itself.
            // `context` is innermost first.
            let parts: Vec<&str> = v.path.split('.').collect();
            let depth = frames.len().min(parts.len());
            let groups = (1..=depth)
                .map(|k| {
                    (
                        parts[..k].join("."),
                        frames[frames.len() - k].block.to_string(),
                    )
                })
                .collect();
            let (storage, offset) = storage(c, id);
            let step_kind = match c.fusions.sum(id).map(|s| &g.values[s.producer].kind) {
                Some(ValueKind::Node(p)) => Kind::of_op(p.def.name),
                _ => kind,
            };
            Tensor {
                path: v.path.clone(),
                op,
                config,
                shape: shape_str(&c.shapes[id]),
                kind,
                step_kind,
                storage,
                offset,
                groups,
            }
        })
        .collect()
}

/// Where value `id` lives, and its offset if it has a buffer.
fn storage(c: &Checked, id: usize) -> (Storage, Option<usize>) {
    let g = &c.graph;
    let path = |v: usize| g.values[v].path.clone();
    if matches!(g.values[id].kind, ValueKind::Input(_)) {
        return (Storage::Input, None);
    }
    match c.plan.buffers[id] {
        Some(b) => {
            let s = match b.slot {
                Some(sl) => Storage::Slot(path(b.owner), sl),
                None if b.owner != id => Storage::InPlace(path(b.owner)),
                None => Storage::Stored,
            };
            (s, Some(b.offset))
        }
        None => match c.fusions.computed_into(id) {
            Some(into) => (Storage::Fused(path(into)), None),
            None if c.fusions.is_folded(id) => (Storage::Folded, None),
            None => (Storage::NotRun, None),
        },
    }
}

/// `s` with the five XML special characters escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to `max` characters, an ellipsis marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A coordinate as the SVG writes it: at most two decimals.
pub fn num(x: f64) -> String {
    let r = (x * 100.0).round() / 100.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

/// Monospace advance of the pictures' 11 px font, in px per character.
pub const CHAR_W: f64 = 6.7;

/// The pictures' font.
pub const FONT: &str =
    "font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"11\"";

/// Standard base64 of `bytes` (for the rustdoc image's data URI).
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(T[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in cases {
            assert_eq!(super::base64(plain.as_bytes()), coded, "{plain:?}");
        }
    }

    #[test]
    fn escapes_and_clips() {
        assert_eq!(
            super::escape("a<b & \"c\">'"),
            "a&lt;b &amp; &quot;c&quot;&gt;&apos;"
        );
        assert_eq!(super::clip("abcdef", 4), "abc…");
        assert_eq!(super::clip("abc", 4), "abc");
        assert_eq!(super::num(1.0), "1");
        assert_eq!(super::num(1.256), "1.26");
    }
}
