//! The pictures the macro draws (`graph_svg`, `arena_svg`, `graph_dot`):
//! well-formed XML, one rectangle per stored tensor at the offsets and steps
//! `summary()` gives, no two rectangles overlapping, one box per value, the
//! skip edges and block frames where the network has them, and the
//! committed pictures in `doc/pictures/` equal to what `examples/plot`
//! writes.

#[path = "../examples/plot/networks.rs"]
#[macro_use]
mod networks;

use networks::{ApesBlockNet, MobilenetV2, SeedUnet};
use roxmltree::{Document, Node};
use skipnet::network;
use std::collections::BTreeMap;

seed_unet! {
    #[quantized]
    /// The seed U-Net in int8 (its arena in bytes).
    SeedUnetInt8([32, 32, 3]) -> output
}

network! {
    /// Blocks, nested: frames in the graph, clusters in DOT.
    block pair(x, filters) {
        a = conv2d(x, filters, 3, padding = same, activation = relu);
        b = conv2d(x, filters, 1, padding = same);
        return add(a, b);
    }
    block twice(x, filters) {
        first = pair(x, filters);
        second = pair(first, filters);
        return concat(first, second);
    }
    pub Blocks(x: [16, 16, 4]) -> out {
        t1 = twice(x, 8);
        out = conv2d(t1, 2, 1);
    }
}

/// What `summary()` says of one stored value: offset, size and steps.
#[derive(Debug, PartialEq)]
struct Row {
    offset: usize,
    size: usize,
    first: usize,
    last: usize,
}

