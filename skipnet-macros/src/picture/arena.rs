//! The arena picture: x = schedule step, y = arena offset (growing
//! downwards, as a memory map), one rectangle per stored tensor.
//!
//! A tensor written at step `first` and last read at step `last` spans
//! `[first, last]` on the x axis, so a value computed in place of an operand
//! that dies at its step touches that operand's rectangle without
//! overlapping it; a kernel's scratch lives at its step only and is drawn
//! as `[step - 0.4, step + 0.4]`. A concat part written straight into the
//! concat's rows (columns `lo..hi` of every row of `row` floats) is drawn as
//! the share `lo/row..hi/row` of the concat's region, hatched. Under these
//! rules two rectangles overlap only if the plan overlaps two tensors live
//! at once, which `ArenaPlan::check` refuses. `ARENA_LEN`, the live-set
//! bound and the naive sum (one buffer per tensor) are horizontal lines.
//!
//! Every rectangle carries its plan as data (`data-value`, `data-offset`,
//! `data-len`, `data-first`, `data-last`) and the drawing's scale is on the
//! root (`data-x0`, `data-step`, `data-y0`, `data-scale`), so a test can
//! check the picture against the plan.

use super::{escape, num, Kind, Storage, Tensor, CHAR_W, FONT};
use crate::checked::Checked;
use crate::summary::group;

const WIDTH: f64 = 960.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 64.0;
const PLOT_H: f64 = 420.0;
const BOTTOM: f64 = 100.0;
/// The naive sum is drawn at its height only when within this multiple of
/// the arena; beyond it, the chart shows the arena alone and names the
/// naive sum at the top.
const MAX_OVERSHOOT: f64 = 2.5;

/// One rectangle: which value, where, and how it is drawn.
struct Rect {
    label: String,
    kind: Kind,
    /// "tensor", "slot" or "scratch".
    role: &'static str,
    offset: usize,
    len: usize,
    /// Drawn y-range inside the buffer, as a share of `len` (a slot's columns).
    share: (f64, f64),
    first: f64,
    last: f64,
    tip: String,
}

fn rects(c: &Checked, tensors: &[Tensor], unit: &str) -> Vec<Rect> {
    let plan = &c.plan;
    let mut out = Vec::new();
    for &v in &plan.schedule {
        let t = &tensors[v];
        if let Some(b) = plan.buffers[v] {
            let (role, share, how) = match (&t.storage, b.slot) {
                (Storage::Slot(concat, _), Some(sl)) if sl.row > 0 => (
                    "slot",
                    (sl.lo as f64 / sl.row as f64, sl.hi as f64 / sl.row as f64),
                    format!(
                        ", columns {}..{} of each {}-float row of {concat}",
                        sl.lo, sl.hi, sl.row
                    ),
                ),
                (Storage::InPlace(of), _) => ("tensor", (0.0, 1.0), format!(", in place of {of}")),
                _ => ("tensor", (0.0, 1.0), String::new()),
            };
            out.push(Rect {
                label: t.path.clone(),
                kind: t.step_kind,
                role,
                offset: b.offset,
                len: b.len,
                share,
                first: b.first as f64,
                last: b.last as f64,
                tip: format!(
                    "{} ({}): offset {}, {} {unit}, steps {}..{}{how}",
                    t.path,
                    t.op,
                    group(b.offset),
                    group(b.len),
                    b.first,
                    b.last
                ),
            });
        }
        if let Some(b) = plan.scratch[v] {
            out.push(Rect {
                label: format!("scratch {}", t.path),
                kind: t.step_kind,
                role: "scratch",
                offset: b.offset,
                len: b.len,
                share: (0.0, 1.0),
                first: b.first as f64 - 0.4,
                last: b.last as f64 + 0.4,
                tip: format!(
                    "scratch of {}: offset {}, {} {unit}, step {}",
                    t.path,
                    group(b.offset),
                    group(b.len),
                    b.first
                ),
            });
        }
    }
    out
}

