//! Stage 2: syntax tree to a flat dataflow graph. Resolves names, expands block
//! calls (substituting integer parameters, prefixing weight paths), matches call
//! arguments to op signatures and builds the configured ops. Knows nothing of
//! shapes, memory or code.

use crate::diag::{did_you_mean, error, in_context, Errors, Frame, Loc};
use crate::limits::MAX_CANDIDATES;
use crate::ops::{self, Op, OpDef};
use crate::parse::{BlockDef, Call, Expr, NetworkDef, Stmt};
use proc_macro2::Ident;
use std::collections::{BTreeMap, BTreeSet};
use syn::{Attribute, Visibility};

/// Index of a value (network input or node output) in [`Graph::values`].
pub type ValueId = usize;

pub struct Graph {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub inputs: Vec<GraphInput>,
    /// Inputs first (in declaration order), then nodes in schedule order.
    pub values: Vec<Value>,
    pub outputs: Vec<(Ident, ValueId)>,
    /// Shape ascriptions (`name: [H, W, C] = ...`) to check.
    pub ascriptions: Vec<Ascription>,
    /// Bindings nobody reads (reported as warnings).
    pub unused: Vec<Ident>,
}

pub struct GraphInput {
    pub name: Ident,
    /// As written; the shape stage validates it.
    pub dims: Vec<(i128, Loc)>,
    pub loc: Loc,
}

pub struct Ascription {
    pub value: ValueId,
    pub dims: Vec<(i128, Loc)>,
    pub loc: Loc,
    pub binding: String,
    pub context: Vec<Frame>,
}

pub struct Value {
    /// Name in `summary()` and in weight names: the binding path (`b1.a`) or an
    /// automatic name (`upsample2d_1`) for unbound nested calls.
    pub path: String,
    pub kind: ValueKind,
}

pub enum ValueKind {
    Input(usize),
    Node(Node),
}

pub struct Node {
    pub def: &'static OpDef,
    pub op: Box<dyn Op>,
    pub operands: Vec<OperandRef>,
    pub call_loc: Loc,
    /// Locations of the call's named or positional non-tensor arguments.
    pub arg_locs: BTreeMap<&'static str, Loc>,
    /// Set when the op owns weights: `<path>.<var>` names them.
    pub weight_path: Option<String>,
    /// Block instantiations leading here, innermost first.
    pub context: Vec<Frame>,
}

pub struct OperandRef {
    pub value: ValueId,
    pub loc: Loc,
    /// How the call refers to it: a name, or `op(...)` for a nested call.
    pub label: String,
}

impl Graph {
    #[cfg(test)]
    pub fn node(&self, id: ValueId) -> Option<&Node> {
        match &self.values[id].kind {
            ValueKind::Node(n) => Some(n),
            ValueKind::Input(_) => None,
        }
    }
}

/// Lowers one network. Returns the graph of everything that lowered cleanly
/// (so later stages can still report their own errors) and the errors found.
pub fn build(blocks: &[BlockDef], net: &NetworkDef) -> (Graph, Errors) {
    let mut errors = Errors::default();
    let block_map = block_map(blocks, &mut errors);
    let mut l = Lowerer {
        blocks: block_map,
        values: Vec::new(),
        errors,
        counters: BTreeMap::new(),
        ascriptions: Vec::new(),
        unused: Vec::new(),
        reported_unused: BTreeSet::new(),
        expanded: 0,
        too_big: false,
    };
    let mut scope = Scope::default();
    let inputs = l.lower_inputs(net, &mut scope);
    l.lower_body(&net.body, &mut scope, "", &[]);
    let outputs = l.lower_outputs(net, &mut scope);
    l.collect_unused(&scope, "");

    let Lowerer {
        values,
        errors,
        ascriptions,
        unused,
        ..
    } = l;
    let graph = Graph {
        attrs: net
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect(),
        vis: net.vis.clone(),
        name: net.name.clone(),
        inputs,
        values,
        outputs,
        ascriptions,
        unused,
    };
    (graph, errors)
}

/// The blocks by name; a block named like an op or defined twice is an error.
fn block_map<'b>(blocks: &'b [BlockDef], errors: &mut Errors) -> BTreeMap<String, &'b BlockDef> {
    let mut block_map = BTreeMap::new();
    for b in blocks {
        let name = b.name.to_string();
        if ops::lookup(&name).is_some() {
            errors.push(error(
                b.name.span(),
                format!("block `{name}` has the name of an op; rename it"),
            ));
        } else if block_map.insert(name.clone(), b).is_some() {
            errors.push(error(
                b.name.span(),
                format!("block `{name}` is defined twice"),
            ));
        }
    }
    block_map
}

