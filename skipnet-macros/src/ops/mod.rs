//! The op table. Each op lives in one file holding its argument signature, its
//! shape rule, its weights and the code it emits; adding an op is one new file
//! and one line in [`OPS`]. The pipeline stages call into ops only through the
//! [`Op`] trait and [`OpDef`].

use crate::diag::{did_you_mean, error, shape_str, Errors, Loc};
use crate::parse::{Arg, Call, Expr};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeMap;

mod activation;
mod add;
mod batch_norm;
pub mod concat;
mod conv2d;
mod conv2d_transpose;
mod dense;
mod depthwise_conv2d;
mod flatten;
mod global_pool2d;
mod layer_norm;
mod layer_scale;
mod merge;
mod pad2d;
mod pool2d;
mod rescaling;
mod reshape;
mod separable_conv2d;
mod upsample2d;

/// Every op the language knows, by name.
pub static OPS: &[&OpDef] = &[
    &conv2d::DEF,
    &conv2d_transpose::DEF,
    &depthwise_conv2d::DEF,
    &separable_conv2d::DEF,
    &pool2d::MAX,
    &pool2d::AVG,
    &upsample2d::DEF,
    &add::DEF,
    &concat::DEF,
    &dense::DEF,
    &global_pool2d::AVG,
    &global_pool2d::MAX,
    &flatten::DEF,
    &reshape::DEF,
    &activation::RELU,
    &activation::SIGMOID,
    &activation::TANH,
    &activation::LINEAR,
    &activation::RELU6,
    &activation::ELU,
    &activation::HARD_SIGMOID,
    &activation::HARD_SILU,
    &activation::SWISH,
    &activation::GELU,
    &activation::SOFTMAX,
    &activation::LEAKY_RELU,
    &activation::DROPOUT,
    &batch_norm::DEF,
    &layer_norm::DEF,
    &layer_scale::DEF,
    &rescaling::RESCALING,
    &rescaling::NORMALIZATION,
    &merge::SUBTRACT,
    &merge::MULTIPLY,
    &merge::AVERAGE,
    &merge::MAXIMUM,
    &merge::MINIMUM,
    &pad2d::ZERO_PADDING,
    &pad2d::CROPPING,
];

/// Ops of DSL.md §2 not implemented yet: named in the error so users know the
/// name is right and support is coming, rather than "unknown op".
pub static PLANNED: &[&str] = &[];

pub fn lookup(name: &str) -> Option<&'static OpDef> {
    OPS.iter().copied().find(|d| d.name == name)
}

/// Static description of an op: its name, signature and constructor.
pub struct OpDef {
    pub name: &'static str,
    /// Keras-order parameters. Tensor parameters come first.
    pub params: &'static [Param],
    /// Whether the op owns weights (and so must be bound to a name).
    pub has_weights: bool,
    /// Builds the op from its non-tensor arguments.
    pub build: fn(&Values) -> syn::Result<Box<dyn Op>>,
}

pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
}

impl Param {
    /// One tensor operand.
    pub const fn tensor(name: &'static str) -> Param {
        Param {
            name,
            kind: Kind::Tensor,
        }
    }

    /// One or more tensor operands (n-ary merges).
    pub const fn tensors(name: &'static str) -> Param {
        Param {
            name,
            kind: Kind::Tensors,
        }
    }

    /// A value the call must give.
    pub const fn required(name: &'static str) -> Param {
        Param {
            name,
            kind: Kind::Required,
        }
    }

