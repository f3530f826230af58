//! Feature `profile`: per-step timing inside the generated `forward`.
//!
//! Each step becomes `let t = Instant::now(); { step } TIMINGS.record(i, t);`,
//! recorded in a `static` of atomics sized by the number of steps (no
//! allocation), plus one slot for the whole `forward`. The network gains
//! `profile()`, `profile_forward()` and `profile_reset()`. Without the feature
//! this module is not compiled and the generated code is unchanged.

use crate::checked::Checked;
use crate::graph::{Graph, ValueKind};
use crate::weights::Weight;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

/// Multiply-accumulates of one call of node `id`: every kernel weight
/// (`*kernel`, rank 2 or more) times the spatial positions it is applied at
/// (the output's, the input's for a transposed conv).
fn macs(g: &Graph, shapes: &[Vec<usize>], weights: &[(usize, Vec<Weight>)], id: usize) -> u64 {
    let ValueKind::Node(n) = &g.values[id].kind else {
        return 0;
    };
    let spatial =
        |s: &[usize]| -> u64 { s[..s.len().saturating_sub(1)].iter().product::<usize>() as u64 };
    let at = if n.def.name == "conv2d_transpose" {
        n.operands
            .first()
            .map(|o| spatial(&shapes[o.value]))
            .unwrap_or(0)
    } else {
        spatial(&shapes[id])
    };
    weights
        .iter()
        .filter(|(w, _)| *w == id)
        .flat_map(|(_, ws)| ws)
        .filter(|w| w.var.ends_with("kernel") && w.shape.len() >= 2)
        .map(|w| w.shape.iter().product::<usize>() as u64 * at)
        .sum()
}

/// Wraps each step (`steps[k]` stores value `stepped[k].0`, run by node
/// `stepped[k].1`) in a timer; returns the new steps and the items to emit
/// next to the network (the `static`s and the `profile*` functions).
pub fn instrument(
    c: &Checked,
    weights: &[(usize, Vec<Weight>)],
    rt: &TokenStream,
    name: &Ident,
    steps: Vec<TokenStream>,
    stepped: &[(usize, usize)],
) -> (Vec<TokenStream>, TokenStream) {
    let n = steps.len();
    let pmod = format_ident!("__skipnet_profile_{}", name);
    let t = Ident::new("__skipnet_t", Span::mixed_site());
    let t0 = Ident::new("__skipnet_t0", Span::mixed_site());
    let infos = stepped
        .iter()
        .map(|&(v, runner)| step_info(c, weights, rt, v, runner));
    let last = n.saturating_sub(1);
    let steps = steps
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let start = if i == 0 {
                quote!(let #t0 = #rt::profile::Instant::now();)
            } else {
                TokenStream::new()
            };
            let end = if i == last {
                quote!(#pmod::TIMINGS.record(#n, #t0);)
            } else {
                TokenStream::new()
            };
            quote! {
                #start
                let #t = #rt::profile::Instant::now();
                #s
                #pmod::TIMINGS.record(#i, #t);
                #end
            }
        })
        .collect();
    let items = profile_items(rt, name, &pmod, n, infos);
    (steps, items)
}

/// The `static`s of the step table and timings, and the `profile*`
/// functions that read them.
fn profile_items(
    rt: &TokenStream,
    name: &Ident,
    pmod: &Ident,
    n: usize,
    infos: impl Iterator<Item = TokenStream>,
) -> TokenStream {
    let slots = n + 1;
    let doc = format!("Per-step timings of [`{name}`]'s `forward` (feature `profile`).");
    quote! {
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #pmod {
            /// Name, op and MACs of every step.
            pub static STEPS: [#rt::profile::Step; #n] = [#(#infos),*];
            /// One slot per step, then the whole `forward`.
            pub static TIMINGS: #rt::profile::Timings<#slots> = #rt::profile::Timings::new();
        }

        impl #name {
            /// Time and calls of every step of `forward` since the last
            /// [`Self::profile_reset`], in execution order (feature `profile`).
            pub fn profile() -> impl ::core::iter::Iterator<Item = #rt::profile::StepTime> {
                #pmod::STEPS.iter().enumerate().map(|(i, s)| {
                    let (total_ns, calls) = #pmod::TIMINGS.get(i);
                    let min_ns = #pmod::TIMINGS.min(i);
                    #rt::profile::StepTime { name: s.name, op: s.op, macs: s.macs, total_ns, calls, min_ns }
                })
            }

            /// Time and calls of the whole `forward` (its steps plus what runs
            /// between them), feature `profile`.
            pub fn profile_forward() -> #rt::profile::StepTime {
                let (total_ns, calls) = #pmod::TIMINGS.get(#n);
                let min_ns = #pmod::TIMINGS.min(#n);
                let macs = #pmod::STEPS.iter().map(|s| s.macs).sum();
                #rt::profile::StepTime { name: "forward", op: "forward", macs, total_ns, calls, min_ns }
            }

            /// Zeroes the timings of [`Self::profile`] and [`Self::profile_forward`].
            pub fn profile_reset() {
                #pmod::TIMINGS.reset();
            }
        }
    }
}

/// Step `v`'s entry of the step table: the running node's path, its op
/// (with what it fuses) and multiply-adds.
fn step_info(
    c: &Checked,
    weights: &[(usize, Vec<Weight>)],
    rt: &TokenStream,
    v: usize,
    runner: usize,
) -> TokenStream {
    let (g, shapes, fusions) = (&c.graph, &c.shapes, &c.fusions);
    let path = g.values[runner].path.as_str();
    let mut op = match &g.values[runner].kind {
        ValueKind::Node(node) => node.def.name.to_string(),
        ValueKind::Input(_) => "input".to_string(),
    };
    if let Some(s) = fusions.sum(v) {
        if s.bn.is_some() {
            op += "+batch_norm";
        }
        if s.add.is_some() {
            op += "+add";
        }
        // An activation the conv's epilogue applies alone (fuse rule 6).
        if let (None, None, Some((a, _))) = (s.bn, s.add, s.post) {
            if let ValueKind::Node(n) = &g.values[a].kind {
                op += "+";
                op += n.def.name;
            }
        }
    }
    let m = macs(g, shapes, weights, runner)
        + fusions
            .sum(v)
            .and_then(|s| s.bn)
            .map_or(0, |bn| macs(g, shapes, weights, bn));
    quote!(#rt::profile::Step { name: #path, op: #op, macs: #m })
}
