//! The graph picture: a layered drawing of the DAG, inputs at the top.
//!
//! Layout: each value's rank is its longest path from an input; a rank is a
//! row of boxes, ordered by the mean position of their operands (two
//! barycenter sweeps), centred. An edge between adjacent ranks is a curve
//! from the bottom of the operand's box to the top of its consumer's; an
//! edge that skips ranks (a U-Net's concat skip, a residual) is drawn
//! dashed in the merge colour and routed to the right of every box it
//! passes, nested skips on outer lanes, so it never crosses a box.

use super::{clip, escape, num, Kind, Storage, Tensor, CHAR_W, FONT};
use crate::checked::Checked;
use crate::graph::ValueKind;
use std::collections::BTreeMap;

/// Box height, vertical gap between ranks and horizontal gap between boxes.
const BOX_H: f64 = 50.0;
const RANK_GAP: f64 = 40.0;
const BOX_GAP: f64 = 24.0;
/// Longest line a box shows (the full text is in its tooltip).
const MAX_CHARS: usize = 46;
/// Margin around the drawing and the legend's height.
const MARGIN: f64 = 20.0;
const LEGEND_H: f64 = 64.0;
/// Distance between skip-edge lanes.
const LANE: f64 = 12.0;

/// One edge: operand value -> consumer value.
struct Edge {
    from: usize,
    to: usize,
}

/// Where every box is: `(x, y)` of its top-left corner and its width.
struct Layout {
    rank: Vec<usize>,
    x: Vec<f64>,
    y: Vec<f64>,
    w: Vec<f64>,
    width: f64,
    height: f64,
}

fn edges(c: &Checked) -> Vec<Edge> {
    let mut e = Vec::new();
    for (to, v) in c.graph.values.iter().enumerate() {
        if let ValueKind::Node(n) = &v.kind {
            for o in &n.operands {
                e.push(Edge { from: o.value, to });
            }
        }
    }
    e
}

fn box_width(t: &Tensor) -> f64 {
    let chars = t
        .lines()
        .iter()
        .map(|l| l.chars().count().min(MAX_CHARS))
        .max()
        .unwrap_or(0);
    (chars as f64 * CHAR_W + 16.0).max(110.0)
}

fn layout(tensors: &[Tensor], edges: &[Edge]) -> Layout {
    let n = tensors.len();
    // Operands come before their consumers in `graph.values`.
    let mut rank = vec![0usize; n];
    for e in edges {
        rank[e.to] = rank[e.to].max(rank[e.from] + 1);
    }
    let ranks = rank.iter().max().map_or(0, |r| r + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); ranks];
    for (v, &r) in rank.iter().enumerate() {
        rows[r].push(v);
    }
    let w: Vec<f64> = tensors.iter().map(box_width).collect();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in edges {
        preds[e.to].push(e.from);
    }
    let mut x = vec![0.0f64; n];
    let place = |rows: &[Vec<usize>], x: &mut [f64]| {
        for row in rows {
            let total: f64 = row.iter().map(|&v| w[v]).sum::<f64>()
                + BOX_GAP * row.len().saturating_sub(1) as f64;
            let mut left = -total / 2.0;
            for &v in row {
                x[v] = left;
                left += w[v] + BOX_GAP;
            }
        }
    };
    place(&rows, &mut x);
    for _ in 0..2 {
        for row in rows.iter_mut().skip(1) {
            let centre = |v: usize| {
                let p = &preds[v];
                if p.is_empty() {
                    x[v] + w[v] / 2.0
                } else {
                    p.iter().map(|&u| x[u] + w[u] / 2.0).sum::<f64>() / p.len() as f64
                }
            };
            let mut keyed: Vec<(f64, usize, usize)> = row
                .iter()
                .enumerate()
                .map(|(i, &v)| (centre(v), i, v))
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            *row = keyed.into_iter().map(|k| k.2).collect();
        }
        place(&rows, &mut x);
    }
    let left = (0..n).map(|v| x[v]).fold(0.0f64, f64::min);
    let right = (0..n).map(|v| x[v] + w[v]).fold(0.0f64, f64::max);
    for xv in x.iter_mut() {
        *xv += MARGIN - left;
    }
    let y: Vec<f64> = rank
        .iter()
        .map(|&r| MARGIN + LEGEND_H + r as f64 * (BOX_H + RANK_GAP))
        .collect();
    Layout {
        rank,
        x,
        y,
        w,
        width: right - left + 2.0 * MARGIN,
        height: MARGIN * 2.0 + LEGEND_H + ranks as f64 * (BOX_H + RANK_GAP) - RANK_GAP,
    }
}