    /// A value with a default.
    pub const fn optional(name: &'static str) -> Param {
        Param {
            name,
            kind: Kind::Optional,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One tensor operand.
    Tensor,
    /// One or more tensor operands (n-ary merges); always the first parameter.
    Tensors,
    /// A required value (integer, pair, keyword).
    Required,
    /// A value with a default.
    Optional,
}

impl OpDef {
    /// `conv2d(x, filters, kernel_size, strides, ...)`, for messages.
    pub fn signature(&self) -> String {
        let ps: Vec<String> = self
            .params
            .iter()
            .map(|p| match p.kind {
                Kind::Tensors => format!("{}, ...", p.name),
                _ => p.name.to_string(),
            })
            .collect();
        format!("{}({})", self.name, ps.join(", "))
    }
}

/// A call's arguments matched to its op's parameters.
pub struct Bound {
    /// Tensor operands in order (for `Tensors`, every positional operand).
    pub tensors: Vec<Expr>,
    pub values: BTreeMap<&'static str, Expr>,
}

/// Matches positional and keyword arguments to `def`'s parameters.
pub fn bind(def: &OpDef, call: &Call) -> syn::Result<Bound> {
    let mut b = Binder {
        def,
        variadic: def.params.iter().any(|p| p.kind == Kind::Tensors),
        errors: Errors::default(),
        tensors: Vec::new(),
        values: BTreeMap::new(),
        given: BTreeMap::new(),
        next_positional: 0,
        seen_keyword: false,
    };
    for Arg { name, value } in &call.args {
        match name {
            None => b.positional(value),
            Some(n) => b.keyword(n, value),
        }
    }
    b.report_missing(call);
    b.errors.finish(Bound {
        tensors: b.tensors,
        values: b.values,
    })
}

/// [`bind`]'s state while it walks a call's arguments.
struct Binder<'d> {
    def: &'d OpDef,
    /// The op takes any number of tensors first (`concat`, `add`).
    variadic: bool,
    errors: Errors,
    tensors: Vec<Expr>,
    values: BTreeMap<&'static str, Expr>,
    /// Every parameter given so far, where.
    given: BTreeMap<&'static str, Loc>,
    next_positional: usize,
    seen_keyword: bool,
}

impl Binder<'_> {
    /// A positional argument: the next tensor of a variadic op, else the
    /// next parameter; none after a keyword argument.
    fn positional(&mut self, value: &Expr) {
        let def = self.def;
        if self.seen_keyword {
            self.errors.push(error(
                value.loc(),
                format!(
                    "positional argument after a named one in `{}`: give it by name",
                    def.name
                ),
            ));
            return;
        }
        if self.variadic && self.next_positional == 0 {
            if !matches!(value, Expr::Int(_) | Expr::Tuple(..) | Expr::Bool(_)) {
                self.tensors.push(value.clone());
                return;
            }
            self.next_positional = 1;
        }
        let Some(p) = def.params.get(self.next_positional) else {
            let msg = if self.variadic {
                format!(
                    "`{}` takes tensors only: this is not a tensor (a name or an op call)",
                    def.name
                )
            } else {
                format!(
                    "too many positional arguments for `{}`: it takes {}; give the others by name",
                    def.name,
                    def.signature()
                )
            };
            self.errors.push(error(value.loc(), msg));
            return;
        };
        self.next_positional += 1;
        self.given.insert(p.name, value.loc());
        if p.kind == Kind::Tensor {
            self.tensors.push(value.clone());
        } else {
            self.values.insert(p.name, value.clone());
        }
    }

    /// A keyword argument `n = value`: a known, non-tensor parameter given once.
    fn keyword(&mut self, n: &Ident, value: &Expr) {
        let def = self.def;
        self.seen_keyword = true;
        let key = n.to_string();
        let Some(p) = def.params.iter().find(|p| p.name == key) else {
            let hint = did_you_mean(&key, def.params.iter().map(|p| p.name))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_else(|| format!("; it takes {}", def.signature()));
            self.errors.push(error(
                n.span(),
                format!("`{}` has no argument `{key}`{hint}", def.name),
            ));
            return;
        };
        if matches!(p.kind, Kind::Tensor | Kind::Tensors) {
            self.errors.push(error(
                n.span(),
                format!("pass the tensor `{}` of `{}` by position", p.name, def.name),
            ));
            return;
        }
        if self.given.insert(p.name, value.loc()).is_some() {
            self.errors.push(error(
                n.span(),
                format!("argument `{key}` of `{}` is given twice", def.name),
            ));
            return;
        }
        self.values.insert(p.name, value.clone());
    }

    /// The first parameter the call left out, when nothing else was wrong.
    fn report_missing(&mut self, call: &Call) {
        let def = self.def;
        for p in def.params {
            let missing = match p.kind {
                Kind::Tensor | Kind::Required => !self.given.contains_key(p.name),
                Kind::Tensors => self.tensors.is_empty(),
                Kind::Optional => false,
            };
            if missing && self.errors.is_empty() {
                self.errors.push(error(
                    call.loc,
                    format!(
                        "`{}` is missing its argument `{}`: {}",
                        def.name,
                        p.name,
                        def.signature()
                    ),
                ));
            }
        }
    }
}

/// The non-tensor arguments of one call, with block integer parameters resolved.
pub struct Values<'a> {
    pub op: &'static str,
    pub call_loc: Loc,
    pub values: &'a BTreeMap<&'static str, Expr>,
    /// Integer parameters of the enclosing block instantiation.
    pub ints: &'a BTreeMap<String, i128>,
}

