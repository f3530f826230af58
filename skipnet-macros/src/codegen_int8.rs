//! Stage 8 for `#[quantized]` networks: int8 activations in an int8 arena,
//! int8 kernels, int32 biases and TFLite's requantization, so that `forward`
//! equals the TFLite interpreter's int8 output (its reference kernels) bit
//! for bit. The checked network is the f32 one's: the same graph, shapes and
//! arena plan in elements (now bytes), with only the fusions that move data
//! (`fuse::find`'s `quantized`): upsamples and paddings folded into convs,
//! convs writing into their concat's buffer.
//!
//! Quantization follows TFLite's int8 spec, read from the weight file:
//! every input and every conv output has its own (`<name>.quant`: scale and
//! zero point); the ops of `Int8::SameQuantization` (concat, nearest
//! upsampling) keep their operands', which must all be equal (an `Err`
//! naming both at load otherwise).

use crate::bake::{file_error, read, WeightsAttr};
use crate::checked::Checked;
use crate::codegen::{forward_return, geometry_consts, operand_expr, Io};
use crate::diag::{self, shape_str};
use crate::fuse::Slot;
use crate::graph::{Graph, ValueKind};
use crate::ops::{EmitCtx, Int8, INT8_OPS};
use crate::weights::{geom_mod, geom_path, runtime_path, Weight};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use skipnet_runtime::ops::conv2d::Conv2dGeom;
use skipnet_runtime::qgemm;

/// Every op of `g` that cannot run in int8, as one error per call.
pub fn check_supported(g: &Graph) -> diag::Errors {
    let mut errors = diag::Errors::default();
    for v in &g.values {
        let ValueKind::Node(n) = &v.kind else {
            continue;
        };
        if n.op.int8().is_none() {
            let configured = match n.op.describe() {
                d if d.is_empty() => String::new(),
                d => format!(" (as configured here: {d})"),
            };
            let e = diag::error(
                n.call_loc,
                format!(
                    "`{}` cannot run in a `#[quantized]` network yet{configured}; it supports {INT8_OPS}",
                    n.def.name,
                ),
            );
            errors.push(diag::in_context(e, &n.context));
        }
    }
    errors
}

/// A conv's tensors: its kernel and bias weights (stage 6's fields and
/// names) and the field holding its requantization.
struct Conv<'w> {
    kernel: &'w Weight,
    bias: Option<&'w Weight>,
    requant: Ident,
    filters: usize,
    activation: crate::ops::Act,
    geom: Conv2dGeom,
    /// Run by `qgemm` on a packed kernel (`Param<words, i32>`), else by the
    /// reference loop on the Keras layout (grouped convs).
    packed: bool,
}

impl Conv<'_> {
    /// The bias as a field of its own: the reference path's (the packed
    /// path folds it into its `qgemm::Epilogue`).
    fn stored_bias(&self) -> Option<&Weight> {
        self.bias.filter(|_| !self.packed)
    }

    /// The struct fields it owns, in declaration order.
    fn fields(&self) -> impl Iterator<Item = &Ident> {
        [
            Some(&self.kernel.field),
            self.stored_bias().map(|b| &b.field),
            Some(&self.requant),
        ]
        .into_iter()
        .flatten()
    }

    /// The kernel field's stored length (words when packed, bytes if not).
    fn stored_len(&self) -> usize {
        match self.packed {
            true => qgemm::packed_kernel_words(&self.geom),
            false => self.kernel.len,
        }
    }
}

fn convs<'w>(c: &Checked, weights: &'w [(usize, Vec<Weight>)]) -> Vec<(usize, Conv<'w>)> {
    weights
        .iter()
        .filter_map(|(id, ws)| {
            let ValueKind::Node(n) = &c.graph.values[*id].kind else {
                return None;
            };
            let Some(Int8::Conv(activation)) = n.op.int8() else {
                return None;
            };
            let kernel = ws.iter().find(|w| w.var == "kernel")?;
            let (ins, up) = c.fusions.stored_operands(n, &c.shapes);
            let geom = n.op.conv_geom(&ins, &c.shapes[*id], up)?;
            Some((
                *id,
                Conv {
                    kernel,
                    bias: ws.iter().find(|w| w.var == "bias"),
                    requant: format_ident!("requant_n{}", id),
                    filters: *kernel.shape.last()?,
                    activation,
                    packed: qgemm::supports(&geom),
                    geom,
                },
            ))
        })
        .collect()
}

