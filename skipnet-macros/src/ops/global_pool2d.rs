//! `global_avg_pool2d` and `global_max_pool2d`: Keras `GlobalAveragePooling2D`
//! and `GlobalMaxPooling2D` (`keepdims = False`): `[H, W, C]` to `[C]`.

use super::*;

const X: &[Param] = &[Param::tensor("x")];

pub static AVG: OpDef = OpDef {
    name: "global_avg_pool2d",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(GlobalPool2d { max: false })),
};

pub static MAX: OpDef = OpDef {
    name: "global_max_pool2d",
    params: X,
    has_weights: false,
    build: |_| Ok(Box::new(GlobalPool2d { max: true })),
};

pub struct GlobalPool2d {
    max: bool,
}

impl GlobalPool2d {
    fn name(&self) -> &'static str {
        if self.max {
            "global_max_pool2d"
        } else {
            "global_avg_pool2d"
        }
    }
}

impl Op for GlobalPool2d {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let (_, _, c) = expect_hwc(self.name(), 0, &ops[0])?;
        Ok(vec![c])
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let rt = cx.rt;
        let input = hwc_tokens(rt, &cx.in_shapes[0]);
        let (x, out) = (&cx.inputs[0], cx.out);
        let f = if self.max {
            quote!(global_max_pool2d)
        } else {
            quote!(global_avg_pool2d)
        };
        quote!(#rt::ops::global_pool2d::#f(#input, #x, #out);)
    }
}