fn number(s: &str) -> usize {
    s.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

/// Every layer's name in `summary()`, and the stored ones' rows.
fn summary_rows(summary: &str) -> (Vec<String>, BTreeMap<String, Row>) {
    let mut names = Vec::new();
    let mut stored = BTreeMap::new();
    let body = summary
        .lines()
        .skip_while(|l| !l.starts_with("---"))
        .skip(1)
        .take_while(|l| !l.starts_with("==="));
    for line in body {
        let name = line.split_whitespace().next().unwrap().to_string();
        names.push(name.clone());
        // The shape is the row's last bracket; params, offset, size, steps follow.
        let rest = &line[line.rfind(']').unwrap() + 1..];
        let cells: Vec<&str> = rest.split_whitespace().collect();
        if cells[1] == "input" || cells[1] == "-" {
            continue;
        }
        let (first, last) = cells[3].split_once("..").unwrap();
        stored.insert(
            name,
            Row {
                offset: number(cells[1]),
                size: number(cells[2]),
                first: number(first),
                last: number(last),
            },
        );
    }
    (names, stored)
}

fn attr(n: Node, name: &str) -> f64 {
    n.attribute(name)
        .unwrap_or_else(|| panic!("no {name} on {n:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} on {n:?} is not a number"))
}

/// Checks the arena picture against `summary()`; returns the number of
/// rectangles drawn for stored tensors.
fn check_arena(name: &str, svg: &str, summary: &str, unit: &str) -> usize {
    let doc = Document::parse(svg).unwrap_or_else(|e| panic!("{name}: arena SVG: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let (x0, step, y0, scale) = (
        attr(root, "data-x0"),
        attr(root, "data-step"),
        attr(root, "data-y0"),
        attr(root, "data-scale"),
    );
    let title = root
        .children()
        .find(|n| n.has_tag_name("title"))
        .and_then(|n| n.text())
        .unwrap();
    assert!(title.contains(unit), "{name}: {title:?} names no {unit}");
    let (_, stored) = summary_rows(summary);
    let rects: Vec<Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("data-value").is_some())
        .collect();
    let mut seen = BTreeMap::new();
    let mut boxes = Vec::new();
    for r in &rects {
        let value = r.attribute("data-value").unwrap();
        let role = r.attribute("data-role").unwrap();
        let (offset, len) = (attr(*r, "data-offset"), attr(*r, "data-len"));
        let (first, last) = (attr(*r, "data-first"), attr(*r, "data-last"));
        let share: Vec<f64> = r
            .attribute("data-share")
            .unwrap()
            .split(' ')
            .map(|s| s.parse().unwrap())
            .collect();
        // Drawn where the plan says (coordinates are rounded to 0.01).
        let (x, y, w, h) = (
            attr(*r, "x"),
            attr(*r, "y"),
            attr(*r, "width"),
            attr(*r, "height"),
        );
        let near = |a: f64, b: f64| (a - b).abs() <= 0.011;
        assert!(near(x, x0 + first * step), "{name}: {value} x");
        assert!(near(x + w, x0 + last * step), "{name}: {value} width");
        assert!(
            near(y, y0 + (offset + len * share[0]) * scale),
            "{name}: {value} y"
        );
        assert!(
            near(y + h, y0 + (offset + len * share[1]) * scale),
            "{name}: {value} height"
        );
        assert!(w > 0.0 && h > 0.0, "{name}: {value} is empty");
        boxes.push((value.to_string(), x, y, x + w, y + h));
        if role == "scratch" {
            assert!(value.starts_with("scratch "), "{name}: {value}");
            continue;
        }
        let row = stored.get(value).unwrap_or_else(|| {
            panic!("{name}: {value} is drawn but summary() stores no such tensor")
        });
        let size = (len * (share[1] - share[0])).round() as usize;
        let drawn = Row {
            offset: offset as usize,
            size,
            first: first as usize,
            last: last as usize,
        };
        assert_eq!(&drawn, row, "{name}: {value} drawn elsewhere than planned");
        assert!(
            seen.insert(value.to_string(), ()).is_none(),
            "{name}: {value} drawn twice"
        );
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        stored.keys().collect::<Vec<_>>(),
        "{name}: one rectangle per stored tensor"
    );
    // No two rectangles overlap (touching edges is sharing in place).
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let dx = a.3.min(b.3) - a.1.max(b.1);
            let dy = a.4.min(b.4) - a.2.max(b.2);
            assert!(
                dx <= 0.02 || dy <= 0.02,
                "{name}: {} and {} overlap by {dx} x {dy}",
                a.0,
                b.0
            );
        }
    }
    // The three totals are named.
    for total in ["ARENA_LEN", "live-set bound", "naive sum"] {
        assert!(
            doc.descendants()
                .any(|n| n.attribute("data-total") == Some(total)),
            "{name}: no {total}"
        );
    }
    seen.len()
}

/// Checks the graph picture: one box per value (the names of
/// `summary()`), one edge per operand; returns (skip edges, block frames).
fn check_graph(name: &str, svg: &str, summary: &str, operands: usize) -> (usize, Vec<String>) {
    let doc = Document::parse(svg).unwrap_or_else(|e| panic!("{name}: graph SVG: {e}"));
    let (names, stored) = summary_rows(summary);
    let boxes: Vec<Node> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("node"))
        .collect();
    let drawn: Vec<&str> = boxes
        .iter()
        .map(|n| n.attribute("data-value").unwrap())
        .collect();
    assert_eq!(drawn, names, "{name}: one box per value, in order");
    for b in &boxes {
        let v = b.attribute("data-value").unwrap();
        // Stored boxes are those with an arena offset (inputs are stored
        // outside it).
        let expect = stored.contains_key(v) || b.attribute("data-op") == Some("input");
        assert_eq!(
            b.attribute("data-stored"),
            Some(if expect { "true" } else { "false" }),
            "{name}: {v} stored"
        );
    }
    let edges: Vec<Node> = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("edge")))
        .collect();
    assert_eq!(edges.len(), operands, "{name}: one edge per operand");
    for e in &edges {
        for end in ["data-from", "data-to"] {
            let v = e.attribute(end).unwrap();
            assert!(names.iter().any(|n| n == v), "{name}: edge to unknown {v}");
        }
    }
    let skips = edges
        .iter()
        .filter(|e| e.attribute("class") == Some("edge skip"))
        .count();
    let blocks = doc
        .descendants()
        .filter_map(|n| n.attribute("data-block"))
        .map(str::to_string)
        .collect();
    (skips, blocks)
}