impl Values<'_> {
    pub fn loc(&self, name: &str) -> Loc {
        self.values
            .get(name)
            .map(|e| e.loc())
            .unwrap_or(self.call_loc)
    }

    fn int_of(&self, name: &str, e: &Expr) -> syn::Result<(i128, Loc)> {
        match e {
            Expr::Int(i) => Ok((i.value, i.loc)),
            Expr::Name(id) => match self.ints.get(&id.to_string()) {
                Some(v) => Ok((*v, Loc::at(id.span()))),
                None => Err(error(
                    id.span(),
                    format!(
                        "`{}` of `{}` must be an integer (a literal or an integer parameter of the block), but `{id}` is not one",
                        name, self.op
                    ),
                )),
            },
            Expr::Float(f) => Err(error(
                f.loc,
                format!(
                    "`{}` of `{}` must be an integer, found `{:?}`; write it without a decimal point",
                    name, self.op, f.value
                ),
            )),
            other => Err(error(
                other.loc(),
                format!("`{}` of `{}` must be an integer", name, self.op),
            )),
        }
    }

    fn at_least(&self, name: &str, e: &Expr, min: i128) -> syn::Result<usize> {
        let (v, loc) = self.int_of(name, e)?;
        if v < min {
            return Err(error(
                loc,
                format!(
                    "`{name}` of `{}` must be at least {min}, found {v}",
                    self.op
                ),
            ));
        }
        let limit = crate::limits::MAX_ELEMENTS as i128;
        if v > limit {
            return Err(error(
                loc,
                format!(
                    "`{name}` of `{}` is {v}, more than the largest supported size {limit}",
                    self.op
                ),
            ));
        }
        usize::try_from(v).map_err(|_| error(loc, format!("`{name}` = {v} is too large")))
    }

    /// A positive integer; `default` when absent (required when `None`).
    pub fn positive(&self, name: &str, default: Option<usize>) -> syn::Result<usize> {
        match (self.values.get(name), default) {
            (Some(e), _) => self.at_least(name, e, 1),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(error(
                self.call_loc,
                format!("`{}` needs `{name}`", self.op),
            )),
        }
    }

    /// An integer `>= 0` (a size that may be zero, e.g. one side's padding).
    pub fn non_negative(&self, name: &str, e: &Expr) -> syn::Result<usize> {
        self.at_least(name, e, 0)
    }

    /// An integer (possibly negative) or `default`.
    pub fn int(&self, name: &str, default: i128) -> syn::Result<i128> {
        match self.values.get(name) {
            Some(e) => self.int_of(name, e).map(|(v, _)| v),
            None => Ok(default),
        }
    }

    /// A positive integer or an `(h, w)` pair of them, Keras style.
    pub fn pair(&self, name: &str, default: Option<(usize, usize)>) -> syn::Result<(usize, usize)> {
        match (self.values.get(name), default) {
            (Some(Expr::Tuple(items, loc)), _) => {
                if items.len() != 2 {
                    return Err(error(
                        *loc,
                        format!("`{name}` of `{}` takes one integer or an `(h, w)` pair, found {} values", self.op, items.len()),
                    ));
                }
                Ok((
                    self.at_least(name, &items[0], 1)?,
                    self.at_least(name, &items[1], 1)?,
                ))
            }
            (Some(e), _) => {
                let v = self.at_least(name, e, 1)?;
                Ok((v, v))
            }
            (None, Some(d)) => Ok(d),
            (None, None) => Err(error(
                self.call_loc,
                format!("`{}` needs `{name}`", self.op),
            )),
        }
    }

    /// One of `options` written as a bare word; `default` when absent.
    pub fn choice(
        &self,
        name: &str,
        options: &[&'static str],
        default: &'static str,
    ) -> syn::Result<&'static str> {
        let Some(e) = self.values.get(name) else {
            return Ok(default);
        };
        let list = options
            .iter()
            .map(|o| format!("`{o}`"))
            .collect::<Vec<_>>()
            .join(" or ");
        let Expr::Name(id) = e else {
            return Err(error(
                e.loc(),
                format!("`{name}` of `{}` must be {list}", self.op),
            ));
        };
        let word = id.to_string();
        match options.iter().find(|o| **o == word) {
            Some(o) => Ok(o),
            None => {
                let hint = did_you_mean(&word, options.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                Err(error(
                    id.span(),
                    format!(
                        "`{name}` of `{}` must be {list}, found `{word}`{hint}",
                        self.op
                    ),
                ))
            }
        }
    }

    /// A number in `range` (integers are accepted too); `default` when absent.
    pub fn float(
        &self,
        name: &str,
        default: f64,
        range: std::ops::RangeInclusive<f64>,
        what: &str,
    ) -> syn::Result<f64> {
        let (v, loc) = match self.values.get(name) {
            None => return Ok(default),
            Some(Expr::Float(f)) => (f.value, f.loc),
            Some(Expr::Int(i)) => (i.value as f64, i.loc),
            Some(e) => {
                return Err(error(
                    e.loc(),
                    format!(
                        "`{name}` of `{}` must be a number such as `{default}`",
                        self.op
                    ),
                ))
            }
        };
        if !range.contains(&v) {
            return Err(error(
                loc,
                format!("`{name}` of `{}` must be {what}, found `{v}`", self.op),
            ));
        }
        Ok(v)
    }

    /// `true` or `false`; `default` when absent.
    pub fn boolean(&self, name: &str, default: bool) -> syn::Result<bool> {
        match self.values.get(name) {
            None => Ok(default),
            Some(Expr::Bool(b)) => Ok(b.value),
            Some(e) => Err(error(
                e.loc(),
                format!("`{name}` of `{}` must be `true` or `false`", self.op),
            )),
        }
    }

    /// The `activation` argument.
    pub fn activation(&self) -> syn::Result<Act> {
        let Some(e) = self.values.get("activation") else {
            return Ok(Act::Linear);
        };
        let Expr::Name(id) = e else {
            return Err(error(
                e.loc(),
                "`activation` must be an activation name such as `relu`",
            ));
        };
        let word = id.to_string();
        if let Some(a) = Act::ALL.iter().find(|a| a.name() == word) {
            return Ok(*a);
        }
        let supported = || {
            let names: Vec<&str> = Act::ALL.iter().map(|a| a.name()).collect();
            format!("supported: {}", names.join(", "))
        };
        if word == "leaky_relu" {
            return Err(error(
                id.span(),
                "`leaky_relu` takes a slope, so it is not an `activation = ...` value here; apply it as a layer of its own: `y = leaky_relu(conv, alpha = 0.2)`",
            ));
        }
        if PLANNED.contains(&word.as_str()) {
            return Err(error(
                id.span(),
                format!("activation `{word}` is not supported yet; {}", supported()),
            ));
        }
        let hint = did_you_mean(&word.to_lowercase(), Act::ALL.iter().map(|a| a.name()))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_else(|| format!("; {}", supported()));
        Err(error(
            id.span(),
            format!("unknown activation `{word}`{hint}"),
        ))
    }
}

