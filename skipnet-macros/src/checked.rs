//! The checked network: the graph with every shape inferred, the fusions
//! found and the arena planned (stages 4 and 5 run by [`Checked::new`]). Built once after the `plan` stage, it is the
//! one value the later stages (`weights`, `bake`, `profile`, `codegen`) read,
//! instead of the graph, its shapes, fusions and plan passed side by side.

use crate::ops::NetOptions;
use crate::{fuse, graph, plan, shape};

/// A network that passed every check, with its fusions and memory plan.
pub struct Checked {
    pub graph: graph::Graph,
    /// The shape of every value of `graph`, in `graph.values` order.
    pub shapes: Vec<Vec<usize>>,
    pub fusions: fuse::Fusions,
    pub plan: plan::ArenaPlan,
}

impl Checked {
    /// Finds the fusions of a shape-checked graph and plans its arena (with
    /// each op's wider Winograd scratch where it costs no arena); `Err` if
    /// the plan fails its own check (a planner bug). `options.quantized`:
    /// an int8 network, where only the fusions that move data apply;
    /// `options.winograd_fast`: the wider scratch is taken even where the
    /// arena grows for it.
    pub fn new(
        mut graph: graph::Graph,
        shapes: Vec<Vec<usize>>,
        options: &NetOptions,
    ) -> Result<Checked, String> {
        let quantized = options.quantized;
        let fusions = fusions(&graph, &shapes, quantized);
        let align = if quantized { 1 } else { plan::F32_ALIGN };
        let plan = plan_memory(&graph, &shapes, &fusions, align);
        let grow = options.winograd_fast;
        let plan = widen_where_free(&mut graph, &shapes, &fusions, plan, grow);
        plan.check()?;
        Ok(Checked {
            graph,
            shapes,
            fusions,
            plan,
        })
    }
}

/// The fusions of a shape-checked graph (each op says what it can absorb).
pub fn fusions(g: &graph::Graph, shapes: &[Vec<usize>], quantized: bool) -> fuse::Fusions {
    let in_place_ok = |v: usize| match &g.values[v].kind {
        graph::ValueKind::Node(n) => {
            let ins: Vec<&[usize]> = n
                .operands
                .iter()
                .map(|o| shapes[o.value].as_slice())
                .collect();
            n.op.adds_in_place(&ins)
        }
        graph::ValueKind::Input(_) => false,
    };
    fuse::find(g, shapes, &in_place_ok, quantized)
}

/// Scratch floats the step that stores value `v` needs: that of the kernel
/// that runs in it, which for a fused sum or a folded batch norm is the
/// producer's (a separable conv's depthwise result); none for a node that
/// only runs inside another's step.
fn kernel_scratch(
    g: &graph::Graph,
    shapes: &[Vec<usize>],
    fusions: &fuse::Fusions,
    v: usize,
    kind: &graph::ValueKind,
) -> usize {
    if !matches!(kind, graph::ValueKind::Node(_)) || fusions.computed_into(v).is_some() {
        return 0;
    }
    let runner = fusions.sum(v).map_or(v, |s| s.producer);
    match &g.values[runner].kind {
        graph::ValueKind::Node(n) => {
            let (ins, up) = fusions.stored_operands(n, shapes);
            // A kernel scaled by a folded product's gate (fuse rule 8) goes
            // in the scratch too, ahead of the op's own.
            let scaled = match fusions.input_scale(runner) {
                Some(_) => n.op.scaled_kernel_len(&ins, &shapes[runner]).unwrap_or(0),
                None => 0,
            };
            scaled + n.op.scratch_len(&ins, &shapes[runner], up)
        }
        graph::ValueKind::Input(_) => 0,
    }
}

/// Whether the step that stores value `v` can compute it over its first
/// operand (`Op::overwrite_gap`), and how far before it.
fn overwrite(
    shapes: &[Vec<usize>],
    fusions: &fuse::Fusions,
    v: usize,
    kind: &graph::ValueKind,
) -> Option<plan::Overwrite> {
    let graph::ValueKind::Node(n) = kind else {
        return None;
    };
    if fusions.computed_into(v).is_some() || fusions.sum(v).is_some() || fusions.slot(v).is_some() {
        return None;
    }
    let (ins, up) = fusions.stored_operands(n, shapes);
    let gap = n.op.overwrite_gap(&ins, &shapes[v], up)?;
    let operand = fusions.source(n.operands.first()?.value).0;
    Some(plan::Overwrite { operand, gap })
}

/// Gives each op that wants more scratch for a faster algorithm
/// (`Op::wants_wide_scratch`: Winograd on a small deep map) that algorithm
/// where the arena does not grow: its scratch then sits in memory that is
/// free at its step anyway (a network's arena is set by its largest live
/// set, usually early, large maps). One op at a time, in graph order, each
/// kept only if the re-planned arena is no longer than before, or whatever
/// it costs with `grow` (`#[winograd = fast]`).
fn widen_where_free(
    g: &mut graph::Graph,
    shapes: &[Vec<usize>],
    fusions: &fuse::Fusions,
    mut plan: plan::ArenaPlan,
    grow: bool,
) -> plan::ArenaPlan {
    for id in 0..g.values.len() {
        let wants = match &g.values[id].kind {
            graph::ValueKind::Node(n) => {
                let (ins, _) = fusions.stored_operands(n, shapes);
                n.op.wants_wide_scratch(&ins, &shapes[id])
            }
            graph::ValueKind::Input(_) => false,
        };
        if !wants {
            continue;
        }
        let set = |g: &mut graph::Graph, on: bool| {
            if let graph::ValueKind::Node(n) = &mut g.values[id].kind {
                n.op.set_wide_scratch(on);
            }
        };
        set(g, true);
        let wider = plan_memory(g, shapes, fusions, plan.align);
        if grow || wider.arena_len <= plan.arena_len {
            plan = wider;
        } else {
            set(g, false);
        }
    }
    plan
}

/// The arena plan of a graph once `fusions` apply, every offset a multiple
/// of `align` elements.
pub fn plan_memory(
    g: &graph::Graph,
    shapes: &[Vec<usize>],
    fusions: &fuse::Fusions,
    align: usize,
) -> plan::ArenaPlan {
    let values: Vec<plan::PlanValue> = g
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| plan::PlanValue {
            len: shape::elements(&shapes[i]).unwrap_or(0),
            external: matches!(v.kind, graph::ValueKind::Input(_)),
            operands: fusions.reads(g, i),
            reuses: fusions.in_place_of(i),
            inside: fusions.slot(i),
            scratch: kernel_scratch(g, shapes, fusions, i, &v.kind),
            overwrites: overwrite(shapes, fusions, i, &v.kind),
        })
        .collect();
    let outputs: Vec<usize> = g.outputs.iter().map(|(_, v)| *v).collect();
    plan::plan(&values, &outputs, align)
}