impl Lowerer<'_> {
    /// The network's inputs: a value each, bound in `scope`.
    fn lower_inputs(&mut self, net: &NetworkDef, scope: &mut Scope) -> Vec<GraphInput> {
        let mut inputs = Vec::new();
        for (i, inp) in net.inputs.iter().enumerate() {
            let id = self.values.len();
            self.values.push(Value {
                path: inp.name.to_string(),
                kind: ValueKind::Input(i),
            });
            inputs.push(GraphInput {
                name: inp.name.clone(),
                dims: inp.shape.dims.iter().map(|d| (d.value, d.loc)).collect(),
                loc: inp.shape.loc,
            });
            self.define(scope, &inp.name, Binding::Tensor(id));
        }
        inputs
    }

    /// The network's outputs, each a tensor the body computed (not an input).
    fn lower_outputs(&mut self, net: &NetworkDef, scope: &mut Scope) -> Vec<(Ident, ValueId)> {
        let mut outputs = Vec::new();
        for out in &net.outputs {
            let Some(entry) = scope.names.get(&out.to_string()) else {
                let hint = did_you_mean(&out.to_string(), scope.recent())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                self.errors.push(error(
                    out.span(),
                    format!(
                        "output `{out}` is not defined in the body of `{}`{hint}",
                        net.name
                    ),
                ));
                continue;
            };
            let binding = entry.binding;
            scope.used.insert(out.to_string());
            match binding {
                Binding::Tensor(id) if matches!(self.values[id].kind, ValueKind::Input(_)) => {
                    self.errors.push(error(
                        out.span(),
                        format!("output `{out}` is a network input; an output must be computed by a layer"),
                    ));
                }
                Binding::Tensor(id) => outputs.push((out.clone(), id)),
                Binding::Int(_) => self.errors.push(error(
                    out.span(),
                    format!("output `{out}` must be a tensor"),
                )),
                Binding::Poisoned => {}
            }
        }
        outputs
    }
}

#[derive(Clone, Copy)]
enum Binding {
    Tensor(ValueId),
    Int(i128),
    /// A binding whose expression had errors: uses are silent (already reported).
    Poisoned,
}

struct Entry {
    binding: Binding,
    ident: Ident,
}

#[derive(Default)]
struct Scope {
    names: BTreeMap<String, Entry>,
    /// Definition order, for suggestions and unused reports.
    order: Vec<String>,
    used: BTreeSet<String>,
    /// Every statement name of the body, to tell "defined later" from "unknown".
    later: BTreeMap<String, Loc>,
    /// The integer bindings (block parameters), kept apart from `names` so
    /// that each op call does not scan every name (quadratic in layers).
    ints: BTreeMap<String, i128>,
}

impl Scope {
    /// The names defined last, in order: what a suggestion looks at.
    fn recent(&self) -> impl Iterator<Item = &str> {
        let from = self.order.len().saturating_sub(MAX_CANDIDATES);
        self.order[from..].iter().map(|s| s.as_str())
    }
}

/// Deepest block nesting accepted (guards against runaway expansion).
const MAX_BLOCK_DEPTH: usize = 64;
/// Most nodes one network may expand to (a 10,000-layer network takes seconds
/// to expand; this many, minutes).
const MAX_NODES: usize = 100_000;
/// Most statements all block instantiations of one network may expand: blocks
/// calling blocks several times multiply, and with no op inside they would
/// never reach `MAX_NODES`.
const MAX_EXPANSION: usize = 1_000_000;

struct Lowerer<'a> {
    blocks: BTreeMap<String, &'a BlockDef>,
    values: Vec<Value>,
    errors: Errors,
    counters: BTreeMap<&'static str, usize>,
    ascriptions: Vec<Ascription>,
    unused: Vec<Ident>,
    /// (block, binding) pairs already reported, so a block used twice warns once.
    reported_unused: BTreeSet<(String, String)>,
    /// Statements expanded so far by block calls (see `MAX_EXPANSION`).
    expanded: usize,
    /// Set once a size limit is reported: expansion stops and stays quiet.
    too_big: bool,
}