/// The arena plan as an SVG document; `quantized`: sizes in bytes.
pub fn arena_svg(c: &Checked, tensors: &[Tensor], quantized: bool) -> String {
    let plan = &c.plan;
    let unit = if quantized { "bytes" } else { "f32" };
    let rects = rects(c, tensors, unit);
    let steps = plan.schedule.len().max(1) as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    // Steps -0.5 ..= steps + 0.5 (outputs live to the step past the last).
    let step_w = plot_w / (steps + 1.0);
    let x0 = LEFT + 0.5 * step_w;
    let arena = plan.arena_len.max(1) as f64;
    let naive = plan.naive_sum as f64;
    let y_max = if naive > MAX_OVERSHOOT * arena {
        arena * 1.15
    } else {
        naive.max(arena) * 1.04
    };
    let scale = PLOT_H / y_max;
    let sx = |t: f64| x0 + t * step_w;
    let sy = |o: f64| TOP + o * scale;
    let height = TOP + PLOT_H + BOTTOM;
    let name = c.graph.name.to_string();
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" {FONT} data-x0=\"{}\" data-step=\"{}\" data-y0=\"{TOP}\" data-scale=\"{}\">\n",
        x0,
        step_w,
        scale,
        w = num(WIDTH),
        h = num(height),
    );
    s += &format!(
        "<title>{} arena: {} {unit}, {} buffers over {} steps</title>\n",
        escape(&name),
        group(plan.arena_len),
        rects.len(),
        plan.schedule.len()
    );
    s += "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#ffffff\" fill-opacity=\"0.0\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#ffffff\" stroke-width=\"2.5\" stroke-opacity=\"0.8\"/></pattern></defs>\n";
    s += &format!(
        "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n",
        num(WIDTH),
        num(height)
    );
    s += &format!(
        "<text x=\"{LEFT}\" y=\"22\" font-size=\"14\" font-weight=\"bold\">{} arena plan</text>\n",
        escape(&name)
    );
    s += &legend();
    // Plot frame and axes.
    s += &format!(
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{PLOT_H}\" fill=\"#fbfbfb\" stroke=\"#bbbbbb\"/>\n",
        num(plot_w)
    );
    let tick = nice_step(y_max / 6.0);
    let mut o = 0.0;
    while o <= y_max {
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#666666\">{}</text><line x1=\"{}\" y1=\"{y}\" x2=\"{LEFT}\" y2=\"{y}\" stroke=\"#999999\"/>\n",
            num(LEFT - 6.0),
            num(sy(o) + 4.0),
            group(o as usize),
            num(LEFT - 3.0),
            y = num(sy(o)),
        );
        o += tick;
    }
    s += &format!(
        "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\" fill=\"#444444\">offset ({unit})</text>\n",
        num(TOP + PLOT_H / 2.0),
        num(TOP + PLOT_H / 2.0)
    );
    // Few steps: each named by the value it stores, slanted; many: numbers.
    let named = plan.schedule.len() <= NAMED_STEPS;
    let every = if named {
        1
    } else {
        (plan.schedule.len() / 16).max(1)
    };
    for (step, &v) in plan.schedule.iter().enumerate().step_by(every) {
        let (x, y) = (sx(step as f64), TOP + PLOT_H + 14.0);
        s += &if named {
            format!(
                "<text x=\"{x}\" y=\"{y}\" text-anchor=\"end\" transform=\"rotate(-40 {x} {y})\" fill=\"#555555\">{}</text>\n",
                escape(&super::clip(&tensors[v].path, 18)),
                x = num(x + 4.0),
                y = num(y),
            )
        } else {
            format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666666\">{step}</text>\n",
                num(x),
                num(y)
            )
        };
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#444444\">schedule step (the value it stores)</text>\n",
        num(LEFT + plot_w / 2.0),
        num(height - 10.0)
    );
    for r in &rects {
        s += &rect(r, &sx, &sy);
    }
    // The three totals.
    let lines = [
        (plan.arena_len, "ARENA_LEN", "#c0392b", "none"),
        (plan.live_bound, "live-set bound", "#2f6fa8", "6 3"),
        (plan.naive_sum, "naive sum", "#777777", "2 3"),
    ];
    for (i, (value, label, colour, dash)) in lines.into_iter().enumerate() {
        let text = format!("{label}: {}", group(value));
        if value as f64 > y_max {
            s += &format!(
                "<text class=\"total\" data-total=\"{label}\" x=\"{x}\" y=\"{}\" fill=\"{colour}\">{}<tspan x=\"{x}\" dy=\"14\">({:.1}x ARENA_LEN)</tspan></text>\n",
                num(TOP + 10.0 + 14.0 * i as f64),
                escape(&text),
                value as f64 / arena,
                x = num(WIDTH - RIGHT + 8.0),
            );
            continue;
        }
        let y = sy(value as f64);
        s += &format!(
            "<g class=\"total\" data-total=\"{label}\" data-value=\"{value}\"><line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"1.5\" stroke-dasharray=\"{dash}\"/><text x=\"{}\" y=\"{}\" fill=\"{colour}\">{}</text></g>\n",
            num(WIDTH - RIGHT + 4.0),
            num(WIDTH - RIGHT + 8.0),
            num(y + 4.0 + if label == "live-set bound" { 10.0 } else { 0.0 }),
            escape(&text),
            y = num(y),
        );
    }
    s += "</svg>\n";
    s
}