/// Lanes of the skip edges: an edge gets the lane above every skip edge
/// whose rank span overlaps its own and was placed before it (shorter
/// spans first, so nested skips sit inside the outer ones).
fn skip_lanes(l: &Layout, edges: &[Edge]) -> BTreeMap<usize, usize> {
    let mut skips: Vec<usize> = (0..edges.len())
        .filter(|&i| l.rank[edges[i].to] > l.rank[edges[i].from] + 1)
        .collect();
    let span = |i: usize| (l.rank[edges[i].from], l.rank[edges[i].to]);
    skips.sort_by_key(|&i| (span(i).1 - span(i).0, i));
    let mut lanes: BTreeMap<usize, usize> = BTreeMap::new();
    for &i in &skips {
        let (a, b) = span(i);
        let lane = lanes
            .iter()
            .filter(|(&j, _)| {
                let (c, d) = span(j);
                c < b && a < d
            })
            .map(|(_, &lane)| lane + 1)
            .max()
            .unwrap_or(0);
        lanes.insert(i, lane);
    }
    lanes
}

/// The graph as an SVG document.
pub fn graph_svg(c: &Checked, tensors: &[Tensor]) -> String {
    let edges = edges(c);
    let l = layout(tensors, &edges);
    let lanes = skip_lanes(&l, &edges);
    let max_lane = lanes.values().max().map_or(0, |m| m + 1);
    // The rightmost box edge of every rank, for routing skips past them.
    let ranks = l.rank.iter().max().map_or(0, |r| r + 1);
    let mut rank_right = vec![0.0f64; ranks];
    for v in 0..tensors.len() {
        let r = &mut rank_right[l.rank[v]];
        *r = r.max(l.x[v] + l.w[v]);
    }
    let width = l.width + max_lane as f64 * LANE + if max_lane > 0 { 24.0 } else { 0.0 };
    let width = width.max(640.0);
    let name = c.graph.name.to_string();
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" {FONT}>\n",
        w = num(width),
        h = num(l.height),
    );
    s += &format!(
        "<title>{} graph: {} values, {} edges</title>\n",
        escape(&name),
        tensors.len(),
        edges.len()
    );
    s += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555555\"/></marker>";
    s += "<marker id=\"skiparrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#c27014\"/></marker></defs>\n";
    s += &format!(
        "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n",
        num(width),
        num(l.height)
    );
    s += &legend(&name);
    s += &groups(tensors, &l);
    // Edges under the boxes.
    for (i, e) in edges.iter().enumerate() {
        let (a, b) = (e.from, e.to);
        let title = format!("{} -> {}", tensors[a].path, tensors[b].path);
        if let Some(&lane) = lanes.get(&i) {
            let (ra, rb) = (l.rank[a], l.rank[b]);
            let past = rank_right[ra..=rb].iter().copied().fold(0.0f64, f64::max);
            let bx = past + 16.0 + lane as f64 * LANE;
            let (sx, sy) = (l.x[a] + l.w[a], l.y[a] + BOX_H / 2.0);
            let (dx, dy) = (l.x[b] + l.w[b], l.y[b] + BOX_H / 2.0);
            let r = 6.0;
            s += &format!(
                "<path class=\"edge skip\" data-from=\"{}\" data-to=\"{}\" d=\"M{} {} H{} Q{} {} {} {} V{} Q{} {} {} {} H{}\" fill=\"none\" stroke=\"#c27014\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\" marker-end=\"url(#skiparrow)\"><title>{} (skip)</title></path>\n",
                escape(&tensors[a].path),
                escape(&tensors[b].path),
                num(sx), num(sy), num(bx - r), num(bx), num(sy), num(bx), num(sy + r),
                num(dy - r), num(bx), num(dy), num(bx - r), num(dy), num(dx),
                escape(&title)
            );
        } else {
            let (sx, sy) = (l.x[a] + l.w[a] / 2.0, l.y[a] + BOX_H);
            let (dx, dy) = (l.x[b] + l.w[b] / 2.0, l.y[b]);
            let my = (sy + dy) / 2.0;
            s += &format!(
                "<path class=\"edge\" data-from=\"{}\" data-to=\"{}\" d=\"M{} {} C{} {} {} {} {} {}\" fill=\"none\" stroke=\"#555555\" stroke-width=\"1.2\" marker-end=\"url(#arrow)\"><title>{}</title></path>\n",
                escape(&tensors[a].path),
                escape(&tensors[b].path),
                num(sx), num(sy), num(sx), num(my), num(dx), num(my), num(dx), num(dy),
                escape(&title)
            );
        }
    }
    for (v, t) in tensors.iter().enumerate() {
        s += &node_box(t, l.x[v], l.y[v], l.w[v]);
    }
    s += "</svg>\n";
    s
}