impl Lowerer<'_> {
    fn define(&mut self, scope: &mut Scope, name: &Ident, b: Binding) {
        let key = name.to_string();
        scope.order.push(key.clone());
        match b {
            Binding::Int(v) => scope.ints.insert(key.clone(), v),
            _ => scope.ints.remove(&key),
        };
        scope.names.insert(
            key,
            Entry {
                binding: b,
                ident: name.clone(),
            },
        );
    }

    fn err(&mut self, e: syn::Error, ctx: &[Frame]) {
        if self.errors.is_full() {
            self.errors.count_dropped();
        } else {
            self.errors.push(in_context(e, ctx));
        }
    }

    /// Reports a size limit once; later calls are silent.
    fn too_big(&mut self, loc: Loc, msg: String, ctx: &[Frame]) {
        if !self.too_big {
            self.too_big = true;
            self.err(error(loc, msg), ctx);
        }
    }

    fn lower_body(&mut self, body: &[Stmt], scope: &mut Scope, prefix: &str, ctx: &[Frame]) {
        for s in body {
            scope
                .later
                .entry(s.name.to_string())
                .or_insert(Loc::at(s.name.span()));
        }
        for s in body {
            let key = s.name.to_string();
            let duplicate = scope.names.get(&key).map(|e| e.ident.clone());
            let path = format!("{prefix}{key}");
            let value = self.lower_expr(&s.expr, Some(&path), scope, ctx);
            if let Some(first) = duplicate {
                let mut e = error(
                    s.name.span(),
                    format!("`{key}` is already defined; every binding needs its own name (weights are named after it)"),
                );
                e.combine(error(
                    first.span(),
                    format!("`{key}` is first defined here"),
                ));
                self.err(e, ctx);
                continue;
            }
            let Some(id) = value else {
                // Keep the name known so later uses do not cascade into "unknown name".
                self.define(scope, &s.name, Binding::Poisoned);
                scope.used.insert(key);
                continue;
            };
            if let Some(a) = &s.ascription {
                self.ascriptions.push(Ascription {
                    value: id,
                    dims: a.dims.iter().map(|d| (d.value, d.loc)).collect(),
                    loc: a.loc,
                    binding: key.clone(),
                    context: ctx.to_vec(),
                });
            }
            self.define(scope, &s.name, Binding::Tensor(id));
        }
    }

    fn collect_unused(&mut self, scope: &Scope, block: &str) {
        for name in &scope.order {
            if scope.used.contains(name) || name.starts_with('_') {
                continue;
            }
            let Some(e) = scope.names.get(name) else {
                continue;
            };
            if self
                .reported_unused
                .insert((block.to_string(), name.clone()))
            {
                self.unused.push(e.ident.clone());
            }
        }
    }

    fn unknown_name(&mut self, id: &Ident, scope: &Scope, ctx: &[Frame]) {
        if self.errors.is_full() {
            // Not shown anyway: spare the suggestion search.
            self.errors.count_dropped();
            return;
        }
        let key = id.to_string();
        let e = if let Some(at) = scope.later.get(&key) {
            let mut e = error(
                id.span(),
                format!("`{key}` is used before it is defined; bindings are evaluated in order"),
            );
            e.combine(error(*at, format!("`{key}` is defined here, later")));
            e
        } else {
            let hint = did_you_mean(&key, scope.recent())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            error(id.span(), format!("cannot find tensor `{key}`{hint}"))
        };
        self.err(e, ctx);
    }

    /// Lowers a tensor expression. `bind` is the weight path when the expression
    /// is the whole right-hand side of a binding.
    fn lower_expr(
        &mut self,
        e: &Expr,
        bind: Option<&str>,
        scope: &mut Scope,
        ctx: &[Frame],
    ) -> Option<ValueId> {
        match e {
            Expr::Name(id) => match scope.names.get(&id.to_string()).map(|e| e.binding) {
                Some(Binding::Tensor(v)) => {
                    scope.used.insert(id.to_string());
                    Some(v)
                }
                Some(Binding::Poisoned) => None,
                Some(Binding::Int(_)) => {
                    scope.used.insert(id.to_string());
                    self.err(
                        error(
                            id.span(),
                            format!("`{id}` is an integer parameter, not a tensor"),
                        ),
                        ctx,
                    );
                    None
                }
                None => {
                    self.unknown_name(id, scope, ctx);
                    None
                }
            },
            Expr::Call(call) => {
                let name = call.func.to_string();
                if self.blocks.contains_key(&name) {
                    return self.lower_block_call(call, bind, scope, ctx);
                }
                self.lower_op_call(call, bind, scope, ctx)
            }
            other => {
                self.err(
                    error(
                        other.loc(),
                        "expected a tensor: a name or an op call like `conv2d(x, 16, 3)`",
                    ),
                    ctx,
                );
                None
            }
        }
    }

    fn lower_op_call(
        &mut self,
        call: &Call,
        bind: Option<&str>,
        scope: &mut Scope,
        ctx: &[Frame],
    ) -> Option<ValueId> {
        let name = call.func.to_string();
        let Some(def) = ops::lookup(&name) else {
            self.unknown_op(call, scope, ctx);
            return None;
        };
        if def.has_weights && bind.is_none() {
            self.err(
                error(
                    call.loc,
                    format!(
                        "`{name}` has weights, so it must be bound to a name: write `layer = {name}(...);` on its own line and pass `layer` here (its weights are named after it: `layer.<variable>`)"
                    ),
                ),
                ctx,
            );
        }
        let bound = match ops::bind(def, call) {
            Ok(b) => b,
            Err(e) => {
                self.err(e, ctx);
                return None;
            }
        };
        for e in bound.values.values() {
            mark_names_used(e, scope);
        }
        let values = ops::Values {
            op: def.name,
            call_loc: call.loc,
            values: &bound.values,
            ints: &scope.ints,
        };
        let built = (def.build)(&values);
        let operands = self.lower_operands(&bound.tensors, scope, ctx);
        let op = match built {
            Ok(op) => op,
            Err(e) => {
                self.err(e, ctx);
                return None;
            }
        };
        let operands = operands?;
        if def.has_weights && bind.is_none() {
            return None;
        }
        if self.values.len() >= MAX_NODES {
            self.too_big(
                call.loc,
                format!("network expands to more than {MAX_NODES} layers"),
                ctx,
            );
            return None;
        }
        let path = match bind {
            Some(p) => p.to_string(),
            None => {
                let n = self.counters.entry(def.name).or_insert(0);
                *n += 1;
                format!("{}_{}", def.name, n)
            }
        };
        let arg_locs = bound.values.iter().map(|(k, v)| (*k, v.loc())).collect();
        let id = self.values.len();
        self.values.push(Value {
            path: path.clone(),
            kind: ValueKind::Node(Node {
                def,
                op,
                operands,
                call_loc: call.loc,
                arg_locs,
                weight_path: def.has_weights.then_some(path),
                context: ctx.to_vec(),
            }),
        });
        Some(id)
    }

    /// Reports a call of an op that does not exist (with the Keras name it
    /// may have meant, or the nearest op or block), then lowers its operands
    /// so their own errors show up too.
    fn unknown_op(&mut self, call: &Call, scope: &mut Scope, ctx: &[Frame]) {
        let name = call.func.to_string();
        let msg = if ops::PLANNED.contains(&name.as_str()) {
            format!("op `{name}` is not supported yet")
        } else if let Some((_, op)) = KERAS_NAMES.iter().find(|(k, _)| *k == name) {
            format!("unknown op `{name}`: the Keras layer `{name}` is written `{op}` here")
        } else if self.errors.is_full() {
            // Not shown anyway: spare the suggestion search.
            String::new()
        } else {
            let candidates = ops::OPS
                .iter()
                .map(|d| d.name)
                .chain(self.blocks.keys().map(|s| s.as_str()))
                .collect::<Vec<_>>();
            match did_you_mean(&name, candidates) {
                Some(s) => format!("unknown op or block `{name}`; did you mean `{s}`?"),
                None => format!("unknown op or block `{name}`"),
            }
        };
        self.err(error(call.func.span(), msg), ctx);
        for a in &call.args {
            if let Expr::Call(_) | Expr::Name(_) = a.value {
                let _ = self.lower_expr_quiet(&a.value, scope, ctx);
            }
        }
    }

    /// Lowers every tensor operand of a call (all of them, so each reports
    /// its own errors); `None` if any failed.
    fn lower_operands(
        &mut self,
        tensors: &[Expr],
        scope: &mut Scope,
        ctx: &[Frame],
    ) -> Option<Vec<OperandRef>> {
        let mut operands = Vec::new();
        let mut ok = true;
        for t in tensors {
            let label = match t {
                Expr::Name(id) => id.to_string(),
                Expr::Call(c) => format!("{}(...)", c.func),
                _ => "?".into(),
            };
            match self.lower_expr(t, None, scope, ctx) {
                Some(v) => operands.push(OperandRef {
                    value: v,
                    loc: t.loc(),
                    label,
                }),
                None => ok = false,
            }
        }
        ok.then_some(operands)
    }

    /// Lowers an operand of an unknown op: errors inside it are still reported.
    fn lower_expr_quiet(&mut self, e: &Expr, scope: &mut Scope, ctx: &[Frame]) -> Option<ValueId> {
        match e {
            Expr::Name(id) if scope.names.contains_key(&id.to_string()) => {
                scope.used.insert(id.to_string());
                None
            }
            Expr::Name(_) => None,
            _ => self.lower_expr(e, Some("_"), scope, ctx),
        }
    }

    fn lower_block_call(
        &mut self,
        call: &Call,
        bind: Option<&str>,
        scope: &mut Scope,
        ctx: &[Frame],
    ) -> Option<ValueId> {
        let name = call.func.to_string();
        let block = *self.blocks.get(&name)?;
        let bind = self.check_block_call(call, bind, block, ctx)?;
        let mut inner = self.bind_block_args(call, block, scope, ctx)?;
        let mut frames = vec![Frame {
            block: name.as_str().into(),
            call: call.loc,
        }];
        frames.extend_from_slice(ctx);
        let prefix = format!("{bind}.");
        self.lower_body(&block.body, &mut inner, &prefix, &frames);
        let out = self.lower_expr(&block.ret, Some(bind), &mut inner, &frames);
        self.collect_unused(&inner, &name);
        out
    }

    /// The checks a block call passes before its body is expanded (no
    /// recursion, depth and expansion limits, bound to a name, positional
    /// arguments of the right count); returns the name it is bound to.
    fn check_block_call<'n>(
        &mut self,
        call: &Call,
        bind: Option<&'n str>,
        block: &BlockDef,
        ctx: &[Frame],
    ) -> Option<&'n str> {
        let name = call.func.to_string();
        let fail = |l: &mut Self, loc: Loc, msg: String| {
            l.err(error(loc, msg), ctx);
            None
        };
        if ctx.iter().any(|f| *f.block == *name) {
            let msg = format!("block `{name}` calls itself; recursive blocks are not allowed");
            return fail(self, call.func.span().into(), msg);
        }
        if ctx.len() >= MAX_BLOCK_DEPTH {
            let msg = format!("blocks nest more than {MAX_BLOCK_DEPTH} deep");
            return fail(self, call.func.span().into(), msg);
        }
        let Some(bind) = bind else {
            let msg = format!("a call of block `{name}` must be bound to a name: `b = {name}(...);` (its layers' weights are named `b.<layer>.kernel`)");
            return fail(self, call.loc, msg);
        };
        if let Some(a) = call.args.iter().find_map(|a| a.name.as_ref()) {
            let msg = format!("block `{name}` takes its arguments by position");
            return fail(self, a.span().into(), msg);
        }
        if call.args.len() != block.params.len() {
            let params: Vec<String> = block.params.iter().map(|p| p.to_string()).collect();
            let msg = format!(
                "block `{name}` takes {} ({}), but {} given",
                plural(block.params.len(), "argument"),
                params.join(", "),
                plural(call.args.len(), "was")
            );
            return fail(self, call.loc, msg);
        }
        self.expanded = self.expanded.saturating_add(block.body.len() + 1);
        if self.too_big || self.expanded > MAX_EXPANSION {
            self.too_big(
                call.loc,
                format!("blocks expand to more than {MAX_EXPANSION} statements in this network (each call of a block expands its whole body, and the calls inside it multiply)"),
                ctx,
            );
            return None;
        }
        Some(bind)
    }

    /// The block's scope: each parameter bound to its argument (an integer,
    /// or a lowered tensor); `None` if any argument failed.
    fn bind_block_args(
        &mut self,
        call: &Call,
        block: &BlockDef,
        scope: &mut Scope,
        ctx: &[Frame],
    ) -> Option<Scope> {
        let mut inner = Scope::default();
        let mut ok = true;
        for (p, a) in block.params.iter().zip(&call.args) {
            let b = match &a.value {
                Expr::Int(i) => Some(Binding::Int(i.value)),
                Expr::Name(id) => match scope.names.get(&id.to_string()).map(|e| e.binding) {
                    Some(Binding::Int(v)) => {
                        scope.used.insert(id.to_string());
                        Some(Binding::Int(v))
                    }
                    _ => self
                        .lower_expr(&a.value, None, scope, ctx)
                        .map(Binding::Tensor),
                },
                other => self
                    .lower_expr(other, None, scope, ctx)
                    .map(Binding::Tensor),
            };
            match b {
                Some(b) => self.define(&mut inner, p, b),
                None => ok = false,
            }
        }
        ok.then_some(inner)
    }
}

