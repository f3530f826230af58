//! `reshape(x, target_shape)`: Keras `Reshape` (the batch left out): one
//! size or a tuple of up to three, at most one of them `-1` (inferred), with
//! as many elements as `x`. Channels-last order is row-major, so the data
//! is copied unchanged; EfficientNet's squeeze-and-excite reshapes its
//! pooled `[C]` to `[1, 1, C]`.

use super::*;

pub static DEF: OpDef = OpDef {
    name: "reshape",
    params: &[Param::tensor("x"), Param::required("target_shape")],
    has_weights: false,
    build: |v| {
        let name = "target_shape";
        let Some(e) = v.values.get(name) else {
            return Err(error(v.call_loc, "`reshape` needs `target_shape`"));
        };
        let items: Vec<&Expr> = match e {
            Expr::Tuple(items, _) => items.iter().collect(),
            e => vec![e],
        };
        if items.is_empty() || items.len() > 3 {
            return Err(error(
                e.loc(),
                format!(
                    "`target_shape` of `reshape` takes 1 to 3 sizes, found {}",
                    items.len()
                ),
            ));
        }
        let mut dims = Vec::new();
        for item in items {
            let (d, loc) = v.int_of(name, item)?;
            if d != -1 && d < 1 {
                return Err(error(
                    loc,
                    format!("`target_shape` of `reshape`: sizes are at least 1 (or -1, inferred), found `{d}`"),
                ));
            }
            dims.push(d);
        }
        if dims.iter().filter(|&&d| d == -1).count() > 1 {
            return Err(error(
                e.loc(),
                "`target_shape` of `reshape` may infer one size (-1), not more",
            ));
        }
        Ok(Box::new(Reshape { dims }))
    },
};

pub struct Reshape {
    /// As written: sizes, at most one -1.
    dims: Vec<i128>,
}

impl Op for Reshape {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        // Every shape passed the overflow-checked element limit, so this fits.
        let total: usize = ops[0].shape.iter().product();
        let known: i128 = self.dims.iter().filter(|&&d| d != -1).product();
        let infer = self.dims.contains(&-1);
        let fits = match infer {
            true => known > 0 && total as i128 % known == 0,
            false => known == total as i128,
        };
        if !fits {
            let wanted: Vec<String> = self.dims.iter().map(i128::to_string).collect();
            let need = match infer {
                true => format!("a multiple of {known} elements"),
                false => format!("{known} elements"),
            };
            return op_err(
                Blame::Arg("target_shape"),
                format!(
                    "`reshape` to ({}) needs {need}, but {} ({total} elements)",
                    wanted.join(", "),
                    ops[0].describe()
                ),
            );
        }
        Ok(self
            .dims
            .iter()
            .map(|&d| match d {
                -1 => (total as i128 / known) as usize,
                d => d as usize,
            })
            .collect())
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let (x, out) = (&cx.inputs[0], cx.out);
        quote!((#out).copy_from_slice(#x);)
    }

    fn describe(&self) -> String {
        let d: Vec<String> = self.dims.iter().map(i128::to_string).collect();
        format!("to ({})", d.join(", "))
    }
}
