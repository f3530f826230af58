//! `max_pool2d`: Keras `MaxPooling2D`.

use super::*;

pub static DEF: OpDef = OpDef {
    name: "max_pool2d",
    params: &[
        Param {
            name: "x",
            kind: Kind::Tensor,
        },
        Param {
            name: "pool_size",
            kind: Kind::Optional,
        },
        Param {
            name: "strides",
            kind: Kind::Optional,
        },
        Param {
            name: "padding",
            kind: Kind::Optional,
        },
    ],
    has_weights: false,
    build,
};

pub struct MaxPool2d {
    pool: (usize, usize),
    strides: (usize, usize),
    same: bool,
}

fn build(v: &Values) -> syn::Result<Box<dyn Op>> {
    let pool = v.pair("pool_size", Some((2, 2)))?;
    Ok(Box::new(MaxPool2d {
        pool,
        // Keras: strides default to pool_size.
        strides: v.pair("strides", Some(pool))?,
        same: v.choice("padding", &["valid", "same"], "valid")? == "same",
    }))
}

impl MaxPool2d {
    fn geometry(&self, h: usize, w: usize) -> Result<Geometry, OpError> {
        let axis = |input: usize, k: usize, s: usize, name: &str| {
            window_out(input, k, s, self.same).or_else(|_| {
                op_err(
                    Blame::Arg("pool_size"),
                    format!(
                        "`max_pool2d` with `padding = valid`: the pool {name} {k} is more than the input {name} {input}, so the output would be empty; use `padding = same` or pool earlier"
                    ),
                )
            })
        };
        let (oh, ph) = axis(h, self.pool.0, self.strides.0, "height")?;
        let (ow, pw) = axis(w, self.pool.1, self.strides.1, "width")?;
        Ok(((oh, ow), (ph, pw)))
    }
}

impl Op for MaxPool2d {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let (h, w, c) = expect_hwc("max_pool2d", 0, &ops[0])?;
        let ((oh, ow), _) = self.geometry(h, w)?;
        Ok(vec![oh, ow, c])
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let s = &cx.in_shapes[0];
        let Ok((_, (ph, pw))) = self.geometry(s[0], s[1]) else {
            return quote!(compile_error!("max_pool2d geometry changed after shape check"););
        };
        let input = hwc_tokens(rt, s);
        let output = hwc_tokens(rt, cx.out_shape);
        let (kh, kw) = self.pool;
        let (sh, sw) = self.strides;
        let (x, out) = (&cx.inputs[0], cx.out);
        quote! {
            const GEOM: #rt::ops::max_pool2d::Pool2dGeom = #rt::ops::max_pool2d::Pool2dGeom {
                input: #input,
                output: #output,
                pool: (#kh, #kw),
                strides: (#sh, #sw),
                pad: (#ph, #pw),
            };
            #rt::ops::max_pool2d::max_pool2d(&GEOM, #x, #out);
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}x{} /{}x{} {}",
            self.pool.0,
            self.pool.1,
            self.strides.0,
            self.strides.1,
            if self.same { "same" } else { "valid" }
        )
    }
}