/// The title and the key: colours by kind, border styles by storage, the
/// skip edge.
fn legend(name: &str) -> String {
    let mut s = format!(
        "<text x=\"{MARGIN}\" y=\"{}\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
        MARGIN + 4.0,
        escape(name)
    );
    let mut x = MARGIN;
    let y = MARGIN + 18.0;
    for k in Kind::ALL {
        let (fill, stroke) = k.colours();
        s += &format!(
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
            num(x),
            num(y),
            num(x + 16.0),
            num(y + 10.0),
            escape(k.name())
        );
        x += 16.0 + k.name().len() as f64 * CHAR_W + 14.0;
    }
    let y = y + 20.0;
    let items = [
        ("none", "stored in the arena"),
        ("5 3", "fused: runs in another step"),
        ("2 2", "folded or not run: never stored"),
    ];
    let mut x = MARGIN;
    for (dash, text) in items {
        s += &format!(
            "<rect x=\"{}\" y=\"{}\" width=\"22\" height=\"12\" fill=\"#ffffff\" stroke=\"#555555\" stroke-dasharray=\"{dash}\"/><text x=\"{}\" y=\"{}\">{text}</text>\n",
            num(x),
            num(y),
            num(x + 26.0),
            num(y + 10.0)
        );
        x += 26.0 + text.len() as f64 * CHAR_W + 14.0;
    }
    s += &format!(
        "<path d=\"M{} {} h22\" stroke=\"#c27014\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/><text x=\"{}\" y=\"{}\">skip edge</text>\n",
        num(x),
        num(y + 6.0),
        num(x + 26.0),
        num(y + 10.0)
    );
    s
}

/// A dashed frame around the boxes of each block instance, labelled with
/// the instance path and the block's name.
fn groups(tensors: &[Tensor], l: &Layout) -> String {
    // Prefix -> (block name, frames nested inside it, bounding box).
    let mut boxes: BTreeMap<&str, (&str, usize, [f64; 4])> = BTreeMap::new();
    for (v, t) in tensors.iter().enumerate() {
        for (depth, (prefix, block)) in t.groups.iter().enumerate() {
            let e = boxes.entry(prefix.as_str()).or_insert((
                block.as_str(),
                0,
                [f64::MAX, f64::MAX, f64::MIN, f64::MIN],
            ));
            e.1 = e.1.max(t.groups.len() - 1 - depth);
            let b = &mut e.2;
            b[0] = b[0].min(l.x[v]);
            b[1] = b[1].min(l.y[v]);
            b[2] = b[2].max(l.x[v] + l.w[v]);
            b[3] = b[3].max(l.y[v] + BOX_H);
        }
    }
    let mut s = String::new();
    // Outer frames first (a prefix sorts before its extensions), each wider
    // than the frames inside it, its label in a band above theirs.
    for (prefix, (block, inner, b)) in boxes {
        let pad = 4.0 + 4.0 * inner.min(3) as f64;
        let top = pad + 12.0 * (1 + inner.min(3)) as f64;
        s += &format!(
            "<g class=\"block\" data-block=\"{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"8\" fill=\"#f7f7f7\" fill-opacity=\"0.6\" stroke=\"#999999\" stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"{}\" fill=\"#777777\">{}</text></g>\n",
            escape(prefix),
            num(b[0] - pad),
            num(b[1] - top),
            num(b[2] - b[0] + 2.0 * pad),
            num(b[3] - b[1] + pad + top),
            num(b[0] - pad + 4.0),
            num(b[1] - top + 11.0),
            escape(&format!("{prefix}: block {block}"))
        );
    }
    s
}