/// Activation applied by a layer's epilogue or standalone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Relu6,
    Elu,
    HardSigmoid,
    Swish,
    Gelu,
    HardSilu,
    /// Over the last axis: not element-wise, so layers apply it after their
    /// kernel (`Act::elementwise` is `Linear` for it).
    Softmax,
}

impl Act {
    pub const ALL: [Act; 11] = [
        Act::Linear,
        Act::Relu,
        Act::Sigmoid,
        Act::Tanh,
        Act::Relu6,
        Act::Elu,
        Act::HardSigmoid,
        Act::Swish,
        Act::Gelu,
        Act::HardSilu,
        Act::Softmax,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Act::Linear => "linear",
            Act::Relu => "relu",
            Act::Sigmoid => "sigmoid",
            Act::Tanh => "tanh",
            Act::Relu6 => "relu6",
            Act::Elu => "elu",
            Act::HardSigmoid => "hard_sigmoid",
            Act::Swish => "swish",
            Act::Gelu => "gelu",
            Act::HardSilu => "hard_silu",
            Act::Softmax => "softmax",
        }
    }

    /// The element-wise part a kernel's epilogue applies (`Linear` for softmax,
    /// which runs after the kernel over whole rows).
    pub fn elementwise(self) -> Act {
        if self == Act::Softmax {
            Act::Linear
        } else {
            self
        }
    }

    /// The runtime's `Activation`, as a value (for work done at compile time);
    /// the element-wise part.
    pub fn runtime(self) -> skipnet_runtime::Activation {
        use skipnet_runtime::Activation as A;
        match self.elementwise() {
            Act::Relu => A::Relu,
            Act::Sigmoid => A::Sigmoid,
            Act::Tanh => A::Tanh,
            Act::Relu6 => A::Relu6,
            Act::Elu => A::Elu,
            Act::HardSigmoid => A::HardSigmoid,
            Act::Swish => A::Swish,
            Act::Gelu => A::Gelu,
            Act::HardSilu => A::HardSilu,
            Act::Linear | Act::Softmax => A::Linear,
        }
    }

    /// The runtime's `Activation` value (the element-wise part), as tokens.
    pub fn tokens(self, rt: &TokenStream) -> TokenStream {
        activation_tokens(rt, self.runtime())
    }

    /// Statement applying the non-element-wise part to `out` (rows of `n`).
    pub fn after(self, rt: &TokenStream, n: usize, out: &TokenStream) -> TokenStream {
        if self == Act::Softmax {
            quote!(#rt::ops::softmax::softmax_rows(#n, #out);)
        } else {
            TokenStream::new()
        }
    }
}

/// What [`Fusable::channel_affine`] folds into a conv.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChannelAffine {
    /// `gamma * (x - mean) / sqrt(variance + epsilon) + beta`.
    BatchNorm { epsilon: f32 },
    /// `gamma * x`.
    LayerScale,
}

