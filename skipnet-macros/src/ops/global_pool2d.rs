//! `global_avg_pool2d` and `global_max_pool2d`: Keras `GlobalAveragePooling2D`
//! and `GlobalMaxPooling2D`: `[H, W, C]` to `[C]`, or to `[1, 1, C]` with
//! `keepdims = true` (squeeze-and-excite; the data is the same).

use super::*;

const X: &[Param] = &[Param::tensor("x"), Param::optional("keepdims")];

pub static AVG: OpDef = OpDef {
    name: "global_avg_pool2d",
    params: X,
    has_weights: false,
    build: |v| {
        Ok(Box::new(GlobalPool2d {
            max: false,
            keepdims: v.boolean("keepdims", false)?,
        }))
    },
};

pub static MAX: OpDef = OpDef {
    name: "global_max_pool2d",
    params: X,
    has_weights: false,
    build: |v| {
        Ok(Box::new(GlobalPool2d {
            max: true,
            keepdims: v.boolean("keepdims", false)?,
        }))
    },
};

pub struct GlobalPool2d {
    max: bool,
    keepdims: bool,
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
        Ok(if self.keepdims {
            vec![1, 1, c]
        } else {
            vec![c]
        })
    }

    fn describe(&self) -> String {
        if self.keepdims {
            "keepdims = true".into()
        } else {
            String::new()
        }
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