/// `1 argument`, `2 arguments`; `1 was`, `2 were`.
fn plural(n: usize, word: &str) -> String {
    match (word, n) {
        ("was", 1) => "1 was".into(),
        ("was", n) => format!("{n} were"),
        (w, 1) => format!("1 {w}"),
        (w, n) => format!("{n} {w}s"),
    }
}

/// Keras layer and function names users type out of habit, with the op to use.
const KERAS_NAMES: &[(&str, &str)] = &[
    ("concatenate", "concat"),
    ("Concatenate", "concat"),
    ("Conv2D", "conv2d"),
    ("MaxPooling2D", "max_pool2d"),
    ("MaxPool2D", "max_pool2d"),
    ("max_pooling2d", "max_pool2d"),
    ("UpSampling2D", "upsample2d"),
    ("up_sampling2d", "upsample2d"),
    ("upsampling2d", "upsample2d"),
    ("Add", "add"),
    ("ReLU", "relu"),
];

/// Marks integer parameters read by an op's value arguments as used.
fn mark_names_used(e: &Expr, scope: &mut Scope) {
    match e {
        Expr::Name(id) if scope.names.contains_key(&id.to_string()) => {
            scope.used.insert(id.to_string());
        }
        Expr::Tuple(items, _) => items.iter().for_each(|i| mark_names_used(i, scope)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Source;
    use quote::quote;

    fn lower(ts: proc_macro2::TokenStream) -> syn::Result<Graph> {
        let src: Source = syn::parse2(ts)?;
        let (g, errors) = build(&src.blocks, &src.networks[0]);
        errors.finish(g)
    }

    fn messages(e: syn::Error) -> Vec<String> {
        e.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn blocks_expand_with_paths_and_int_params() {
        let g = lower(quote! {
            block apes(x, filters) {
                a = conv2d(x, filters, 3, padding = same);
                b = conv2d(x, filters, 1);
                return add(a, b);
            }
            pub Net(x: [8, 8, 4]) -> out {
                b1 = apes(x, 16);
                out = conv2d(upsample2d(b1, 2), 3, 1);
            }
        })
        .unwrap();
        let paths: Vec<&str> = g.values.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, ["x", "b1.a", "b1.b", "b1", "upsample2d_1", "out"]);
        assert_eq!(g.outputs[0].1, 5);
        let n = g.node(3).unwrap();
        assert_eq!(n.def.name, "add");
        assert_eq!(
            n.operands.iter().map(|o| o.value).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(g.node(1).unwrap().weight_path.as_deref(), Some("b1.a"));
        assert!(g.unused.is_empty());
    }

    #[test]
    fn collects_name_errors() {
        let e = lower(quote! {
            pub Net(x: [8, 8, 4]) -> out {
                a = relu(b);
                b = relu(x);
                b = relu(x);
                c = conv3d(x);
                out = relu(cc);
            }
        })
        .err()
        .unwrap();
        let m = messages(e);
        assert!(m[0].contains("`b` is used before it is defined"), "{m:?}");
        assert!(
            m.iter().any(|s| s.contains("`b` is already defined")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|s| s.contains("unknown op or block `conv3d`; did you mean `conv2d`?")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|s| s.contains("cannot find tensor `cc`; did you mean `c`?")),
            "{m:?}"
        );
    }

    #[test]
    fn weighted_op_must_be_bound_and_recursion_is_rejected() {
        let m = messages(
            lower(quote! {
                block r(x) { return r(x); }
                pub Net(x: [8, 8, 4]) -> out {
                    y = r(x);
                    out = add(conv2d(x, 4, 1), x);
                }
            })
            .err()
            .unwrap(),
        );
        assert!(
            m.iter().any(|s| s.contains("block `r` calls itself")),
            "{m:?}"
        );
        assert!(
            m.iter().any(|s| s.contains("in this use of block `r`")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|s| s.contains("`conv2d` has weights, so it must be bound")),
            "{m:?}"
        );
    }

    #[test]
    fn unused_bindings_are_listed() {
        let g = lower(quote! {
            pub Net(x: [8, 8, 4]) -> out {
                dead = relu(x);
                _quiet = relu(x);
                out = relu(x);
            }
        })
        .unwrap();
        assert_eq!(g.unused.len(), 1);
        assert_eq!(g.unused[0], "dead");
    }
}