/// The ops the fusion rules (`fuse`) rewrite, as [`Op::fusable`] reports
/// them, with what the rules need to know of each.
#[derive(Clone, Copy)]
pub enum Fusable<'a> {
    /// None of them.
    No,
    /// An element-wise sum (`add`) that a producer may compute.
    Sum,
    /// A `batch_norm`, with its epsilon.
    BatchNorm { epsilon: f32 },
    /// A `layer_scale` (`x * gamma` per channel).
    LayerScale,
    /// A `concat`.
    Concat(&'a concat::Concat),
    /// A nearest upsampling by this factor, which consumers may fold.
    NearestUpsample((usize, usize)),
    /// A zero padding `[top, bottom, left, right]`, which consumers may fold.
    ZeroPadding([usize; 4]),
    /// A standalone element-wise activation, which a producer's epilogue
    /// may apply.
    Activation(Act),
    /// An element-wise `multiply`, whose per-channel operand (a
    /// squeeze-and-excite gate) a conv reading the product may take into
    /// its kernel.
    Product,
}

impl Fusable<'_> {
    pub fn is_sum(self) -> bool {
        matches!(self, Fusable::Sum)
    }

    /// A per-channel affine map that a linear conv before it can absorb
    /// into its kernel and bias: a batch norm or a layer scale.
    pub fn channel_affine(self) -> Option<ChannelAffine> {
        match self {
            Fusable::BatchNorm { epsilon } => Some(ChannelAffine::BatchNorm { epsilon }),
            Fusable::LayerScale => Some(ChannelAffine::LayerScale),
            _ => None,
        }
    }

    /// For a concat of rank-`rank` tensors: the axis (batch-less index).
    pub fn concat_axis(self, rank: usize) -> Option<usize> {
        match self {
            Fusable::Concat(c) => c.axis(rank),
            _ => None,
        }
    }

    pub fn nearest_upsample(self) -> Option<(usize, usize)> {
        match self {
            Fusable::NearestUpsample(f) => Some(f),
            _ => None,
        }
    }

    pub fn zero_padding(self) -> Option<[usize; 4]> {
        match self {
            Fusable::ZeroPadding(p) => Some(p),
            _ => None,
        }
    }

    pub fn activation(self) -> Option<Act> {
        match self {
            Fusable::Activation(a) => Some(a),
            _ => None,
        }
    }

    pub fn is_product(self) -> bool {
        matches!(self, Fusable::Product)
    }
}

/// An operand as the shape rule sees it.
pub struct Operand<'a> {
    pub shape: &'a [usize],
    /// How the user refers to it: a binding name or `upsample2d(...)`.
    pub label: &'a str,
}

impl Operand<'_> {
    pub fn describe(&self) -> String {
        format!("`{}` is {}", self.label, shape_str(self.shape))
    }
}

/// Where a shape error should point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The n-th tensor operand.
    Operand(usize),
    /// A named argument (its value).
    Arg(&'static str),
    /// The call as a whole.
    Call,
}

#[derive(Debug)]
pub struct OpError {
    pub blame: Blame,
    pub msg: String,
}

pub fn op_err<T>(blame: Blame, msg: impl Into<String>) -> Result<T, OpError> {
    Err(OpError {
        blame,
        msg: msg.into(),
    })
}

/// The shape rule of an op that keeps its operand's shape and works per
/// channel (`batch_norm`, `normalization`, `layer_norm`, `layer_scale`):
/// the operand's shape, or an error if it has no channel axis.
pub fn per_channel_shape(name: &str, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
    if ops[0].shape.is_empty() {
        return op_err(
            Blame::Operand(0),
            format!("`{name}` needs a tensor with channels"),
        );
    }
    Ok(ops[0].shape.to_vec())
}

/// One `[C]` weight per variable in `vars`, `C` the operand's channels.
pub fn per_channel_weights(
    vars: impl IntoIterator<Item = &'static str>,
    ins: &[&[usize]],
) -> Vec<WeightSpec> {
    let c = ins[0].last().copied().unwrap_or(0);
    vars.into_iter()
        .map(|var| WeightSpec {
            var,
            shape: vec![c],
        })
        .collect()
}

/// A weight tensor an op owns, with its Keras variable name and layout.
pub struct WeightSpec {
    pub var: &'static str,
    pub shape: Vec<usize>,
}

/// What an op's code generator is given.
pub struct EmitCtx<'a> {
    /// Path of the runtime re-exports (`::skipnet::__private`).
    pub rt: &'a TokenStream,
    /// One `&[f32]` expression per operand.
    pub inputs: &'a [TokenStream],
    pub in_shapes: &'a [Vec<usize>],
    /// A `&mut [f32]` expression for the output.
    pub out: &'a TokenStream,
    pub out_shape: &'a [usize],
    /// One `&[f32]` expression per entry of `Op::weights`.
    pub weights: &'a [TokenStream],
    /// Path of the node's `Op::geometry` constant, if it has one.
    pub geom: &'a TokenStream,
    /// `&[f32]` tensors of the output's shape to add after the activation
    /// (empty unless `Op::accepts_residual`).
    pub residuals: &'a [TokenStream],
    /// The output already holds one more residual, to be added to, not
    /// overwritten (only when `Op::adds_in_place`).
    pub in_place: bool,
    /// Activation of the sum, after the residuals (`Linear` when none).
    pub post: Act,
    /// `(stride, offset)` when the output is written into a concat's buffer
    /// (`out` is then the whole buffer; only when `Op::writes_strided`).
    pub out_layout: Option<(usize, usize)>,
    /// For a concat: which operands were already produced in place (skip them).
    pub in_place_operands: &'a [bool],
    /// A `&mut [f32]` of `Op::scratch_len` elements (only when non-zero).
    pub scratch: &'a TokenStream,
}