/// Schedules up to this long have each step named on the x axis.
const NAMED_STEPS: usize = 40;

/// A tick spacing of 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * p)
}

fn legend() -> String {
    let mut s = String::new();
    let mut x = LEFT;
    let y = 34.0;
    for k in &Kind::ALL[1..] {
        let (fill, stroke) = k.colours();
        s += &format!(
            "<rect x=\"{}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
            num(x),
            num(x + 16.0),
            num(y + 10.0),
            escape(k.name())
        );
        x += 16.0 + k.name().len() as f64 * CHAR_W + 14.0;
    }
    s += &format!(
        "<rect x=\"{}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"#cfe2f3\" stroke=\"#2f6fa8\"/><rect x=\"{}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"url(#hatch)\"/><text x=\"{}\" y=\"{}\">concat part</text>\n",
        num(x),
        num(x),
        num(x + 16.0),
        num(y + 10.0)
    );
    s
}

fn rect(r: &Rect, sx: &dyn Fn(f64) -> f64, sy: &dyn Fn(f64) -> f64) -> String {
    let (fill, stroke) = if r.role == "scratch" {
        ("#e8e8e8", "#999999")
    } else {
        r.kind.colours()
    };
    let lo = r.offset as f64 + r.len as f64 * r.share.0;
    let hi = r.offset as f64 + r.len as f64 * r.share.1;
    let (x, y) = (sx(r.first), sy(lo));
    let (w, h) = (sx(r.last) - x, sy(hi) - y);
    let mut s = format!(
        "<g class=\"buffer\"><title>{}</title><rect data-value=\"{}\" data-role=\"{}\" data-offset=\"{}\" data-len=\"{}\" data-share=\"{} {}\" data-first=\"{}\" data-last=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"0.8\"/>",
        escape(&r.tip),
        escape(&r.label),
        r.role,
        r.offset,
        r.len,
        r.share.0,
        r.share.1,
        r.first,
        r.last,
        num(x),
        num(y),
        num(w),
        num(h),
    );
    if r.role == "slot" {
        s += &format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"url(#hatch)\" pointer-events=\"none\"/>",
            num(x),
            num(y),
            num(w),
            num(h)
        );
    }
    // A label where it fits.
    let chars = ((w - 6.0) / super::CHAR_W).floor().max(0.0) as usize;
    if h >= 12.0 && chars >= 3 {
        s += &format!(
            "<text x=\"{}\" y=\"{}\" fill=\"#222222\" pointer-events=\"none\">{}</text>",
            num(x + 3.0),
            num(y + h.min(24.0) / 2.0 + 4.0),
            escape(&super::clip(&r.label, chars))
        );
    }
    s += "</g>\n";
    s
}
