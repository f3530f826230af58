//! Stage 8: Rust code from the checked network (graph and memory plan): the network
//! struct (one fixed-size `Param` per weight tensor), the workspace type, the
//! shape constants, `from_safetensors`, `forward`, `summary` and `forward_array`.

use crate::bake::WeightsAttr;
use crate::checked::Checked;
use crate::diag::shape_str;
use crate::fuse::Slot;
use crate::graph::{Graph, ValueKind};
use crate::ops::EmitCtx;
use crate::weights::{geom_mod, geom_path, runtime_path, BnFold, Fold, Weight};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// The network's code; `baked`: the `#[weights]` file and its values (in
/// `weights` order), when the weights are baked in.
pub fn generate(
    c: &Checked,
    weights: &[(usize, Vec<Weight>)],
    baked: Option<(&WeightsAttr, Vec<Vec<f32>>)>,
) -> TokenStream {
    let g = &c.graph;
    let rt = runtime_path();
    let name = &g.name;
    let geom_mod = geom_mod(name);
    let geoms = geometry_consts(c, &rt);
    let all_weights: Vec<&Weight> = weights.iter().flat_map(|(_, w)| w).collect();
    let baked = match baked {
        Some((attr, values)) => bake_tokens(name, &rt, &geom_mod, &all_weights, attr, &values),
        None => TokenStream::new(),
    };
    let fields = weight_fields(&rt, &all_weights);
    let (steps, stepped) = forward_steps(c, weights, &rt, &geom_mod);
    // Feature `profile`: a timer around each step (nothing changes without it).
    #[cfg(feature = "profile")]
    let (steps, profile_items) = crate::profile::instrument(c, weights, &rt, name, steps, &stepped);
    #[cfg(not(feature = "profile"))]
    let (profile_items, _) = (TokenStream::new(), stepped);
    let io = Io::new(c);
    // Hygienic: a user input called `ws` cannot clash with the workspace argument.
    let ws = Ident::new("ws", proc_macro2::Span::mixed_site());
    let ws_name = format_ident!("{}Workspace", name);
    let items = impl_items(c, &rt, weights, &io, &steps, &ws, &ws_name);
    let forward_array = forward_array(g, &io.in_shapes, &io.out_shapes, &ws_name, &ws);
    // Bindings nobody reads: an unused `let` with the user's span makes rustc
    // emit its own `unused variable` warning at the binding.
    let unused = g.unused.iter().map(|id| {
        let id = Ident::new(&id.to_string(), id.span());
        quote!(let #id = ();)
    });
    let (vis, attrs, arena_len) = (&g.vis, &g.attrs, c.plan.arena_len);
    let (picture_items, picture_doc) = pictures(c, false);
    let doc_ws =
        format!("The workspace of [`{name}`]: its statically planned arena of {arena_len} f32.");
    quote! {
        #(#attrs)*
        #picture_doc
        #vis struct #name {
            #(#fields)*
        }

        #baked

        /// Per-layer geometry constants of the network.
        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #geom_mod {
            #(#geoms)*
        }

        #[doc = #doc_ws]
        #vis type #ws_name = #rt::Workspace<#arena_len, #name>;

        impl #name {
            #items
            #picture_items
        }

        #forward_array

        #profile_items

        const _: () = {
            #(#unused)*
        };
    }
}

/// The shapes of a network's inputs and outputs, and the items built from
/// them (shared by the f32 and the int8 code: `elem` is the element type).
pub(crate) struct Io<'c> {
    in_shapes: Vec<&'c Vec<usize>>,
    out_shapes: Vec<&'c Vec<usize>>,
}

