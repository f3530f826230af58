//! `max_pool2d` and `avg_pool2d`: Keras `MaxPooling2D` and `AveragePooling2D`
//! (same signature and window rules; the average does not count padding cells).

use super::*;

const PARAMS: &[Param] = &[
    Param::tensor("x"),
    Param::optional("pool_size"),
    Param::optional("strides"),
    Param::optional("padding"),
];

pub static MAX: OpDef = OpDef {
    name: "max_pool2d",
    params: PARAMS,
    has_weights: false,
    build: |v| build(v, false),
};

pub static AVG: OpDef = OpDef {
    name: "avg_pool2d",
    params: PARAMS,
    has_weights: false,
    build: |v| build(v, true),
};

pub struct Pool2d {
    avg: bool,
    pool: (usize, usize),
    strides: (usize, usize),
    same: bool,
}

fn build(v: &Values, avg: bool) -> syn::Result<Box<dyn Op>> {
    let pool = v.pair("pool_size", Some((2, 2)))?;
    Ok(Box::new(Pool2d {
        avg,
        pool,
        // Keras: strides default to pool_size.
        strides: v.pair("strides", Some(pool))?,
        same: v.choice("padding", &["valid", "same"], "valid")? == "same",
    }))
}

impl Pool2d {
    fn name(&self) -> &'static str {
        if self.avg {
            "avg_pool2d"
        } else {
            "max_pool2d"
        }
    }

    fn geometry(&self, h: usize, w: usize) -> Result<Geometry, OpError> {
        let axis = |input: usize, k: usize, s: usize, name: &str| {
            window_out(input, k, s, self.same).or_else(|_| {
                op_err(
                    Blame::Arg("pool_size"),
                    format!(
                        "`{}` with `padding = valid`: the pool {name} {k} is more than the input {name} {input}, so the output would be empty; use `padding = same` or pool earlier",
                        self.name()
                    ),
                )
            })
        };
        let (oh, ph) = axis(h, self.pool.0, self.strides.0, "height")?;
        let (ow, pw) = axis(w, self.pool.1, self.strides.1, "width")?;
        Ok(((oh, ow), (ph, pw)))
    }
}

impl Op for Pool2d {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let (h, w, c) = expect_hwc(self.name(), 0, &ops[0])?;
        let ((oh, ow), _) = self.geometry(h, w)?;
        Ok(vec![oh, ow, c])
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let s = &cx.in_shapes[0];
        let Ok((_, (ph, pw))) = self.geometry(s[0], s[1]) else {
            return quote!(compile_error!("pool geometry changed after shape check"););
        };
        let input = hwc_tokens(rt, s);
        let output = hwc_tokens(rt, cx.out_shape);
        let (kh, kw) = self.pool;
        let (sh, sw) = self.strides;
        let (x, out) = (&cx.inputs[0], cx.out);
        let (module, kernel) = if self.avg {
            (quote!(avg_pool2d), quote!(avg_pool2d_on))
        } else {
            (quote!(max_pool2d), quote!(max_pool2d_on))
        };
        quote! {
            const GEOM: #rt::ops::max_pool2d::Pool2dGeom = #rt::ops::max_pool2d::Pool2dGeom {
                input: #input,
                output: #output,
                pool: (#kh, #kw),
                strides: (#sh, #sw),
                pad: (#ph, #pw),
            };
            #rt::ops::#module::#kernel(__exec, &GEOM, #x, #out);
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
