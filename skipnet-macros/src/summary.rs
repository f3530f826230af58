//! `Name::summary()`: a Keras-like table of the layers (op, config and
//! algorithm, output shape, parameters) and where each tensor lives in the
//! arena and when, then the totals. Computed at compile time, emitted as a
//! string literal.

use crate::checked::Checked;
use crate::diag::shape_str;
use crate::fuse::Slot;
use crate::graph::{Value, ValueKind};
use crate::weights::{Fold, Weight};

/// The table's columns.
const HEAD: [&str; 6] = [
    "Layer (op)",
    "Config",
    "Output shape",
    "Params",
    "Arena offset",
    "     Size  Steps",
];

/// The whole summary of the checked network; `quantized`: an int8 network
/// (weights and arena counted in their int8 and int32 bytes).
pub fn summary(c: &Checked, weights: &[(usize, Vec<Weight>)], quantized: bool) -> String {
    let g = &c.graph;
    let rows: Vec<[String; 6]> = g
        .values
        .iter()
        .enumerate()
        .map(|(id, v)| row(c, weights, id, v))
        .collect();
    let mut s = table(&g.name.to_string(), &rows);
    let all = weights.iter().flat_map(|(_, w)| w);
    let params: usize = all.clone().filter(|w| in_file(w)).map(|w| w.len).sum();
    let folded: usize = all.clone().filter(|w| !in_file(w)).map(|w| w.len).sum();
    let outputs: Vec<String> = g.outputs.iter().map(|(n, _)| n.to_string()).collect();
    if quantized {
        // int8 kernels, int32 biases (the per-filter scales are load-time only).
        let bytes: usize = all
            .map(|w| if w.var == "bias" { 4 * w.len } else { w.len })
            .sum();
        s += &format!(
            "Total params: {} ({:.2} KiB: int8 kernels, int32 biases), as Keras counts them\n",
            group(params),
            bytes as f64 / 1024.0
        );
    } else {
        s += &format!(
            "Total params: {} ({:.2} MiB f32), as Keras counts them\n",
            group(params),
            params as f64 * 4.0 / 1048576.0
        );
    }
    if folded > 0 {
        s += &format!(
            "Folded biases: {} f32 more, computed at load for the batch norms and layer scales folded into convs\n",
            group(folded)
        );
    }
    s += &format!("Outputs: {}\n", outputs.join(", "));
    let plan = &c.plan;
    let (unit, bytes) = if quantized {
        ("bytes", 1.0)
    } else {
        ("f32", 4.0)
    };
    s += &format!(
        "ARENA_LEN: {} {unit} ({:.1} KiB); naive sum of intermediate tensors: {} {unit}; live-set bound: {} {unit}\n",
        group(plan.arena_len),
        plan.arena_len as f64 * bytes / 1024.0,
        group(plan.naive_sum),
        group(plan.live_bound)
    );
    s
}

/// Whether `w` is one of the model's variables (in the weight file, counted
/// by Keras), not a bias synthesized by folding a batch norm into a conv.
fn in_file(w: &Weight) -> bool {
    !matches!(w.fold, Fold::Bias(..))
}

/// Value `id`'s row: layer, config, output shape, params, offset, size and
/// steps.
fn row(c: &Checked, weights: &[(usize, Vec<Weight>)], id: usize, v: &Value) -> [String; 6] {
    let shapes = &c.shapes;
    let (layer, config) = match &v.kind {
        ValueKind::Input(_) => (format!("{} (input)", v.path), String::new()),
        ValueKind::Node(n) => {
            let mut config = n.op.describe();
            let (ins, _) = c.fusions.stored_operands(n, shapes);
            if let Some(algorithm) = n.op.algorithm(&ins, &shapes[id]) {
                config = format!("{config}, {algorithm}");
            }
            (format!("{} ({})", v.path, n.def.name), config)
        }
    };
    let params: usize = weights
        .iter()
        .find(|(w, _)| *w == id)
        .map(|(_, ws)| ws.iter().filter(|w| in_file(w)).map(|w| w.len).sum())
        .unwrap_or(0);
    let (offset, size, live) = storage(c, id, v);
    [
        layer,
        config,
        shape_str(&shapes[id]),
        group(params),
        offset,
        format!("{size:>9}  {live}"),
    ]
}