impl<'c> Io<'c> {
    pub(crate) fn new(c: &'c Checked) -> Io<'c> {
        let g = &c.graph;
        Io {
            in_shapes: (0..g.inputs.len()).map(|i| &c.shapes[i]).collect(),
            out_shapes: g.outputs.iter().map(|(_, v)| &c.shapes[*v]).collect(),
        }
    }

    /// The type `forward` returns: one array reference per output, borrowed
    /// for `life`.
    pub(crate) fn out_ty(&self, life: TokenStream, elem: &TokenStream) -> TokenStream {
        let tys: Vec<TokenStream> = self
            .out_shapes
            .iter()
            .map(|s| {
                let len: usize = s.iter().product();
                quote!(&#life [#elem; #len])
            })
            .collect();
        if tys.len() == 1 {
            tys[0].clone()
        } else {
            quote!((#(#tys),*))
        }
    }

    /// `forward`'s input parameters: `name: &[elem; len]` each.
    pub(crate) fn in_args(&self, g: &Graph, elem: &TokenStream) -> Vec<TokenStream> {
        g.inputs
            .iter()
            .zip(&self.in_shapes)
            .map(|(i, s)| {
                let n = &i.name;
                let len: usize = s.iter().product();
                quote!(#n: &[#elem; #len])
            })
            .collect()
    }

    /// `INPUT_SHAPE`, `OUTPUT_SHAPE`, `INPUT_SHAPES` and `OUTPUT_SHAPES`.
    pub(crate) fn shape_consts(&self) -> TokenStream {
        let shape_const = |s: &Vec<usize>| {
            let r = s.len();
            quote!([usize; #r] = [#(#s),*])
        };
        let input_shape = shape_const(self.in_shapes[0]);
        let output_shape = shape_const(self.out_shapes[0]);
        let input_shapes = self.in_shapes.iter().map(|s| quote!(&[#(#s),*]));
        let output_shapes = self.out_shapes.iter().map(|s| quote!(&[#(#s),*]));
        let (n_in, n_out) = (self.in_shapes.len(), self.out_shapes.len());
        quote! {
            /// Shape of the (first) input, channels-last.
            pub const INPUT_SHAPE: #input_shape;
            /// Shape of the (first) output, channels-last.
            pub const OUTPUT_SHAPE: #output_shape;
            /// Shapes of every input, in declaration order.
            pub const INPUT_SHAPES: [&'static [usize]; #n_in] = [#(#input_shapes),*];
            /// Shapes of every output, in declaration order.
            pub const OUTPUT_SHAPES: [&'static [usize]; #n_out] = [#(#output_shapes),*];
        }
    }
}

/// `graph_svg`, `arena_svg` and `graph_dot` (items of `impl Name`), and the
/// struct's documentation that shows the arena picture (shared by the f32
/// and the int8 code; `quantized`: sizes in bytes).
pub(crate) fn pictures(c: &Checked, quantized: bool) -> (TokenStream, TokenStream) {
    let tensors = crate::picture::tensors(c);
    let graph = crate::picture::graph_svg(c, &tensors);
    let arena = crate::picture::arena_svg(c, &tensors, quantized);
    let dot = crate::picture::graph_dot(c, &tensors);
    // rustdoc shows the plan: the SVG as a data URI (an inline <svg> would
    // end at its first blank line as markdown reads HTML blocks).
    let doc = format!(
        "\n\n<details open><summary>Arena plan ({} {}; <code>arena_svg()</code>)</summary>\n\n<img alt=\"arena plan\" src=\"data:image/svg+xml;base64,{}\"/>\n\n</details>",
        c.plan.arena_len,
        if quantized { "bytes" } else { "f32" },
        crate::picture::base64(arena.as_bytes())
    );
    let items = quote! {
        /// The network as an SVG picture, drawn at compile time: one box per
        /// binding (op, config, output shape, where it is stored), skip edges
        /// dashed, blocks framed, fused and never-stored values marked.
        pub fn graph_svg() -> &'static str {
            #graph
        }

        /// The arena plan as an SVG picture, drawn at compile time: x = the
        /// schedule step, y = the arena offset, one rectangle per stored
        /// tensor; `ARENA_LEN`, the live-set bound and the naive sum as lines.
        pub fn arena_svg() -> &'static str {
            #arena
        }

        /// The network in Graphviz DOT (`dot -Tsvg`), as `graph_svg` draws it.
        pub fn graph_dot() -> &'static str {
            #dot
        }
    };
    (items, quote!(#[doc = #doc]))
}

/// The items of `impl Name`: shape and size constants, `from_safetensors`,
/// `workspace`, `forward` (its `steps`) and `summary`.
fn impl_items(
    c: &Checked,
    rt: &TokenStream,
    weights: &[(usize, Vec<Weight>)],
    io: &Io,
    steps: &[TokenStream],
    ws: &Ident,
    ws_name: &Ident,
) -> TokenStream {
    let g = &c.graph;
    let name = &g.name;
    let arena_len = c.plan.arena_len;
    let shape_consts = io.shape_consts();
    let n_out = g.outputs.len();
    let in_args = io.in_args(g, &quote!(f32));
    let forward_ret = io.out_ty(quote!('w), &quote!(f32));
    let ret = forward_return(c);
    let all_weights: Vec<&Weight> = weights.iter().flat_map(|(_, w)| w).collect();
    let loads = load_statements(rt, &all_weights);
    let field_names = all_weights.iter().map(|w| &w.field);
    let summary = crate::summary::summary(c, weights, false);
    let total_params: usize = all_weights.iter().map(|w| w.len).sum();
    let (naive, bound) = (c.plan.naive_sum, c.plan.live_bound);
    let doc_forward = format!(
        "Runs the network. Never allocates; the result{} borrow{} the workspace.",
        if n_out > 1 { "s" } else { "" },
        if n_out > 1 { "" } else { "s" }
    );
    quote! {
        #shape_consts
        /// f32 elements of the workspace arena (reused across layers).
        pub const ARENA_LEN: usize = #arena_len;
        /// f32 elements all intermediate tensors would take without reuse.
        pub const NAIVE_ARENA_LEN: usize = #naive;
        /// Largest total of tensors live at one step: no plan of these tensors is smaller.
        pub const LIVE_SET_BOUND: usize = #bound;
        /// Number of f32 weights.
        pub const PARAMS: usize = #total_params;

        ::skipnet::__if_std! {
            /// Loads the weights from the bytes of a safetensors file. Tensor names are
            /// `<binding path>.<variable>` in Keras layouts; a missing, extra, mis-shaped
            /// or non-f32 tensor is an `Err` naming it.
            pub fn from_safetensors(bytes: &[u8]) -> ::core::result::Result<Self, ::skipnet::Error> {
                let mut __file = #rt::WeightFile::parse(bytes)?;
                #(#loads)*
                __file.finish()?;
                ::core::result::Result::Ok(#name { #(#field_names),* })
            }

            /// A zeroed workspace on the heap (allocated in place, never on the stack).
            pub fn workspace() -> #rt::Box<#ws_name> {
                #ws_name::boxed()
            }
        }

        #[doc = #doc_forward]
        // Inputs carry the user's (Keras's) names, e.g. `Image`.
        #[allow(clippy::needless_lifetimes, non_snake_case)]
        pub fn forward<'w>(&self, #ws: &'w mut #ws_name, #(#in_args),*) -> #forward_ret {
            let (__arena, __exec): (&'w mut #rt::Arena<#arena_len>, &'w mut #rt::Exec) = #ws.parts_mut();
            #(#steps)*
            let __arena: &'w #rt::Arena<#arena_len> = __arena;
            #ret
        }

        /// A Keras-like table of the layers: op, output shape, parameters and
        /// where each tensor lives in the arena, then the arena totals.
        pub fn summary() -> &'static str {
            #summary
        }
    }
}

/// One `pub const N<id>` per node with a geometry (its op's runtime
/// geometry value, on the operands it really reads).
pub(crate) fn geometry_consts(c: &Checked, rt: &TokenStream) -> Vec<TokenStream> {
    c.graph
        .values
        .iter()
        .enumerate()
        .filter_map(|(id, v)| {
            let ValueKind::Node(n) = &v.kind else {
                return None;
            };
            let (ins, up) = c.fusions.stored_operands(n, &c.shapes);
            let (ty, val) = n.op.geometry(rt, &ins, &c.shapes[id], up)?;
            let c = format_ident!("N{}", id);
            let doc = format!("`{}`", v.path);
            Some(quote!(#[doc = #doc] pub const #c: #ty = #val;))
        })
        .collect()
}

/// The struct's fields: one `Param` of the stored length per weight.
fn weight_fields(rt: &TokenStream, all_weights: &[&Weight]) -> Vec<TokenStream> {
    all_weights
        .iter()
        .map(|w| {
            let f = &w.field;
            let len = match &w.packing {
                Some(p) => {
                    let l = &p.len;
                    quote!({ #l })
                }
                None => {
                    let l = w.len;
                    quote!(#l)
                }
            };
            let doc = format!("`{}`, shape {}", w.name, shape_str(&w.shape));
            quote!(#[doc = #doc] #f: #rt::Param<#len>,)
        })
        .collect()
}

/// `from_safetensors`'s `let`s: every file tensor in order, then the folded
/// kernels (which need their batch norm's weights) and the synthetic folded
/// biases.
fn load_statements(rt: &TokenStream, all_weights: &[&Weight]) -> Vec<TokenStream> {
    let late = |w: &&&Weight| matches!(w.fold, Fold::Kernel(_) | Fold::Bias(..));
    all_weights
        .iter()
        .filter(|w| !late(w))
        .chain(all_weights.iter().filter(late))
        .map(|w| {
            let f = &w.field;
            let e = load_expr(rt, w);
            quote!(let #f = #e;)
        })
        .collect()
}

/// `let __scale`: the per-filter factor a fold multiplies the kernel by
/// (a layer scale's `gamma`, a batch norm's `gamma / sqrt(variance + eps)`).
fn fold_scale_tokens(rt: &TokenStream, bn: &BnFold, filters: usize) -> TokenStream {
    let g = &bn.gamma.0;
    match &bn.norm {
        Some(n) => {
            let (v, eps) = (&n.variance.0, n.epsilon);
            quote! {
                let mut __scale = ::std::vec![0.0f32; #filters];
                #rt::ops::batch_norm::fold_scale(&#g[..], &#v[..], #eps, &mut __scale);
            }
        }
        None => quote!(let __scale = #g[..].to_vec();),
    }
}

/// The expression that loads weight `w` (and folds a batch norm into it).
fn load_expr(rt: &TokenStream, w: &Weight) -> TokenStream {
    let (n, dims) = (&w.name, &w.shape);
    match (&w.fold, &w.packing) {
        (Fold::Bias(bn, conv_bias), _) => {
            let len = w.len;
            let scale = fold_scale_tokens(rt, bn, len);
            // A layer scale shifts nothing: beta and mean 0 (allocated for
            // it alone).
            let (zeros, b, m) = match &bn.norm {
                Some(n) => {
                    let (b, m) = (&n.beta.0, &n.mean.0);
                    (TokenStream::new(), quote!(&#b[..]), quote!(&#m[..]))
                }
                None => (
                    quote!(let __zeros = ::std::vec![0.0f32; #len];),
                    quote!(&__zeros[..]),
                    quote!(&__zeros[..]),
                ),
            };
            let cb = match conv_bias {
                Some((f, _)) => quote!(::core::option::Option::Some(&#f[..])),
                None => quote!(::core::option::Option::None),
            };
            quote! {{
                #scale
                #zeros
                let mut __bias = ::std::vec![0.0f32; #len];
                #rt::ops::batch_norm::fold_bias(#cb, #b, #m, &__scale, &mut __bias);
                #rt::Param::<#len>::from_slice(&__bias).ok_or_else(|| ::skipnet::Error::Format {
                    reason: ::std::string::String::from("folded bias length"),
                })?
            }}
        }
        (Fold::Kernel(bn), Some(p)) => {
            let (plen, pack) = (&p.len, &p.pack);
            let scale = fold_scale_tokens(rt, bn, bn.filters);
            quote! {{
                #scale
                __file.take_packed::<{ #plen }>(#n, &[#(#dims),*], |raw: &[f32], packed: &mut [f32]| {
                    let mut __raw = raw.to_vec();
                    #rt::ops::batch_norm::scale_filters(&mut __raw, &__scale);
                    (#pack)(&__raw, packed)
                })?
            }}
        }
        (_, Some(p)) => {
            let (plen, pack) = (&p.len, &p.pack);
            quote!(__file.take_packed::<{ #plen }>(#n, &[#(#dims),*], #pack)?)
        }
        (_, None) => {
            let len = w.len;
            quote!(__file.take::<#len>(#n, &[#(#dims),*])?)
        }
    }
}

/// `forward`'s body: one scoped block per stored value, in schedule order,
/// and `(stored value, node that runs)` of each (for `profile`).
fn forward_steps(
    c: &Checked,
    weights: &[(usize, Vec<Weight>)],
    rt: &TokenStream,
    geom_mod: &Ident,
) -> (Vec<TokenStream>, Vec<(usize, usize)>) {
    let mut steps = Vec::new();
    let mut stepped = Vec::new();
    for &v in &c.plan.schedule {
        let Some(run) = Run::of(c, v) else { continue };
        steps.push(step(c, weights, rt, geom_mod, v, &run));
        stepped.push((v, run.runner));
    }
    (steps, stepped)
}

/// Who computes stored value `v` and what its epilogue adds: a fused add is
/// computed by its producer, with the other operands as residuals (one of
/// them maybe already in the output buffer).
struct Run {
    runner: usize,
    residuals: Vec<usize>,
    in_place: bool,
    post: crate::ops::Act,
}

impl Run {
    /// `None` for a value with no buffer or not computed by a node.
    fn of(c: &Checked, v: usize) -> Option<Run> {
        let buf = c.plan.buffers[v]?;
        let run = match c.fusions.sum(v) {
            Some(s) => {
                // In place only if the planner really shared the memory.
                let shared = s
                    .in_place
                    .filter(|&r| c.plan.buffers[r].is_some_and(|b| b.owner == buf.owner));
                Run {
                    runner: s.producer,
                    residuals: s
                        .residuals
                        .iter()
                        .copied()
                        .filter(|&r| Some(r) != shared)
                        .collect(),
                    in_place: shared.is_some(),
                    post: s.post.map(|(_, a)| a).unwrap_or(crate::ops::Act::Linear),
                }
            }
            None => Run {
                runner: v,
                residuals: Vec::new(),
                in_place: false,
                post: crate::ops::Act::Linear,
            },
        };
        matches!(c.graph.values[run.runner].kind, ValueKind::Node(_)).then_some(run)
    }
}

/// The slice expression of operand value `o` as `forward` reads it: the
/// user's input, or its range of the arena.
pub(crate) fn operand_expr(c: &Checked, o: usize) -> TokenStream {
    match (&c.graph.values[o].kind, c.plan.buffers[o]) {
        (ValueKind::Input(i), _) => {
            let n = &c.graph.inputs[*i].name;
            quote!(&#n[..])
        }
        (_, Some(b)) => {
            let (o, l) = (b.offset, b.len);
            quote!(&__read.get::<#o, #l>()[..])
        }
        (_, None) => quote!(compile_error!("operand without a buffer")),
    }
}

/// The block of `forward` that computes stored value `v` by `run`: the
/// arena split into what it reads, what it writes (and its scratch), then
/// the op's own code.
fn step(
    c: &Checked,
    weights: &[(usize, Vec<Weight>)],
    rt: &TokenStream,
    geom_mod: &Ident,
    v: usize,
    run: &Run,
) -> TokenStream {
    let (plan, fusions) = (&c.plan, &c.fusions);
    let ValueKind::Node(n) = &c.graph.values[run.runner].kind else {
        return TokenStream::new();
    };
    let Some(buf) = plan.buffers[v] else {
        return TokenStream::new();
    };
    let (off, len) = (buf.offset, buf.len);
    // Operands already produced in their slice of this node's buffer.
    let in_place_operands: Vec<bool> = n
        .operands
        .iter()
        .map(|o| plan.buffers[o.value].is_some_and(|b| b.slot.is_some() && b.owner == v))
        .collect();
    let inputs: Vec<TokenStream> = n
        .operands
        .iter()
        .zip(&in_place_operands)
        .map(|(o, &done)| match done {
            true => quote!(&[][..]),
            false => operand_expr(c, fusions.source(o.value).0),
        })
        .collect();
    let residuals: Vec<TokenStream> = run.residuals.iter().map(|&o| operand_expr(c, o)).collect();
    let (in_shapes, _) = fusions.stored_operands(n, &c.shapes);
    let mut wexprs: Vec<TokenStream> = weights
        .iter()
        .find(|(id, _)| *id == run.runner)
        .map(|(_, ws)| {
            ws.iter()
                .filter(|w| !matches!(w.fold, Fold::SupersededBias))
                .map(|w| {
                    let f = &w.field;
                    quote!(&self.#f[..])
                })
                .collect()
        })
        .unwrap_or_default();
    // A part of a concat writes into the concat's buffer: strided rows, or
    // its contiguous range when the concat is one row.
    let (out, out_layout) = match buf.slot {
        Some(Slot { lo, row, .. }) if len > row => (quote!(&mut __out[..]), Some((row, lo))),
        Some(Slot { lo, hi, .. }) => (quote!(&mut __out[#lo..#hi]), None),
        None => (quote!(&mut __out[..]), None),
    };
    let geom = geom_path(geom_mod, run.runner);
    // Fuse rule 8: the kernel scaled by the folded product's gate, in the
    // scratch's first floats, is the weight the op reads.
    let mut scaled = TokenStream::new();
    let mut scratch = quote!(&mut __scratch[..]);
    if let Some(gate) = fusions.input_scale(run.runner) {
        let klen = n.op.scaled_kernel_len(&in_shapes, &c.shapes[run.runner]);
        if let (Some(klen), Some(kernel)) = (klen, wexprs.first()) {
            let gate = operand_expr(c, gate);
            scaled = quote! {
                #[allow(unused_variables)]
                let (__scaled, __scratch) = __scratch.split_at_mut(#klen);
                #rt::ops::conv2d::scale_input_channels(&#geom, #kernel, #gate, __scaled);
                let __scaled: &[f32] = __scaled;
            };
            wexprs[0] = quote!(__scaled);
            scratch = quote!(__scratch);
        }
    }
    let body = n.op.emit(&EmitCtx {
        geom: &geom,
        rt,
        inputs: &inputs,
        in_shapes: &in_shapes,
        out: &out,
        out_shape: &c.shapes[v],
        weights: &wexprs,
        residuals: &residuals,
        in_place: run.in_place,
        post: run.post,
        out_layout,
        in_place_operands: &in_place_operands,
        scratch: &scratch,
    });
    let split = match plan.scratch.get(v).copied().flatten() {
        Some(sc) => {
            let (so, sl) = (sc.offset, sc.len);
            quote!(let (__read, __out, __scratch) = __arena.split_scratch::<#off, #len, #so, #sl>();)
        }
        None => quote!(let (__read, __out) = __arena.split::<#off, #len>();),
    };
    quote! {
        {
            #split
            #scaled
            #body
        }
    }
}

/// `forward`'s result: the arena ranges of the outputs.
pub(crate) fn forward_return(c: &Checked) -> TokenStream {
    let outs: Vec<TokenStream> = c
        .graph
        .outputs
        .iter()
        .map(|(_, v)| match c.plan.buffers[*v] {
            Some(b) => {
                let (o, l) = (b.offset, b.len);
                quote!(__arena.get::<#o, #l>())
            }
            None => quote!(compile_error!("output without a buffer")),
        })
        .collect();
    if outs.len() == 1 {
        outs[0].clone()
    } else {
        quote!((#(#outs),*))
    }
}

/// `Name::BAKED` and the `static`s it points to: each weight in its stored
/// layout as one byte-string literal reinterpreted at compile time.
fn bake_tokens(
    name: &Ident,
    rt: &TokenStream,
    geom_mod: &Ident,
    weights: &[&Weight],
    attr: &WeightsAttr,
    values: &[Vec<f32>],
) -> TokenStream {
    let wmod = format_ident!("{}_weights", geom_mod);
    let mut statics = Vec::new();
    let mut inits = Vec::new();
    for (k, (w, v)) in weights.iter().zip(values).enumerate() {
        let s = format_ident!("BAKED_{}", k);
        let len = v.len();
        let blen = 4 * len;
        let bytes = proc_macro2::Literal::byte_string(&crate::bake::le_bytes(v));
        let doc = format!("`{}`, baked", w.name);
        statics.push(quote! {
            #[doc = #doc]
            pub static #s: #rt::Aligned<[f32; #len]> =
                #rt::Aligned(#rt::f32s_from_le_bytes::<#len, #blen>(#bytes));
        });
        let f = &w.field;
        inits.push(quote!(#f: #rt::Param::from_static(&#wmod::#s.0),));
    }
    // Rebuild when the file changes: the compiler tracks included files.
    let path = attr.resolved.display().to_string();
    let doc = format!(
        "The network with the weights of `{}`, baked in at compile time (in the\n\
         kernels' layout, in static memory: nothing is loaded or converted at start-up).",
        attr.path
    );
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #wmod {
            #(#statics)*
            const _: &[u8] = include_bytes!(#path);
        }
        impl #name {
            #[doc = #doc]
            pub const BAKED: Self = #name { #(#inits)* };
        }
    }
}

fn forward_array(
    g: &Graph,
    in_shapes: &[&Vec<usize>],
    out_shapes: &[&Vec<usize>],
    ws_name: &Ident,
    ws: &Ident,
) -> TokenStream {
    let nd = quote!(::skipnet::__private::ndarray);
    let view_ty = |s: &[usize], life: TokenStream| match s.len() {
        1 => quote!(#nd::ArrayView1<#life, f32>),
        _ => quote!(#nd::ArrayView3<#life, f32>),
    };
    let name = &g.name;
    let params = g.inputs.iter().zip(in_shapes).map(|(i, s)| {
        let n = &i.name;
        let t = view_ty(s, quote!('_));
        quote!(#n: #t)
    });
    let converts = g.inputs.iter().zip(in_shapes).map(|(i, s)| {
        let n = &i.name;
        let len: usize = s.iter().product();
        let msg = format!(
            "{}::forward_array: input `{}` must have shape {} in standard (C-contiguous) layout; use `.as_standard_layout()`",
            name,
            n,
            shape_str(s)
        );
        quote! {
            let #n: &[f32; #len] = match #n.to_slice() {
                ::core::option::Option::Some(s) if #n.shape() == [#(#s),*] => match s.try_into() {
                    ::core::result::Result::Ok(a) => a,
                    ::core::result::Result::Err(_) => panic!(#msg),
                },
                _ => panic!(#msg),
            };
        }
    });
    let args = g.inputs.iter().map(|i| &i.name);
    let rets: Vec<TokenStream> = out_shapes
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let y = if out_shapes.len() == 1 {
                quote!(__y)
            } else {
                let idx = syn::Index::from(k);
                quote!(__y.#idx)
            };
            let dims = quote!((#(#s),*));
            let dims = if s.len() == 1 { quote!(#dims) } else { dims };
            let t = view_ty(s, quote!('w));
            quote! {
                match <#t>::from_shape(#dims, &#y[..]) {
                    ::core::result::Result::Ok(v) => v,
                    ::core::result::Result::Err(_) => unreachable!("output length equals its shape's product"),
                }
            }
        })
        .collect();
    let ret_ty = if out_shapes.len() == 1 {
        view_ty(out_shapes[0], quote!('w))
    } else {
        let ts = out_shapes.iter().map(|s| view_ty(s, quote!('w)));
        quote!((#(#ts),*))
    };
    let ret = if rets.len() == 1 {
        rets[0].clone()
    } else {
        quote!((#(#rets),*))
    };
    quote! {
        ::skipnet::__if_ndarray! {
            impl #name {
                /// [`forward`](Self::forward) on `ndarray` views (channels-last).
                ///
                /// # Panics
                /// If an input view has another shape or is not in standard layout.
                pub fn forward_array<'w>(&self, #ws: &'w mut #ws_name, #(#params),*) -> #ret_ty {
                    #(#converts)*
                    let __y = self.forward(#ws, #(#args),*);
                    #ret
                }
            }
        }
    }
}
