//! `dense`: Keras `Dense`, applied along the last axis (`[N]` to `[units]`, or
//! `[H, W, C]` to `[H, W, units]` as Keras does on higher ranks).

use super::*;

pub static DEF: OpDef = OpDef {
    name: "dense",
    params: &[
        Param::tensor("x"),
        Param::required("units"),
        Param::optional("activation"),
        Param::optional("use_bias"),
    ],
    has_weights: true,
    build,
};

pub struct Dense {
    units: usize,
    activation: Act,
    use_bias: bool,
}

fn build(v: &Values) -> syn::Result<Box<dyn Op>> {
    Ok(Box::new(Dense {
        units: v.positive("units", None)?,
        activation: v.activation()?,
        use_bias: v.boolean("use_bias", true)?,
    }))
}

impl Op for Dense {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let mut out = ops[0].shape.to_vec();
        match out.last_mut() {
            Some(last) => *last = self.units,
            None => {
                return op_err(
                    Blame::Operand(0),
                    format!(
                        "`dense` needs a tensor with at least one axis, but {}",
                        ops[0].describe()
                    ),
                )
            }
        }
        Ok(out)
    }

    // On a `[H, W, C]` map (ConvNeXt's MLP, a classifier on a map), a
    // matrix-vector product per pixel reads the whole kernel once per pixel;
    // the 1x1 conv reads it once per tile of pixels.
    fn lowered(&self, in_shapes: &[&[usize]]) -> Option<Box<dyn Op>> {
        (in_shapes.first()?.len() == 3).then(|| {
            Box::new(super::conv2d::Conv2d::dense_on_map(
                self.units,
                self.activation,
                self.use_bias,
            )) as Box<dyn Op>
        })
    }

    fn weights(&self, ins: &[&[usize]]) -> Vec<WeightSpec> {
        let features = ins[0].last().copied().unwrap_or(0);
        let mut w = vec![WeightSpec {
            var: "kernel",
            shape: vec![features, self.units],
        }];
        if self.use_bias {
            w.push(WeightSpec {
                var: "bias",
                shape: vec![self.units],
            });
        }
        w
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let features = cx.in_shapes[0].last().copied().unwrap_or(0);
        let units = self.units;
        let act = self.activation.tokens(rt);
        let (x, out, kernel) = (&cx.inputs[0], cx.out, &cx.weights[0]);
        let bias = match cx.weights.get(1) {
            Some(b) => quote!(::core::option::Option::Some(#b)),
            None => quote!(::core::option::Option::None),
        };
        let after = self.activation.after(rt, units, out);
        quote! {
            #rt::ops::dense::dense_on(__exec, #features, #units, #act, #x, #kernel, #bias, #out);
            #after
        }
    }

    fn describe(&self) -> String {
        let mut d = format!("{} units", self.units);
        if self.activation != Act::Linear {
            d += &format!(" {}", self.activation.name());
        }
        if !self.use_bias {
            d += " no bias";
        }
        d
    }
}
