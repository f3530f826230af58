//! Stage 6: the network's weight tensors, between planning and code: each
//! op's declared variables with their field, file name, shape and packing,
//! and the batch norms folded into convs (which kernels they scale, which
//! synthetic biases they add). Read by `bake` (values at compile time),
//! `codegen` (fields and loading) and `profile` (FLOP counts).

use crate::checked::Checked;
use crate::graph::ValueKind;
use crate::ops::{ChannelAffine, WeightSpec};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// A weight tensor of the network, in declaration order.
pub struct Weight {
    pub field: Ident,
    /// Stored length and load-time conversion when not kept in Keras's layout.
    pub packing: Option<crate::ops::Packing>,
    /// `<binding path>.<variable>`, the name in the weight file.
    pub name: String,
    /// The variable alone (`kernel`, `gamma`, ...), as the op declared it.
    pub var: &'static str,
    pub shape: Vec<usize>,
    pub len: usize,
    /// How a folded batch norm changes this weight.
    pub fold: Fold,
}

/// A batch norm folded into a conv: its kernel is scaled per filter, and a
/// synthetic bias (not in the file) replaces the conv's.
#[derive(Clone, Default)]
pub enum Fold {
    #[default]
    None,
    /// The conv's kernel, scaled by `bn`'s `gamma / sqrt(variance + eps)`.
    Kernel(BnFold),
    /// The folded bias `(conv bias - mean) * scale + beta`; `conv_bias` is the
    /// conv's own bias weight, if it has one.
    Bias(BnFold, Option<(Ident, String)>),
    /// The conv's own bias: loaded (the folded bias is computed from it) but
    /// not passed to the kernel.
    SupersededBias,
}

/// The batch norm (or layer scale) weights a fold reads: `(field, file
/// name)` of each.
#[derive(Clone)]
pub struct BnFold {
    pub gamma: (Ident, String),
    /// A batch norm's other weights; `None` for a layer scale, whose
    /// scale is `gamma` itself (and its shift 0).
    pub norm: Option<BnNorm>,
    /// The conv's output channels (the kernel's last axis, or its last two
    /// flattened for a depthwise kernel).
    pub filters: usize,
}

/// A folded batch norm's weights besides `gamma`, and its epsilon.
#[derive(Clone)]
pub struct BnNorm {
    pub beta: (Ident, String),
    pub mean: (Ident, String),
    pub variance: (Ident, String),
    pub epsilon: f32,
}

/// Every weight tensor, with its owning value id: each node's declared
/// variables, then what folded batch norms change.
pub fn weights(c: &Checked) -> Vec<(usize, Vec<Weight>)> {
    let mut all = declared(c);
    let mut k = all.iter().map(|(_, ws)| ws.len()).sum();
    let ids: Vec<usize> = all.iter().map(|(id, _)| *id).collect();
    for conv in ids {
        fold_batch_norm(c, &mut all, conv, &mut k);
    }
    all
}

/// The variables each node's op declares, numbered in order (the field
/// names' `w<k>` prefix keeps them unique).
fn declared(c: &Checked) -> Vec<(usize, Vec<Weight>)> {
    let (g, shapes) = (&c.graph, &c.shapes);
    let (rt, geom_mod) = (&runtime_path(), &geom_mod(&g.name));
    let mut all = Vec::new();
    let mut k = 0usize;
    for (id, v) in g.values.iter().enumerate() {
        let ValueKind::Node(n) = &v.kind else {
            continue;
        };
        let Some(path) = &n.weight_path else { continue };
        let ins: Vec<&[usize]> = n
            .operands
            .iter()
            .map(|o| shapes[o.value].as_slice())
            .collect();
        let ws: Vec<Weight> =
            n.op.weights(&ins)
                .into_iter()
                .map(|WeightSpec { var, shape }| {
                    let w = Weight {
                        packing: n.op.packing(var, rt, &geom_path(geom_mod, id)),
                        field: format_ident!("w{}_{}", k, sanitize(&format!("{path}_{var}"))),
                        name: format!("{path}.{var}"),
                        var,
                        len: shape.iter().product(),
                        shape,
                        fold: Fold::None,
                    };
                    k += 1;
                    w
                })
                .collect();
        all.push((id, ws));
    }
    all
}

/// If a batch norm is folded into `conv`: marks the conv's kernel and bias
/// and adds the synthetic folded bias after the conv's weights (field
/// number `k`).
fn fold_batch_norm(c: &Checked, all: &mut [(usize, Vec<Weight>)], conv: usize, k: &mut usize) {
    let Some(fold) = bn_fold(c, all, conv) else {
        return;
    };
    let Some((_, ws)) = all.iter_mut().find(|(id, _)| *id == conv) else {
        return;
    };
    let mut conv_bias = None;
    for w in ws.iter_mut() {
        // The kernel whose last axis is the output filters: a conv's or
        // depthwise conv's `kernel`, a separable conv's pointwise one.
        if w.var == "kernel" || w.var == "pointwise_kernel" {
            w.fold = Fold::Kernel(fold.clone());
        } else if w.var == "bias" {
            w.fold = Fold::SupersededBias;
            conv_bias = Some((w.field.clone(), w.name.clone()));
        }
    }
    let path = ws
        .first()
        .and_then(|w| w.name.rsplit_once('.').map(|(p, _)| p.to_string()))
        .unwrap_or_default();
    let filters = fold.filters;
    ws.push(Weight {
        field: format_ident!("w{}_{}_folded_bias", k, sanitize(&path)),
        packing: None,
        name: format!(
            "{path}.bias (folded with {})",
            if fold.norm.is_some() {
                "batch norm"
            } else {
                "layer scale"
            }
        ),
        var: "bias",
        shape: vec![filters],
        len: filters,
        fold: Fold::Bias(fold, conv_bias),
    });
    *k += 1;
}

/// The batch norm folded into `conv`, with the fields and names of its
/// weights, if there is one.
fn bn_fold(c: &Checked, all: &[(usize, Vec<Weight>)], conv: usize) -> Option<BnFold> {
    let bn = c.fusions.folded_bn(conv)?;
    let affine = match &c.graph.values[bn].kind {
        ValueKind::Node(n) => n.op.fusable().channel_affine(),
        ValueKind::Input(_) => None,
    }?;
    let bn_ws = all.iter().find(|(id, _)| *id == bn).map(|(_, w)| w)?;
    let find = |var: &str| {
        bn_ws
            .iter()
            .find(|w| w.var == var)
            .map(|w| (w.field.clone(), w.name.clone()))
    };
    let norm = match affine {
        ChannelAffine::BatchNorm { epsilon } => Some(BnNorm {
            beta: find("beta")?,
            mean: find("moving_mean")?,
            variance: find("moving_variance")?,
            epsilon,
        }),
        ChannelAffine::LayerScale => None,
    };
    Some(BnFold {
        gamma: find("gamma")?,
        norm,
        filters: c.shapes[conv].last().copied().unwrap_or(0),
    })
}

/// The path generated code reaches the runtime by (`skipnet` re-exports it).
pub fn runtime_path() -> TokenStream {
    quote!(::skipnet::__private)
}

/// The module that holds network `name`'s geometry constants.
pub fn geom_mod(name: &Ident) -> Ident {
    format_ident!("__skipnet_{}", name)
}

/// Path of value `id`'s geometry constant.
pub fn geom_path(geom_mod: &Ident, id: usize) -> TokenStream {
    let c = format_ident!("N{}", id);
    quote!(#geom_mod::#c)
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
