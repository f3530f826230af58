//! `concat`: Keras `Concatenate` (any axis; all other axes equal).

use super::*;

pub static DEF: OpDef = OpDef {
    name: "concat",
    params: &[Param::tensors("inputs"), Param::optional("axis")],
    has_weights: false,
    build: |v| {
        Ok(Box::new(Concat {
            axis: v.int("axis", -1)?,
        }))
    },
};

/// `axis` as Keras counts it: the batch is axis 0, so channels are -1 or 3.
pub struct Concat {
    axis: i128,
}

impl Concat {
    /// The axis index within the (batch-less) shape.
    fn resolve(&self, rank: usize) -> Result<usize, OpError> {
        let with_batch = rank as i128 + 1;
        let a = if self.axis < 0 {
            self.axis + with_batch
        } else {
            self.axis
        };
        if a <= 0 || a >= with_batch {
            let hint = if a == 0 { " (axis 0 is the batch)" } else { "" };
            return op_err(
                Blame::Arg("axis"),
                format!(
                    "`concat` axis {} is out of range for rank-{rank} tensors{hint}; Keras counts the batch as axis 0, so use 1..={rank} or -{rank}..=-1",
                    self.axis
                ),
            );
        }
        Ok(a as usize - 1)
    }

    fn outer(&self, shape: &[usize]) -> usize {
        self.resolve(shape.len())
            .map(|a| shape[..a].iter().product())
            .unwrap_or(1)
    }
}

impl Concat {
    /// The axis (batch-less index) for rank-`rank` tensors, if in range.
    pub fn axis(&self, rank: usize) -> Option<usize> {
        self.resolve(rank).ok()
    }
}

impl Op for Concat {
    fn fusable(&self) -> Fusable<'_> {
        Fusable::Concat(self)
    }

    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        if ops.len() < 2 {
            return op_err(Blame::Call, "`concat` needs at least two tensors");
        }
        let rank = ops[0].shape.len();
        let axis = self.resolve(rank)?;
        let mut out = ops[0].shape.to_vec();
        for (i, o) in ops.iter().enumerate().skip(1) {
            let same_rest = o.shape.len() == rank
                && (0..rank).all(|d| d == axis || o.shape[d] == ops[0].shape[d]);
            if !same_rest {
                let which = match (rank, axis) {
                    (3, 2) => "H and W".to_string(),
                    _ => format!("sizes on every axis but axis {}", self.axis),
                };
                return op_err(
                    Blame::Operand(i),
                    format!(
                        "`concat` needs equal {which}: {} but {}",
                        ops[0].describe(),
                        o.describe()
                    ),
                );
            }
            out[axis] = match out[axis].checked_add(o.shape[axis]) {
                Some(v) => v,
                None => return op_err(Blame::Call, "`concat` output size overflows"),
            };
        }
        Ok(out)
    }

    // The copy keeps its operands' quantization (TFLite's int8 CONCATENATION).
    fn int8(&self) -> Option<Int8> {
        Some(Int8::SameQuantization)
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let outer = self.outer(cx.out_shape);
        let (ins, out) = (cx.inputs, cx.out);
        if !cx.in_place_operands.iter().any(|&p| p) {
            return quote!(#rt::ops::concat::concat(#outer, &[#(#ins),*], #out););
        }
        // Copy only the operands not already produced in their slice.
        let mut parts = Vec::new();
        let mut at = 0usize;
        for (k, s) in cx.in_shapes.iter().enumerate() {
            let chunk = s.iter().product::<usize>() / outer.max(1);
            if !cx.in_place_operands.get(k).copied().unwrap_or(false) {
                let x = &ins[k];
                parts.push(quote!((#at, #x)));
            }
            at += chunk;
        }
        if parts.is_empty() {
            return quote!(let _ = #out;);
        }
        quote!(#rt::ops::concat::concat_parts(#outer, &[#(#parts),*], #out);)
    }

    fn describe(&self) -> String {
        format!("axis {}", self.axis)
    }
}