/// Where and when value `id` is stored: offset, size and live steps, or
/// why it is not stored.
fn storage(c: &Checked, id: usize, v: &Value) -> (String, String, String) {
    let (g, fusions) = (&c.graph, &c.fusions);
    match (&v.kind, c.plan.buffers[id]) {
        (ValueKind::Input(_), _) => (
            "input".into(),
            group(c.shapes[id].iter().product()),
            String::new(),
        ),
        (_, Some(b)) => match b.slot {
            Some(Slot { lo, hi, row, .. }) => (
                group(b.offset),
                group(b.len / row.max(1) * (hi - lo)),
                format!(
                    "{}..{}  written into `{}` (columns {lo}..{hi} of {row})",
                    b.first, b.last, g.values[b.owner].path
                ),
            ),
            None => (
                group(b.offset),
                group(b.len),
                match c.plan.overwrites[id] {
                    Some(o) => format!(
                        "{}..{}  written over `{}` (from {} bytes before it)",
                        b.first, b.last, g.values[o.operand].path, o.gap
                    ),
                    None => format!("{}..{}", b.first, b.last),
                },
            ),
        },
        (_, None) if fusions.computed_into(id).is_some() => (
            "-".into(),
            "-".into(),
            format!(
                "computed straight into `{}`",
                fusions
                    .computed_into(id)
                    .map(|a| g.values[a].path.as_str())
                    .unwrap_or("?")
            ),
        ),
        (_, None) if fusions.scaled_into(id).is_some() => (
            "-".into(),
            "-".into(),
            format!(
                "never stored: `{}` scales its kernel by the gate",
                fusions
                    .scaled_into(id)
                    .map(|c| g.values[c].path.as_str())
                    .unwrap_or("?")
            ),
        ),
        (_, None) if fusions.is_folded(id) => (
            "-".into(),
            "-".into(),
            "never stored: its consumers read through it".into(),
        ),
        (_, None) => ("-".into(), "-".into(), "not run: no output needs it".into()),
    }
}

/// The framed table of `rows` under [`HEAD`], columns as wide as their
/// widest cell.
fn table(name: &str, rows: &[[String; 6]]) -> String {
    let mut widths = HEAD.map(|h| h.len());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    // Padding by hand: `format!`'s `{:<w$}` panics for widths over 65,535.
    let pad = |cell: &str, w: usize, right: bool| {
        let fill = " ".repeat(w.saturating_sub(cell.chars().count()));
        if right {
            fill + cell
        } else {
            cell.to_string() + &fill
        }
    };
    let line = |cells: [&str; 6]| {
        format!(
            "{}  {}  {}  {}  {}  {}\n",
            pad(cells[0], widths[0], false),
            pad(cells[1], widths[1], false),
            pad(cells[2], widths[2], false),
            pad(cells[3], widths[3], true),
            pad(cells[4], widths[4], true),
            cells[5],
        )
    };
    let total_width: usize = widths.iter().sum::<usize>() + 10;
    let mut s = format!("Model: \"{name}\"\n");
    s += &"=".repeat(total_width);
    s += "\n";
    s += &line(HEAD);
    s += &"-".repeat(total_width);
    s += "\n";
    for r in rows {
        s += &line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
    }
    s += &"=".repeat(total_width);
    s += "\n";
    s
}

/// `n` with thousands separators, as Keras prints counts: `1,234,567`.
pub(crate) fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::group(0), "0");
        assert_eq!(super::group(999), "999");
        assert_eq!(super::group(1000), "1,000");
        assert_eq!(super::group(592163), "592,163");
        assert_eq!(super::group(1234567), "1,234,567");
    }
}
