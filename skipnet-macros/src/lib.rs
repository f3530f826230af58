//! The `network!` procedural macro of skipnet.
//!
//! The crate reads as a pipeline of eight stages, one module each, none
//! importing a later one (`compile_network` chains them):
//!
//! 1 `parse` (tokens to syntax) -> 2 `graph` (names, blocks, op arguments) ->
//! 3 `shape` (every tensor's shape, every mismatch) -> 4 `fuse` (what is
//! computed in another op's epilogue, in place, or never stored) -> 5 `plan`
//! (arena offsets); `checked::Checked` carries graph, shapes, fusions and plan
//! on -> 6 `weights` (every weight tensor, batch norm folds) -> 7 `bake`
//! (weights read at compile time, with `#[weights = ...]`) -> 8 `codegen` (the
//! struct, `forward`; `summary` and `profile` are its parts). Every limit is in
//! `limits`.
//!
//! Ops live in `ops/`, one file each (signature, shape rule, weights, emitted
//! code). Errors are `syn::Error`s with spans, combined so that one compile
//! reports all of them; the macro never panics on any input.

use proc_macro::TokenStream;

mod bake;
mod checked;
mod codegen;
mod codegen_int8;
mod diag;
mod fuse;
#[cfg(test)]
mod fuzz;
mod graph;
mod limits;
mod ops;
mod parse;
mod picture;
mod plan;
#[cfg(feature = "profile")]
mod profile;
mod shape;
mod summary;
mod weights;

/// Declares a network; see the `skipnet` crate and `DSL.md` for the language.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    expand(input.into())
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

/// Replaces each op that has a faster equivalent on its operand shapes
/// (`Op::lowered`): after shape inference, so errors still name the op the
/// user wrote, and before fusion, which then treats it as what runs.
fn lower(g: &mut graph::Graph, shapes: &[Vec<usize>], options: &ops::NetOptions) {
    for v in &mut g.values {
        if let graph::ValueKind::Node(n) = &mut v.kind {
            let ins: Vec<&[usize]> = n
                .operands
                .iter()
                .map(|o| shapes[o.value].as_slice())
                .collect();
            if let Some(mut op) = n.op.lowered(&ins) {
                op.configure(options);
                n.op = op;
            }
        }
    }
}

/// The whole front end and back end as a plain function, for tests and fuzzing.
fn expand(input: proc_macro2::TokenStream) -> syn::Result<proc_macro2::TokenStream> {
    parse::check_limits(&input)?;
    let src: parse::Source = syn::parse2(input)?;
    let mut errors = diag::Errors::default();
    let mut out = proc_macro2::TokenStream::new();
    for net in &src.networks {
        match compile_network(&src.blocks, net) {
            Ok(ts) => out.extend(ts),
            Err(e) => errors.push(e),
        }
    }
    errors.finish(out)
}