/// The struct's fields per conv: its kernel (packed words or Keras-layout
/// bytes), its bias when not folded, its requantization.
fn struct_fields(rt: &TokenStream, convs: &[(usize, Conv)]) -> Vec<TokenStream> {
    convs
        .iter()
        .map(|(_, cv)| {
            let (k, r, f) = (&cv.kernel.field, &cv.requant, cv.filters);
            let klen = cv.stored_len();
            let (kty, rty) = match cv.packed {
                true => (quote!(i32), quote!(#rt::qgemm::Epilogue<#f>)),
                false => (
                    quote!(i8),
                    quote!(#rt::ops::conv2d_int8::Conv2dInt8Requant<#f>),
                ),
            };
            let kdoc = format!(
                "`{}`, int8, shape {}",
                cv.kernel.name,
                shape_str(&cv.kernel.shape)
            );
            let bias = cv.stored_bias().map(|b| {
                let bf = &b.field;
                let bdoc = format!("`{}`, int32", b.name);
                quote!(#[doc = #bdoc] #bf: #rt::Param<#f, i32>,)
            });
            quote! {
                #[doc = #kdoc] #k: #rt::Param<#klen, #kty>,
                #bias
                #r: #rty,
            }
        })
        .collect()
}

/// The int8 network's code (same items as `codegen::generate`'s, with i8
/// inputs and outputs, `input_quantization` and `output_quantization`).
pub fn generate(
    c: &Checked,
    weights: &[(usize, Vec<Weight>)],
    baked: Option<&WeightsAttr>,
) -> syn::Result<TokenStream> {
    let g = &c.graph;
    let rt = runtime_path();
    let name = &g.name;
    let geom_mod = geom_mod(name);
    let geoms = geometry_consts(c, &rt);
    let convs = convs(c, weights);
    let baked = match baked {
        Some(attr) => bake(c, &rt, &geom_mod, attr, &convs)?,
        None => TokenStream::new(),
    };
    let fields = struct_fields(&rt, &convs);
    let (n_in, n_out) = (g.inputs.len(), g.outputs.len());
    let loads = load_statements(c, &rt, &convs);
    let field_names = convs.iter().flat_map(|(_, cv)| cv.fields());
    let in_quants = (0..n_in).map(|i| format_ident!("__q{}", i));
    let out_quants = g.outputs.iter().map(|(_, v)| format_ident!("__q{}", v));
    let steps = forward_steps(c, &rt, &geom_mod, &convs);
    let ws = Ident::new("ws", proc_macro2::Span::mixed_site());
    let ws_name = format_ident!("{}Workspace", name);
    let arena_len = c.plan.arena_len;
    let io = Io::new(c);
    let in_args = io.in_args(g, &quote!(i8));
    let forward_ret = io.out_ty(quote!('w), &quote!(i8));
    let shape_consts = io.shape_consts();
    let ret = forward_return(c);
    let summary = crate::summary::summary(c, weights, true);
    let params: usize = convs
        .iter()
        .map(|(_, cv)| cv.kernel.len + cv.bias.map_or(0, |b| b.len))
        .sum();
    let (naive, bound) = (c.plan.naive_sum, c.plan.live_bound);
    let (vis, attrs) = (&g.vis, &g.attrs);
    let attrs = attrs.iter().filter(|a| !a.path().is_ident("quantized"));
    let (picture_items, picture_doc) = crate::codegen::pictures(c, true);
    let doc_ws = format!(
        "The workspace of [`{name}`]: its statically planned int8 arena of {arena_len} bytes."
    );
    let unused = g.unused.iter().map(|id| {
        let id = Ident::new(&id.to_string(), id.span());
        quote!(let #id = ();)
    });
    Ok(quote! {
        #(#attrs)*
        #picture_doc
        #vis struct #name {
            #(#fields)*
            __input_quantization: [#rt::quant::Quantization; #n_in],
            __output_quantization: [#rt::quant::Quantization; #n_out],
        }

        #baked

        /// Per-layer geometry constants of the network.
        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #geom_mod {
            #(#geoms)*
        }

        #[doc = #doc_ws]
        #vis type #ws_name = #rt::Workspace<#arena_len, #name, i8>;

        impl #name {
            #shape_consts
            /// int8 elements (bytes) of the workspace arena (reused across layers).
            pub const ARENA_LEN: usize = #arena_len;
            /// Bytes all intermediate tensors would take without reuse.
            pub const NAIVE_ARENA_LEN: usize = #naive;
            /// Largest total of tensors live at one step: no plan of these tensors is smaller.
            pub const LIVE_SET_BOUND: usize = #bound;
            /// Number of weights (int8 kernel values and int32 biases).
            pub const PARAMS: usize = #params;

            ::skipnet::__if_std! {
                /// Loads the int8 weights and the quantization from the bytes of a
                /// safetensors file: `<conv>.kernel` (I8), `<conv>.bias` (I32),
                /// `<conv>.kernel_scale` (F32, one per filter), and `<name>.quant`
                /// (F32 `[scale, zero point]`) of every input and conv output. A
                /// missing, extra, mis-shaped or mistyped tensor, an invalid scale, or
                /// a concat whose operands are quantized differently is an `Err`
                /// naming it.
                pub fn from_safetensors(bytes: &[u8]) -> ::core::result::Result<Self, ::skipnet::Error> {
                    let mut __file = #rt::WeightFile::parse(bytes)?;
                    #(#loads)*
                    __file.finish()?;
                    ::core::result::Result::Ok(#name {
                        #(#field_names,)*
                        __input_quantization: [#(#in_quants),*],
                        __output_quantization: [#(#out_quants),*],
                    })
                }

                /// A zeroed workspace on the heap (allocated in place, never on the stack).
                pub fn workspace() -> #rt::Box<#ws_name> {
                    #ws_name::boxed()
                }
            }

            /// The quantization of each input: `Quantization::quantize` turns a
            /// float image into what `forward` takes, as TFLite's QUANTIZE does.
            pub fn input_quantization(&self) -> [#rt::quant::Quantization; #n_in] {
                self.__input_quantization
            }

            /// The quantization of each output (`Quantization::dequantize`).
            pub fn output_quantization(&self) -> [#rt::quant::Quantization; #n_out] {
                self.__output_quantization
            }

            /// Runs the int8 network. Never allocates; the result borrows the workspace.
            #[allow(clippy::needless_lifetimes, non_snake_case)]
            pub fn forward<'w>(&self, #ws: &'w mut #ws_name, #(#in_args),*) -> #forward_ret {
                let (__arena, __exec): (&'w mut #rt::Arena<#arena_len, i8>, &'w mut #rt::Exec) = #ws.parts_mut();
                #(#steps)*
                let __arena: &'w #rt::Arena<#arena_len, i8> = __arena;
                #ret
            }

            /// A Keras-like table of the layers: op, output shape, parameters and
            /// where each tensor lives in the arena, then the arena totals.
            pub fn summary() -> &'static str {
                #summary
            }

            #picture_items
        }

        const _: () = {
            #(#unused)*
        };
    })
}

/// `from_safetensors`'s statements: every value's quantization `__q<id>`
/// (read, or its operand's; equal operands checked), each conv's kernel,
/// bias and requantization.
fn load_statements(c: &Checked, rt: &TokenStream, convs: &[(usize, Conv)]) -> Vec<TokenStream> {
    let g = &c.graph;
    let mut out = Vec::new();
    for (id, v) in g.values.iter().enumerate() {
        let q = format_ident!("__q{}", id);
        let file = format!("{}.quant", v.path);
        let own = quote!(let #q: #rt::quant::Quantization = __file.take_quantization(#file)?;);
        let ValueKind::Node(n) = &v.kind else {
            out.push(own);
            continue;
        };
        match n.op.int8() {
            Some(Int8::Conv(_)) => out.push(own),
            _ => {
                let first = n.operands[0].value;
                let q0 = format_ident!("__q{}", first);
                out.push(quote!(let #q = #q0;));
                for o in &n.operands[1..] {
                    let qo = format_ident!("__q{}", o.value);
                    let (layer, op) = (&v.path, n.def.name);
                    let (a, b) = (&g.values[o.value].path, &g.values[first].path);
                    out.push(quote! {
                        #rt::quant::same_quantization(#layer, #op, (#a, #qo), (#b, #q0))?;
                    });
                }
            }
        }
    }
    for (id, cv) in convs {
        let ValueKind::Node(n) = &g.values[*id].kind else {
            continue;
        };
        let (k, kname, kdims, klen) = (
            &cv.kernel.field,
            &cv.kernel.name,
            &cv.kernel.shape,
            cv.stored_len(),
        );
        let geom = geom_path(&geom_mod(&g.name), *id);
        out.push(match cv.packed {
            true => quote! {
                let #k = __file.take_i8_packed::<#klen>(#kname, &[#(#kdims),*], |raw: &[i8], packed: &mut [i32]| {
                    #rt::qgemm::pack_kernel(&#geom, raw, packed)
                })?;
            },
            false => quote!(let #k = __file.take_i8::<#klen>(#kname, &[#(#kdims),*])?;),
        });
        let folded_bias = format_ident!("__bias_n{}", id);
        if let Some(b) = cv.bias {
            let (bf, bname, f) = (&b.field, &b.name, cv.filters);
            out.push(match cv.packed {
                true => quote!(let #folded_bias = __file.take_i32_values(#bname, &[#f])?;),
                false => quote!(let #bf = __file.take_i32::<#f>(#bname, &[#f])?;),
            });
        }
        let path = &c.graph.values[*id].path;
        let scales = format!("{path}.kernel_scale");
        let (r, f) = (&cv.requant, cv.filters);
        let (qi, qo) = (
            format_ident!("__q{}", n.operands[0].value),
            format_ident!("__q{}", id),
        );
        let act = crate::ops::activation_tokens(rt, cv.activation.runtime());
        if cv.packed {
            let bias = match cv.bias {
                Some(_) => quote!(::core::option::Option::Some(&#folded_bias[..])),
                None => quote!(::core::option::Option::None),
            };
            out.push(quote! {
                let #r = #rt::qgemm::Epilogue::<#f>::new(
                    #path,
                    #qi,
                    &__file.take_values(#scales, &[#f])?,
                    #bias,
                    #qo,
                    #act,
                )?;
            });
            continue;
        }
        out.push(quote! {
            let #r = #rt::ops::conv2d_int8::Conv2dInt8Requant::<#f>::new(
                #path,
                #qi,
                &__file.take_values(#scales, &[#f])?,
                #qo,
                #act,
            )?;
        });
    }
    out
}

/// `forward`'s body: one scoped block per stored value, in schedule order.
fn forward_steps(
    c: &Checked,
    rt: &TokenStream,
    geom_mod: &Ident,
    convs: &[(usize, Conv)],
) -> Vec<TokenStream> {
    let plan = &c.plan;
    let mut steps = Vec::new();
    for &v in &plan.schedule {
        let (Some(buf), ValueKind::Node(n)) = (plan.buffers[v], &c.graph.values[v].kind) else {
            continue;
        };
        let (off, len) = (buf.offset, buf.len);
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
                false => operand_expr(c, c.fusions.source(o.value).0),
            })
            .collect();
        // A part of a concat writes into the concat's buffer: strided rows,
        // or its contiguous range when the concat is one row.
        let (out, out_layout) = match buf.slot {
            Some(Slot { lo, row, .. }) if len > row => (quote!(&mut __out[..]), Some((row, lo))),
            Some(Slot { lo, hi, .. }) => (quote!(&mut __out[#lo..#hi]), None),
            None => (quote!(&mut __out[..]), None),
        };
        let body = match convs.iter().find(|(id, _)| *id == v) {
            Some((_, cv)) => {
                let geom = geom_path(geom_mod, v);
                let (k, r, x) = (&cv.kernel.field, &cv.requant, &inputs[0]);
                let bias = match cv.bias {
                    Some(b) => {
                        let bf = &b.field;
                        quote!(::core::option::Option::Some(&self.#bf[..]))
                    }
                    None => quote!(::core::option::Option::None),
                };
                let (stride, offset) = out_layout.unwrap_or((cv.filters, 0));
                match cv.packed {
                    true if plan.overwrites[v].is_some() => {
                        // Over its input: `__out` is the region from the
                        // output's start to the input's end (`split` below).
                        let x_at = over_input_at(plan, v);
                        quote! {
                            const __AT: #rt::qgemm::OverInput =
                                #rt::qgemm::OverInput::new(#geom, (#stride, #offset), #x_at, 0);
                            #rt::qgemm::conv2d_int8_over_input(
                                __exec.isa(), &__AT, &mut __out[..], &self.#k[..], &self.#r.filters,
                                self.#r.input_zero_point, &mut __scratch[..],
                            );
                        }
                    }
                    true => quote! {
                        #rt::qgemm::conv2d_int8_packed(
                            __exec.isa(), &#geom, #x, &self.#k[..], &self.#r.filters, self.#r.input_zero_point,
                            #out, (#stride, #offset), &mut __scratch[..],
                        );
                    },
                    false => quote! {
                        #rt::ops::conv2d_int8::conv2d_int8_into(
                            &#geom, #x, &self.#k[..], #bias, &self.#r.quant(), #out, (#stride, #offset),
                        );
                    },
                }
            }
            None => {
                let (in_shapes, _) = c.fusions.stored_operands(n, &c.shapes);
                n.op.emit(&EmitCtx {
                    geom: &geom_path(geom_mod, v),
                    rt,
                    inputs: &inputs,
                    in_shapes: &in_shapes,
                    out: &out,
                    out_shape: &c.shapes[v],
                    weights: &[],
                    residuals: &[],
                    in_place: false,
                    post: crate::ops::Act::Linear,
                    out_layout,
                    in_place_operands: &in_place_operands,
                    scratch: &quote!(&mut [][..]),
                })
            }
        };
        // A conv computed over its input writes in one region holding both.
        let len = match plan.overwrites[v] {
            Some(o) => plan.buffers[o.operand].map_or(len, |b| len.max(b.offset + b.len - off)),
            None => len,
        };
        let split = match plan.scratch.get(v).copied().flatten() {
            Some(sc) => {
                let (so, sl) = (sc.offset, sc.len);
                quote!(let (__read, __out, __scratch) = __arena.split_scratch::<#off, #len, #so, #sl>();)
            }
            None => quote!(let (__read, __out) = __arena.split::<#off, #len>();),
        };
        steps.push(quote! {
            {
                #split
                #body
            }
        });
    }
    steps
}

/// Where the input of value `v`, computed over it, starts in the region
/// from `v`'s start (the plan's gap, as the plan placed them).
fn over_input_at(plan: &crate::plan::ArenaPlan, v: usize) -> usize {
    let (Some(o), Some(b)) = (plan.overwrites[v], plan.buffers[v]) else {
        return 0;
    };
    plan.buffers[o.operand].map_or(0, |ob| ob.offset - b.offset)
}

/// A quantization as a constant expression (the scale bit for bit).
fn quantization_tokens(rt: &TokenStream, q: skipnet_runtime::quant::Quantization) -> TokenStream {
    let (bits, zp) = (q.scale.to_bits(), q.zero_point);
    quote!(#rt::quant::Quantization { scale: f32::from_bits(#bits), zero_point: #zp })
}

/// `Name::BAKED` (`#[weights]` on a `#[quantized]` network): the file read
/// and checked at compile time by the runtime's loader, each kernel and bias
/// a byte-string `static`, each conv's requantization computed now by the
/// runtime's `requantization`, so nothing runs at start-up.
fn bake(
    c: &Checked,
    rt: &TokenStream,
    geom_mod: &Ident,
    attr: &WeightsAttr,
    convs: &[(usize, Conv)],
) -> syn::Result<TokenStream> {
    use skipnet_runtime::quant::{same_quantization, Quantization};
    let g = &c.graph;
    let err = |e| file_error(attr, e);
    let bytes = read(attr)?;
    let mut file = skipnet_runtime::WeightFile::parse(&bytes).map_err(err)?;
    let mut q: Vec<Quantization> = Vec::with_capacity(g.values.len());
    for v in &g.values {
        let own = match &v.kind {
            ValueKind::Node(n) if !matches!(n.op.int8(), Some(Int8::Conv(_))) => {
                let first = n.operands[0].value;
                for o in &n.operands[1..] {
                    let p = |id: usize| (g.values[id].path.as_str(), q[id]);
                    same_quantization(&v.path, n.def.name, p(o.value), p(first)).map_err(err)?;
                }
                q[first]
            }
            _ => file
                .take_quantization(&format!("{}.quant", v.path))
                .map_err(err)?,
        };
        q.push(own);
    }
    let wmod = format_ident!("{}_weights", geom_mod);
    let mut statics = Vec::new();
    let mut inits = Vec::new();
    for (k, (id, cv)) in convs.iter().enumerate() {
        let ValueKind::Node(n) = &g.values[*id].kind else {
            continue;
        };
        let path = &g.values[*id].path;
        let f = cv.filters;
        let kernel = file
            .take_i8_values(&cv.kernel.name, &cv.kernel.shape)
            .map_err(err)?;
        let ks = format_ident!("BAKED_K{}", k);
        if cv.packed {
            let mut packed = vec![0i32; cv.stored_len()];
            qgemm::pack_kernel(&cv.geom, &kernel, &mut packed);
            let bytes: Vec<u8> = packed.iter().flat_map(|v| v.to_le_bytes()).collect();
            let (words, blen) = (packed.len(), bytes.len());
            let lit = proc_macro2::Literal::byte_string(&bytes);
            statics.push(quote!(pub static #ks: [i32; #words] = #rt::i32s_from_le_bytes::<#words, #blen>(#lit);));
        } else {
            let klen = kernel.len();
            let kbytes: Vec<u8> = kernel.iter().map(|&v| v as u8).collect();
            let klit = proc_macro2::Literal::byte_string(&kbytes);
            statics
                .push(quote!(pub static #ks: [i8; #klen] = #rt::i8s_from_bytes::<#klen>(#klit);));
        }
        let kf = &cv.kernel.field;
        inits.push(quote!(#kf: #rt::Param::from_static(&#wmod::#ks),));
        let bias = match cv.bias {
            Some(b) => Some(file.take_i32_values(&b.name, &b.shape).map_err(err)?),
            None => None,
        };
        if let (Some(b), Some(bias)) = (cv.stored_bias(), &bias) {
            let bs = format_ident!("BAKED_B{}", k);
            let bbytes: Vec<u8> = bias.iter().flat_map(|v| v.to_le_bytes()).collect();
            let blen = bbytes.len();
            let blit = proc_macro2::Literal::byte_string(&bbytes);
            statics.push(
                quote!(pub static #bs: [i32; #f] = #rt::i32s_from_le_bytes::<#f, #blen>(#blit);),
            );
            let bf = &b.field;
            inits.push(quote!(#bf: #rt::Param::from_static(&#wmod::#bs),));
        }
        let scales = file
            .take_values(&format!("{path}.kernel_scale"), &[f])
            .map_err(err)?;
        let (qi, qo) = (q[n.operands[0].value], q[*id]);
        let (multipliers, (lo, hi)) = skipnet_runtime::ops::conv2d_int8::requantization(
            path,
            qi,
            &scales,
            qo,
            cv.activation.runtime(),
        )
        .map_err(err)?;
        let ms = multipliers.iter().map(|m| {
            let (m, s) = (m.multiplier, m.shift);
            quote!(#rt::quant::QuantizedMultiplier { multiplier: #m, shift: #s })
        });
        let (r, zi, zo) = (&cv.requant, qi.zero_point, qo.zero_point);
        if cv.packed {
            let filters = multipliers.iter().enumerate().map(|(j, m)| {
                let (mm, sh) = (m.multiplier, m.shift);
                let b = bias.as_ref().map_or(0, |b| b[j]);
                quote! {
                    #rt::quant::Requantize::new(
                        #b, #rt::quant::QuantizedMultiplier { multiplier: #mm, shift: #sh }, #zo, (#lo, #hi),
                    )
                }
            });
            inits.push(quote! {
                #r: #rt::qgemm::Epilogue { input_zero_point: #zi, filters: [#(#filters),*] },
            });
            continue;
        }
        inits.push(quote! {
            #r: #rt::ops::conv2d_int8::Conv2dInt8Requant {
                input_zero_point: #zi,
                output_zero_point: #zo,
                multipliers: [#(#ms),*],
                clamp: (#lo, #hi),
            },
        });
    }
    file.finish().map_err(err)?;
    let ins = (0..g.inputs.len()).map(|i| quantization_tokens(rt, q[i]));
    let outs = g
        .outputs
        .iter()
        .map(|(_, v)| quantization_tokens(rt, q[*v]));
    let name = &g.name;
    let path = attr.resolved.display().to_string();
    let doc = format!(
        "The network with the int8 weights of `{}`, baked in at compile time (kernels,\n\
         biases and every conv's requantization in static memory: nothing is loaded\n\
         or computed at start-up).",
        attr.path
    );
    Ok(quote! {
        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #wmod {
            #(#statics)*
            const _: &[u8] = include_bytes!(#path);
        }
        impl #name {
            #[doc = #doc]
            pub const BAKED: Self = #name {
                #(#inits)*
                __input_quantization: [#(#ins),*],
                __output_quantization: [#(#outs),*],
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn errors(ts: proc_macro2::TokenStream) -> Vec<String> {
        match crate::expand(ts) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_quantized_network_has_an_int8_arena_and_int8_io() {
        let ts = crate::expand(quote! {
            #[quantized]
            pub Q(x: [8, 8, 3]) -> out {
                a   = conv2d(x, 8, 3, strides = 2, padding = same, activation = relu);
                b   = conv2d(upsample2d(a, 2), 5, 3, padding = same, activation = relu6);
                out = concat(x, b);
            }
        })
        .unwrap()
        .to_string();
        // 640 bytes of tensors and b's im2col block (3 pixels x 80 k x 2 + 3).
        assert!(ts.contains("Workspace < 1123usize , Q , i8 >"), "{ts}");
        assert!(ts.contains("x : & [i8 ; 192usize]"), "{ts}");
        assert!(ts.contains("conv2d_int8_packed"), "{ts}");
        assert!(ts.contains("split_scratch"), "{ts}");
        // `b` writes its columns of the concat's rows (5 of 8, from 3).
        assert!(ts.contains("(8usize , 3usize)"), "{ts}");
        assert!(ts.contains("\"b.kernel_scale\""), "{ts}");
        assert!(!ts.contains("f32 ;"), "no f32 tensor: {ts}");
    }

    // Unit tests run with CARGO_MANIFEST_DIR = skipnet-macros/.
    #[test]
    fn a_baked_file_that_does_not_match_is_a_compile_error_naming_the_tensor() {
        let e = errors(quote! {
            #[quantized]
            #[weights = "../tests/fixtures/int8/seed_unet/weights.safetensors"]
            pub Net(x: [32, 32, 3]) -> conv1 {
                conv1 = conv2d(x, 16, 3, strides = 2, padding = same, activation = relu);
            }
        });
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("conv1.kernel") && e[0].contains("[3, 3, 3, 16]"),
            "{e:?}"
        );
        let e = errors(quote! {
            #[quantized]
            #[weights = "../tests/fixtures/seed_unet/weights.safetensors"]
            pub Net(x: [32, 32, 3]) -> conv1 {
                conv1 = conv2d(x, 32, 3, strides = 2, padding = same, activation = relu);
            }
        });
        assert!(e[0].contains("no tensor `x.quant`"), "{e:?}");
    }
}
