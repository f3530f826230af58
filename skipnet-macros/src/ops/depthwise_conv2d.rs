//! `depthwise_conv2d`: Keras `DepthwiseConv2D`. It is a grouped convolution
//! with one group per input channel and `depth_multiplier` filters each, and
//! Keras's `[kh, kw, in, depth_multiplier]` kernel has exactly the memory
//! layout of that grouped conv's `[kh, kw, 1, in * depth_multiplier]` kernel,
//! so everything past the signature is `conv2d`'s, resolved once the input's
//! channel count is known.

use super::conv2d::Conv2d;
use super::*;

pub static DEF: OpDef = OpDef {
    name: "depthwise_conv2d",
    params: &[
        Param {
            name: "x",
            kind: Kind::Tensor,
        },
        Param {
            name: "kernel_size",
            kind: Kind::Required,
        },
        Param {
            name: "strides",
            kind: Kind::Optional,
        },
        Param {
            name: "padding",
            kind: Kind::Optional,
        },
        Param {
            name: "depth_multiplier",
            kind: Kind::Optional,
        },
        Param {
            name: "dilation_rate",
            kind: Kind::Optional,
        },
        Param {
            name: "activation",
            kind: Kind::Optional,
        },
        Param {
            name: "use_bias",
            kind: Kind::Optional,
        },
    ],
    has_weights: true,
    build,
};

pub struct Depthwise {
    depth_multiplier: usize,
    /// `filters` and `groups` are filled in per input by [`Depthwise::conv`].
    base: Conv2d,
}

fn build(v: &Values) -> syn::Result<Box<dyn Op>> {
    // `filters` and `groups` are set per input by `conv`.
    let base = Conv2d::from_args(v, "depthwise_conv2d", 1, 1, v.activation()?)?;
    Ok(Box::new(Depthwise {
        depth_multiplier: v.positive("depth_multiplier", Some(1))?,
        base,
    }))
}

impl Depthwise {
    /// The grouped conv this is on an input of `cin` channels.
    fn conv(&self, cin: usize) -> Conv2d {
        self.base.depthwise_on(cin, self.depth_multiplier)
    }

    fn cin(shapes: &[&[usize]]) -> usize {
        shapes.first().and_then(|s| s.get(2)).copied().unwrap_or(1)
    }
}

impl Op for Depthwise {
    fn infer(&self, ops: &[Operand]) -> Result<Vec<usize>, OpError> {
        let (_, _, c) = expect_hwc("depthwise_conv2d", 0, &ops[0])?;
        if c.checked_mul(self.depth_multiplier)
            .is_none_or(|f| f > crate::shape::MAX_ELEMENTS)
        {
            return op_err(
                Blame::Arg("depth_multiplier"),
                "`depthwise_conv2d` output channels (input channels x depth_multiplier) overflow",
            );
        }
        self.conv(c).infer(ops)
    }

    fn weights(&self, ins: &[&[usize]]) -> Vec<WeightSpec> {
        let cin = Self::cin(ins);
        let (kh, kw) = self.base.kernel;
        let mut w = vec![WeightSpec {
            var: "kernel",
            shape: vec![kh, kw, cin, self.depth_multiplier],
        }];
        if self.base.use_bias {
            w.push(WeightSpec {
                var: "bias",
                shape: vec![cin * self.depth_multiplier],
            });
        }
        w
    }

    fn geometry(
        &self,
        rt: &TokenStream,
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
        up: (usize, usize),
    ) -> Option<(TokenStream, TokenStream)> {
        let cin = in_shapes.first()?.get(2).copied()?;
        Op::geometry(&self.conv(cin), rt, in_shapes, out_shape, up)
    }

    fn reads_upsampled_input(&self) -> bool {
        true
    }

    fn accepts_residual(&self) -> bool {
        self.base.accepts_residual()
    }

    fn folds_batch_norm(&self) -> bool {
        self.base.folds_batch_norm()
    }

    fn writes_strided(&self) -> bool {
        self.base.writes_strided()
    }

    fn adds_in_place(&self, in_shapes: &[&[usize]]) -> bool {
        self.conv(Self::cin(in_shapes)).adds_in_place(in_shapes)
    }

    fn packing(&self, var: &str, rt: &TokenStream, geom: &TokenStream) -> Option<Packing> {
        self.base.packing(var, rt, geom)
    }

    fn pack_now(
        &self,
        var: &str,
        raw: &[f32],
        in_shapes: &[Vec<usize>],
        out_shape: &[usize],
        up: (usize, usize),
    ) -> Option<Vec<f32>> {
        let cin = in_shapes.first()?.get(2).copied()?;
        self.conv(cin).pack_now(var, raw, in_shapes, out_shape, up)
    }

    fn emit(&self, cx: &EmitCtx) -> TokenStream {
        let cin = cx
            .in_shapes
            .first()
            .and_then(|s| s.get(2))
            .copied()
            .unwrap_or(1);
        self.conv(cin).emit(cx)
    }

    fn describe(&self) -> String {
        let mut d = self.base.describe();
        if self.depth_multiplier != 1 {
            d += &format!(" x{}", self.depth_multiplier);
        }
        d
    }
}