fn compile_network(
    blocks: &[parse::BlockDef],
    net: &parse::NetworkDef,
) -> syn::Result<proc_macro2::TokenStream> {
    let mut errors = diag::Errors::default();
    for a in &net.attrs {
        if ["doc", "weights", "winograd", "quantized"]
            .iter()
            .any(|n| a.path().is_ident(n))
        {
            continue;
        }
        errors.push(diag::error(
            diag::Loc::at(a.pound_token.span),
            "only doc comments, `#[weights = \"file.safetensors\"]`, `#[winograd = false]` and `#[quantized]` are accepted on a network declaration",
        ));
    }
    let options = match ops::NetOptions::from_attrs(&net.attrs) {
        Ok(o) => o,
        Err(e) => {
            errors.push(e);
            ops::NetOptions::default()
        }
    };
    let baked = match bake::attr(&net.attrs) {
        Ok(b) => b,
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let (mut g, graph_errors) = graph::build(blocks, net);
    for v in &mut g.values {
        if let graph::ValueKind::Node(n) = &mut v.kind {
            n.op.configure(&options);
        }
    }
    if let Err(e) = graph_errors.finish(()) {
        errors.push(e);
    }
    if options.quantized {
        if let Err(e) = codegen_int8::check_supported(&g).finish(()) {
            errors.push(e);
        }
    }
    let shapes = match shape::infer(&g) {
        Ok(s) => s,
        Err(e) => {
            errors.push(e);
            return errors.finish(proc_macro2::TokenStream::new());
        }
    };
    errors.finish(())?;
    if !options.quantized {
        lower(&mut g, &shapes, &options);
    }

    let checked = checked::Checked::new(g, shapes, &options).map_err(|e| {
        diag::error(
            net.name.span(),
            format!("internal error in the memory planner, please report it: {e}"),
        )
    })?;
    let weights = weights::weights(&checked);
    if options.quantized {
        return codegen_int8::generate(&checked, &weights, baked.as_ref());
    }
    let baked = match &baked {
        Some(attr) => Some((attr, bake::load(attr, &checked, &weights)?)),
        None => None,
    };
    Ok(codegen::generate(&checked, &weights, baked))
}

#[cfg(test)]
mod tests {
    use super::expand;
    use quote::quote;

    /// The concat-heavy `keras.applications` networks (DenseNet121 and
    /// NASNetMobile at 64x64x3, as `tools/keras_to_skipnet.py` prints them,
    /// `tests/fixtures/plans/`): each plan within 2% of its live-set bound.
    /// Only the plan is computed (no code is generated or compiled). Run with
    /// `--nocapture` for the figures.
    #[test]
    fn zoo_plans_near_their_bound() {
        for file in ["densenet121.rs", "nasnet_mobile.rs"] {
            let path = format!(
                "{}/../tests/fixtures/plans/{file}",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed = syn::parse_file(&text).unwrap();
            let syn::Item::Macro(m) = &parsed.items[0] else {
                panic!("{file}: not a network! declaration")
            };
            let src: crate::parse::Source = syn::parse2(m.mac.tokens.clone()).unwrap();
            let net = &src.networks[0];
            let (g, errors) = crate::graph::build(&src.blocks, net);
            errors.finish(()).unwrap();
            let shapes = crate::shape::infer(&g).map_err(|e| e.to_string()).unwrap();
            let t = std::time::Instant::now();
            let checked = crate::checked::Checked::new(g, shapes, &Default::default()).unwrap();
            let p = &checked.plan;
            let ratio = p.arena_len as f64 / p.live_bound as f64;
            println!(
                "{file}: ARENA_LEN {} live-set bound {} ({ratio:.4}x), naive {}, planned in {:.2?}",
                p.arena_len,
                p.live_bound,
                p.naive_sum,
                t.elapsed()
            );
            assert!(ratio <= 1.02, "{file}: plan {ratio:.4}x its live-set bound");
        }
    }

    /// Issue 4's table for every fixture network of tests/common/mod.rs:
    /// naive sum, the best plan when every tensor is materialized (no
    /// fusion), skipnet's `ARENA_LEN` and the live-set bound. Run with
    /// `cargo test -p skipnet-macros arena_table -- --nocapture`.
    #[test]
    fn arena_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/common/mod.rs");
        let text = std::fs::read_to_string(path).unwrap();
        let file = syn::parse_file(&text).unwrap();
        println!(
            "| network | naive sum | every tensor materialized | ARENA_LEN | live-set bound | ARENA_LEN, `#[winograd = false]` |"
        );
        println!("|---|---|---|---|---|---|");
        let mut seen = 0;
        let anchors_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/common/anchors.rs");
        let anchors = std::fs::read_to_string(anchors_path).unwrap();
        for item in file.items {
            let syn::Item::Macro(m) = item else { continue };
            let Some(mac) = m.mac.path.get_ident().map(|i| i.to_string()) else {
                continue;
            };
            let tokens = match mac.as_str() {
                "network" => m.mac.tokens,
                "seed_unet" | "apes_block_net" => anchor_network(&anchors, &mac, m.mac.tokens),
                // Defined in tests/common/mod.rs itself (tests/baked.rs bakes it).
                "convnext_block" => anchor_network(&text, &mac, m.mac.tokens),
                _ => continue,
            };
            let src: crate::parse::Source = syn::parse2(tokens).unwrap();
            for net in &src.networks {
                let (mut g, errors) = crate::graph::build(&src.blocks, net);
                errors.finish(()).unwrap();
                let shapes = crate::shape::infer(&g).map_err(|e| e.to_string()).unwrap();
                let options = crate::ops::NetOptions::from_attrs(&net.attrs).unwrap();
                let mut plans = Vec::new();
                for winograd in [options.winograd, false] {
                    for v in &mut g.values {
                        if let crate::graph::ValueKind::Node(n) = &mut v.kind {
                            n.op.configure(&crate::ops::NetOptions {
                                winograd,
                                ..options
                            });
                        }
                    }
                    let fused = crate::checked::plan_memory(
                        &g,
                        &shapes,
                        &crate::checked::fusions(&g, &shapes, false),
                        crate::plan::F32_ALIGN,
                    );
                    fused.check().unwrap();
                    // The README's claim: every fixture's plan is at its
                    // live-set bound (no plan can be smaller), Winograd's
                    // scratch included.
                    assert_eq!(
                        fused.arena_len, fused.live_bound,
                        "{} (winograd {winograd}): the plan is above its live-set bound",
                        g.name
                    );
                    plans.push(fused);
                }
                let bare = crate::checked::plan_memory(
                    &g,
                    &shapes,
                    &crate::fuse::Fusions::default(),
                    crate::plan::F32_ALIGN,
                );
                bare.check().unwrap();
                let (fused, direct) = (&plans[0], &plans[1]);
                println!(
                    "| {} | {} | {} | {} | {} | {} |",
                    g.name,
                    bare.naive_sum,
                    bare.arena_len,
                    fused.arena_len,
                    fused.live_bound,
                    direct.arena_len
                );
                assert!(direct.arena_len <= bare.arena_len, "{}", g.name);
                seen += 1;
            }
        }
        let declared: usize = [
            "network! {",
            "seed_unet! {",
            "apes_block_net! {",
            "convnext_block! {",
        ]
        .iter()
        .map(|m| text.matches(m).count())
        .sum::<usize>()
            // The body of `macro_rules! convnext_block` declares nothing.
            - text.matches("::skipnet::network! {").count();
        assert_eq!(seen, declared, "networks planned in {path}");
    }

    /// The DSL an invocation of an anchor macro of tests/common/anchors.rs
    /// (`seed_unet! { Name([h, w, 3]) -> out }`, `apes_block_net! { Name }`)
    /// expands to: the macro's `network!` body with its metavariables
    /// substituted (attributes dropped: tests/common gives none that changes
    /// a plan).
    fn anchor_network(
        anchors: &str,
        mac: &str,
        args: proc_macro2::TokenStream,
    ) -> proc_macro2::TokenStream {
        use proc_macro2::TokenTree;
        let start = anchors.find(&format!("macro_rules! {mac} {{")).unwrap();
        let open = "::skipnet::network! {";
        let body_start = start + anchors[start..].find(open).unwrap() + open.len();
        let body_end = body_start + anchors[body_start..].find("\n        }\n    };").unwrap();
        let mut body = anchors[body_start..body_end].replace("$(#[$($attr)*])*", "");
        let outer = |input: syn::parse::ParseStream| {
            input.call(syn::Attribute::parse_outer)?;
            input.parse::<proc_macro2::TokenStream>()
        };
        let rest = syn::parse::Parser::parse2(outer, args).unwrap();
        let mut trees = rest.into_iter();
        let Some(TokenTree::Ident(name)) = trees.next() else {
            panic!("{mac}!: no network name")
        };
        body = body.replace("$name", &name.to_string());
        if let Some(TokenTree::Group(shape)) = trees.next() {
            let dims: Vec<String> = shape
                .stream()
                .into_iter()
                .flat_map(|t| match t {
                    TokenTree::Group(g) => g.stream().into_iter().collect::<Vec<_>>(),
                    t => vec![t],
                })
                .filter_map(|t| match t {
                    TokenTree::Literal(l) => Some(l.to_string()),
                    _ => None,
                })
                .collect();
            body = body.replace("$h", &dims[0]).replace("$w", &dims[1]);
            let out = trees.last().map(|t| t.to_string()).unwrap();
            body = body.replace("$out", &out);
        }
        body.parse().unwrap()
    }

    #[test]
    fn expands_the_dsl_example() {
        let ts = expand(quote! {
            block apes(x, filters) {
                a = conv2d(x, filters, 3, padding = same, activation = relu);
                b = conv2d(x, filters, 1, padding = same);
                return add(a, b);
            }
            pub ApesNet(x: [64, 64, 16]) -> out {
                b1  = apes(x, 16);
                p1  = max_pool2d(b1, 2);
                b2  = apes(p1, 32);
                out = conv2d(b2, 4, 1);
            }
        })
        .unwrap()
        .to_string();
        assert!(ts.contains("pub struct ApesNet"), "{ts}");
        assert!(ts.contains("\"b1.a.kernel\""), "{ts}");
        assert!(ts.contains("\"b2.b.bias\""), "{ts}");
        assert!(ts.contains("ApesNetWorkspace"), "{ts}");
    }

    #[test]
    fn errors_from_all_stages_are_reported_together() {
        let e = expand(quote! {
            pub Net(x: [8, 8, 3]) -> out {
                a = conv2d(x, 4, 3, padding = same);
                b = conv2d(x, 5, 3, padding = same);
                s = add(a, b);
                out = relu(missing);
            }
        })
        .unwrap_err();
        let m: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].contains("cannot find tensor `missing`"), "{m:?}");
        assert!(m[1].contains("`add` needs identical shapes"), "{m:?}");
    }
}