/// A weight stored in another layout than Keras's: its stored length and the
/// `fn(&[f32], &mut [f32])` that converts at load time.
pub struct Packing {
    pub len: TokenStream,
    pub pack: TokenStream,
}

/// Network-wide choices (attributes on the declaration) ops may follow.
#[derive(Clone, Copy, Debug)]
pub struct NetOptions {
    /// `#[winograd = false]`: every conv runs the direct algorithm (no
    /// Winograd scratch in the arena: for memory-bound targets).
    pub winograd: bool,
    /// `false` with `#[winograd = f2]`: Winograd F(2x2) only, never
    /// F(4x4), whose rounding error deep plain networks amplify.
    pub winograd_f4: bool,
    /// `#[winograd = fast]`: Winograd on every layer where it runs faster
    /// than the direct kernel (`winograd::worthwhile`), the arena growing
    /// for its scratch where no free memory holds it (for servers, where
    /// memory is plentiful and time is not; the default never grows it).
    pub winograd_fast: bool,
    /// `#[quantized]`: int8 activations and weights with TFLite's
    /// arithmetic (`codegen_int8`); implies `winograd = false`.
    pub quantized: bool,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            winograd: true,
            winograd_f4: true,
            winograd_fast: false,
            quantized: false,
        }
    }
}

impl NetOptions {
    /// The options the declaration's attributes set (`#[winograd = false]`,
    /// `#[winograd = f2]`, `#[winograd = fast]`, `#[quantized]`).
    pub fn from_attrs(attrs: &[syn::Attribute]) -> syn::Result<NetOptions> {
        let mut o = NetOptions::default();
        for a in attrs.iter().filter(|a| a.path().is_ident("quantized")) {
            if !matches!(a.meta, syn::Meta::Path(_)) {
                return Err(syn::Error::new_spanned(
                    a,
                    "expected `#[quantized]` (it takes no value)",
                ));
            }
            o.quantized = true;
        }
        for a in attrs.iter().filter(|a| a.path().is_ident("winograd")) {
            let bad = || {
                syn::Error::new_spanned(
                    a,
                    "expected `#[winograd = false]`, `#[winograd = f2]` (F(2x2) only), `#[winograd = fast]` (the arena may grow for speed) or `= true` (the default)",
                )
            };
            let syn::Meta::NameValue(nv) = &a.meta else {
                return Err(bad());
            };
            match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Bool(b),
                    ..
                }) => o.winograd = b.value,
                syn::Expr::Path(p) if p.path.is_ident("f2") => o.winograd_f4 = false,
                syn::Expr::Path(p) if p.path.is_ident("fast") => o.winograd_fast = true,
                _ => return Err(bad()),
            }
        }
        // Winograd's transforms are float arithmetic; TFLite's int8 conv is direct.
        o.winograd &= !o.quantized;
        Ok(o)
    }
}

/// How a node reads its operand 0 when the op that produced it was folded
/// into the read (and never stored): through nearest upsampling by
/// `upsample`, then zero padding `pad` = `[top, bottom, left, right]` (in
/// the upsampled frame). [`InputView::PLAIN`]: the operand as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputView {
    pub upsample: (usize, usize),
    pub pad: [usize; 4],
}

impl InputView {
    pub const PLAIN: InputView = InputView {
        upsample: (1, 1),
        pad: [0; 4],
    };

    /// The `(h, w)` the op sees of a stored `(h, w)` operand.
    pub fn frame(&self, h: usize, w: usize) -> (usize, usize) {
        let [t, b, l, r] = self.pad;
        (h * self.upsample.0 + t + b, w * self.upsample.1 + l + r)
    }
}

/// How an op runs in a `#[quantized]` network (`codegen_int8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Int8 {
    /// A conv with TFLite's per-channel requantization, its activation
    /// (linear, relu or relu6) fused as a clamp.
    Conv(Act),
    /// `emit` is correct on i8 as it is (its runtime kernel is generic over
    /// the element) because the output keeps operand 0's quantization, as
    /// TFLite's int8 spec has it for concat and nearest resizing; every
    /// operand must then share that quantization (checked at load).
    SameQuantization,
}