/// One value's box: two or three lines, its full description as the tooltip.
fn node_box(t: &Tensor, x: f64, y: f64, w: f64) -> String {
    let (fill, stroke) = t.kind.colours();
    let dash = match t.storage {
        Storage::Fused(_) => " stroke-dasharray=\"5 3\"",
        Storage::Folded | Storage::NotRun => " stroke-dasharray=\"2 2\"",
        _ => "",
    };
    let opacity = if t.storage.never_stored() {
        " fill-opacity=\"0.45\""
    } else {
        ""
    };
    let lines = t.lines();
    let tip = lines.join("\n");
    let mut s = format!(
        "<g class=\"node\" data-value=\"{}\" data-op=\"{}\" data-stored=\"{}\"><title>{}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{BOX_H}\" rx=\"5\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.3\"{dash}{opacity}/>",
        escape(&t.path),
        escape(&t.op),
        !t.storage.never_stored(),
        escape(&tip),
        num(x),
        num(y),
        num(w),
    );
    for (i, line) in lines.iter().enumerate() {
        let weight = if i == 0 { " font-weight=\"bold\"" } else { "" };
        let fill = if i == 0 { "#222222" } else { "#444444" };
        s += &format!(
            "<text x=\"{}\" y=\"{}\" fill=\"{fill}\"{weight}>{}</text>",
            num(x + 8.0),
            num(y + 14.0 + 14.0 * i as f64),
            escape(&clip(line, MAX_CHARS))
        );
    }
    s += "</g>\n";
    s
}

/// The graph in Graphviz DOT: the same boxes, skip edges dashed, one
/// cluster per innermost block instance.
pub fn graph_dot(c: &Checked, tensors: &[Tensor]) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let edges = edges(c);
    let l = layout(tensors, &edges);
    let mut s = format!(
        "digraph {} {{\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=10];\n",
        q(&c.graph.name.to_string())
    );
    let node = |t: &Tensor| {
        let (fill, stroke) = t.kind.colours();
        let style = match t.storage {
            Storage::Fused(_) => "rounded,filled,dashed",
            Storage::Folded | Storage::NotRun => "rounded,filled,dotted",
            _ => "rounded,filled",
        };
        let label = t.lines().join("\n");
        format!(
            "{} [label={}, fillcolor=\"{fill}\", color=\"{stroke}\", style=\"{style}\"];",
            q(&t.path),
            q(&label)
        )
    };
    // Values outside blocks first, then one cluster per innermost block
    // instance.
    let mut clusters: BTreeMap<String, (String, Vec<usize>)> = BTreeMap::new();
    for (v, t) in tensors.iter().enumerate() {
        match t.groups.last() {
            None => s += &format!("  {}\n", node(t)),
            Some((prefix, block)) => clusters
                .entry(prefix.clone())
                .or_insert_with(|| (block.clone(), Vec::new()))
                .1
                .push(v),
        }
    }
    for (prefix, (block, members)) in &clusters {
        s += &format!(
            "  subgraph {} {{\n    label={};\n    style=dashed;\n    color=\"#999999\";\n",
            q(&format!("cluster_{prefix}")),
            q(&format!("{prefix}: block {block}"))
        );
        for &v in members {
            s += &format!("    {}\n", node(&tensors[v]));
        }
        s += "  }\n";
    }
    for e in &edges {
        let skip = l.rank[e.to] > l.rank[e.from] + 1;
        let attrs = if skip {
            " [style=dashed, color=\"#c27014\"]"
        } else {
            ""
        };
        s += &format!(
            "  {} -> {}{attrs};\n",
            q(&tensors[e.from].path),
            q(&tensors[e.to].path)
        );
    }
    s += "}\n";
    s
}