/// The DOT text: a digraph with one statement per value and per edge.
fn check_dot(name: &str, dot: &str, values: usize, operands: usize) {
    assert!(dot.starts_with("digraph "), "{name}");
    assert!(dot.trim_end().ends_with('}'), "{name}");
    assert_eq!(dot.matches(" -> ").count(), operands, "{name}: edges");
    assert_eq!(dot.matches("[label=").count(), values, "{name}: nodes");
}

#[test]
fn seed_unet_pictures_match_its_plan() {
    let stored = check_arena(
        "SeedUnet",
        SeedUnet::arena_svg(),
        SeedUnet::summary(),
        "f32",
    );
    assert_eq!(stored, 12, "conv1-4, up1-4, merge1-3 and the output");
    // 17 values; 19 operands (three concats of two, the other 13 nodes one).
    let (skips, blocks) = check_graph("SeedUnet", SeedUnet::graph_svg(), SeedUnet::summary(), 19);
    assert_eq!(skips, 3, "conv1, conv2 and conv3 skip to their concats");
    assert!(blocks.is_empty());
    check_dot("SeedUnet", SeedUnet::graph_dot(), 17, 19);
    assert_eq!(
        SeedUnet::graph_dot().matches("style=dashed, color").count(),
        3
    );
}

#[test]
fn int8_arena_is_in_bytes() {
    let s = SeedUnetInt8::summary();
    check_arena("SeedUnetInt8", SeedUnetInt8::arena_svg(), s, "bytes");
    check_graph("SeedUnetInt8", SeedUnetInt8::graph_svg(), s, 19);
}

#[test]
fn apes_block_net_pictures_match_its_plan() {
    let s = ApesBlockNet::summary();
    check_arena("ApesBlockNet", ApesBlockNet::arena_svg(), s, "f32");
    let (skips, _) = check_graph("ApesBlockNet", ApesBlockNet::graph_svg(), s, 21);
    assert_eq!(skips, 1, "pool2 skips to the third add");
}

#[test]
fn mobilenet_v2_pictures_match_its_plan() {
    let s = MobilenetV2::summary();
    check_arena("MobilenetV2", MobilenetV2::arena_svg(), s, "f32");
    let values = s
        .lines()
        .skip_while(|l| !l.starts_with("---"))
        .skip(1)
        .take_while(|l| !l.starts_with("==="))
        .count();
    // Each of the 10 adds reads two operands, every other node one.
    let operands = values - 1 + 10;
    let (skips, _) = check_graph("MobilenetV2", MobilenetV2::graph_svg(), s, operands);
    assert_eq!(skips, 10, "one residual per add");
    check_dot("MobilenetV2", MobilenetV2::graph_dot(), values, operands);
}

#[test]
fn blocks_are_framed_and_clustered() {
    let s = Blocks::summary();
    check_arena("Blocks", Blocks::arena_svg(), s, "f32");
    let (_, blocks) = check_graph("Blocks", Blocks::graph_svg(), s, 11);
    assert_eq!(blocks, ["t1", "t1.first", "t1.second"]);
    let dot = Blocks::graph_dot();
    assert!(dot.contains("subgraph \"cluster_t1.first\""), "{dot}");
    assert!(dot.contains("label=\"t1.second: block pair\""), "{dot}");
}

/// The README's pictures are what `cargo run --example plot -- doc/pictures`
/// writes now.
#[test]
fn committed_pictures_are_current() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/doc/pictures");
    for p in networks::pictures() {
        let path = format!("{dir}/{}", p.file);
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{path}: {e} (run `cargo run --example plot -- doc/pictures`)")
        });
        assert!(
            committed == p.svg,
            "{path} is stale: run `cargo run --example plot -- doc/pictures`"
        );
    }
}