/// What a `#[quantized]` network supports, for the error on anything else.
pub const INT8_OPS: &str =
    "`conv2d` (activation linear, relu or relu6), `concat` and `upsample2d` (nearest)";

/// A configured op: shape rule, weights and code generation.
pub trait Op {
    /// Takes note of the network's options (called once, before any other
    /// method but `infer`).
    fn configure(&mut self, _options: &NetOptions) {}
    /// Another op that computes this one faster on these operand shapes,
    /// which replaces it once shapes are known (before fusion): `dense` on
    /// a map becomes a 1x1 conv.
    fn lowered(&self, _in_shapes: &[&[usize]]) -> Option<Box<dyn Op>> {
        None
    }
    /// The output shape, or what is wrong with the operands.
    fn infer(&self, operands: &[Operand]) -> Result<Vec<usize>, OpError>;
    /// Weight tensors, given the operand shapes.
    fn weights(&self, _in_shapes: &[&[usize]]) -> Vec<WeightSpec> {
        Vec::new()
    }
    /// A constant (type, value) describing the configured op, emitted once per
    /// node so that both weight loading and `forward` can name it.
    /// `input`: how operand 0 is read (`InputView::PLAIN` unless an upsample
    /// or a zero padding was folded into this op, see `reads_upsampled_input`
    /// and `reads_padded_input`); the operand shapes are the stored ones.
    fn geometry(
        &self,
        _rt: &TokenStream,
        _in_shapes: &[Vec<usize>],
        _out_shape: &[usize],
        _input: InputView,
    ) -> Option<(TokenStream, TokenStream)> {
        None
    }
    /// Which of the ops the fusion rules rewrite this one is, if any (see
    /// [`Fusable`]): one probe for `fuse`, instead of one method per rule.
    fn fusable(&self) -> Fusable<'_> {
        Fusable::No
    }
    /// Whether operand 0 may be read through nearest upsampling (see `geometry`).
    fn reads_upsampled_input(&self) -> bool {
        false
    }
    /// Whether operand 0 may be read through zero padding (see `geometry`):
    /// the op reads out-of-range cells as zeros anyway, so a padding before it
    /// only moves its window.
    fn reads_padded_input(&self) -> bool {
        false
    }
    /// Whether `emit` can add `EmitCtx::residuals` to its output in the epilogue.
    fn accepts_residual(&self) -> bool {
        false
    }
    /// Whether `emit` can also start from a residual already in the output
    /// (`EmitCtx::in_place`), given the operand shapes.
    fn adds_in_place(&self, _in_shapes: &[&[usize]]) -> bool {
        false
    }
    /// Elements (f32, or bytes in a `#[quantized]` network) of scratch memory `emit` needs (`EmitCtx::scratch`),
    /// placed in the arena by the planner for this node's step only
    /// (`input` as for `geometry`).
    fn scratch_len(
        &self,
        _in_shapes: &[Vec<usize>],
        _out_shape: &[usize],
        _input: InputView,
    ) -> usize {
        0
    }
    /// In a `#[quantized]` network: whether `emit` can compute the output
    /// over its (first) input's memory, and the least distance in elements
    /// from the output's start to the input's for that
    /// (`qgemm::overwrite_gap`); the planner then lays the two that way
    /// where the arena gets shorter for it (`EmitCtx` is not involved: the
    /// int8 code generator calls the kernel itself).
    fn overwrite_gap(
        &self,
        _in_shapes: &[Vec<usize>],
        _out_shape: &[usize],
        _input: InputView,
    ) -> Option<usize> {
        None
    }
    /// Whether a faster algorithm than the one picked is available at the
    /// cost of more scratch than the op's default memory rule allows (a
    /// Winograd conv on a small deep map); the planner then tries it
    /// (`set_wide_scratch`) and keeps it where the arena does not grow.
    fn wants_wide_scratch(&self, _in_shapes: &[Vec<usize>], _out_shape: &[usize]) -> bool {
        false
    }
    /// Takes (`true`) or gives up (`false`) that algorithm.
    fn set_wide_scratch(&mut self, _on: bool) {}
    /// The algorithm `emit` picked for these shapes, when the op has a
    /// choice (`summary()` shows it), e.g. `winograd F(4x4,3x3)`.
    fn algorithm(&self, _in_shapes: &[Vec<usize>], _out_shape: &[usize]) -> Option<&'static str> {
        None
    }
    /// Whether `emit` can write its output as rows of a wider buffer
    /// (`EmitCtx::out_layout`): pixel `p` at `p * stride + offset`.
    fn writes_strided(&self) -> bool {
        false
    }
    /// Whether a `batch_norm` right after this op can be folded into its
    /// weights (a per-filter scale of the kernel and a shifted bias).
    fn folds_batch_norm(&self) -> bool {
        false
    }
    /// Floats of this op's packed kernel when it can take a per-channel
    /// scale of operand 0 into that kernel at run time (the generated code
    /// calls `ops::conv2d::scale_input_channels` into its scratch before
    /// `emit`'s code, which then reads weight 0 from there), on these
    /// operand shapes; `None` when it cannot.
    fn scaled_kernel_len(&self, _in_shapes: &[Vec<usize>], _out_shape: &[usize]) -> Option<usize> {
        None
    }
    /// How weight `var` is stored, when not in Keras's layout (`geom`: the path
    /// of the node's geometry constant).
    fn packing(&self, _var: &str, _rt: &TokenStream, _geom: &TokenStream) -> Option<Packing> {
        None
    }
    /// The stored form of weight `var` (same rule as `packing`), computed now,
    /// for weights baked in at compile time. `None`: stored as in Keras.
    fn pack_now(
        &self,
        _var: &str,
        _raw: &[f32],
        _in_shapes: &[Vec<usize>],
        _out_shape: &[usize],
        _input: InputView,
    ) -> Option<Vec<f32>> {
        None
    }
    /// A conv's runtime geometry on these operands (`input` as for
    /// `geometry`), for code that needs its numbers rather than its tokens
    /// (the int8 kernel's packed length).
    fn conv_geom(
        &self,
        _in_shapes: &[Vec<usize>],
        _out_shape: &[usize],
        _input: InputView,
    ) -> Option<skipnet_runtime::ops::conv2d::Conv2dGeom> {
        None
    }
    /// How the op runs in a `#[quantized]` network; `None`: it cannot (a
    /// compile error at its call listing [`INT8_OPS`]).
    fn int8(&self) -> Option<Int8> {
        None
    }
    /// Statement(s) computing the output.
    fn emit(&self, cx: &EmitCtx) -> TokenStream;
    /// Short configuration text for `summary()` (e.g. `3x3 /2 same relu`).
    fn describe(&self) -> String {
        String::new()
    }
}

/// `[H, W, C]` or an error naming the operand.
pub fn expect_hwc(op: &str, i: usize, o: &Operand) -> Result<(usize, usize, usize), OpError> {
    match o.shape {
        [h, w, c] => Ok((*h, *w, *c)),
        _ => op_err(
            Blame::Operand(i),
            format!("`{op}` needs an image [H, W, C], but {}", o.describe()),
        ),
    }
}

/// `Hwc { h, w, c }` for the runtime.
/// The tokens of runtime activation `a` (its variant, named as in the
/// runtime: every variant is a unit variant).
pub fn activation_tokens(rt: &TokenStream, a: skipnet_runtime::Activation) -> TokenStream {
    let v = format_ident!("{a:?}");
    quote!(#rt::Activation::#v)
}

pub fn hwc_tokens(rt: &TokenStream, s: &[usize]) -> TokenStream {
    let (h, w, c) = (s[0], s[1], s[2]);
    quote!(#rt::ops::Hwc { h: #h, w: #w, c: #c })
}

/// `((out_h, out_w), (pad_top, pad_left))` of a windowed op.
pub type Geometry = ((usize, usize), (usize, usize));

/// Output size and leading pad along one axis, TensorFlow rules.
/// `span` is the effective window `(k - 1) * dilation + 1`.
pub fn window_out(
    input: usize,
    span: usize,
    stride: usize,
    same: bool,
) -> Result<(usize, usize), String> {
    if same {
        let out = input.div_ceil(stride);
        let needed = (out - 1).saturating_mul(stride).saturating_add(span);
        let pad_total = needed.saturating_sub(input);
        Ok((out, pad_total / 2))
    } else if span > input {
        Err(format!(
            "window of {span} is larger than the input's {input}"
        ))
    } else {
        Ok(((input - span) / stride + 1, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_same_and_valid() {
        assert_eq!(window_out(32, 3, 2, true), Ok((16, 0)));
        assert_eq!(window_out(7, 3, 2, true), Ok((4, 1)));
        assert_eq!(window_out(5, 2, 2, true), Ok((3, 0)));
        assert_eq!(window_out(6, 3, 2, true), Ok((3, 0)));
        assert_eq!(window_out(7, 3, 1, true), Ok((7, 1)));
        assert_eq!(window_out(7, 3, 2, false), Ok((3, 0)));
        assert_eq!(window_out(7, 5, 1, false), Ok((3, 0)));
        assert!(window_out(2, 3, 1, false).is_err());
    }

    #[test]
    fn every_op_name_is_unique_and_not_planned() {
        for (i, d) in OPS.iter().enumerate() {
            assert!(OPS[i + 1..].iter().all(|o| o.name != d.name), "{}", d.name);
            assert!(!PLANNED.contains(&d.name), "{}", d.name);
        }
    }
}
