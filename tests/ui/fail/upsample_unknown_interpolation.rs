// Keras's UpSampling2D also knows `bicubic`; skipnet has `nearest` and `bilinear`.
use skipnet::network;

network! {
    pub Up(x: [8, 8, 16]) -> out {
        u   = upsample2d(x, 2, interpolation = bicubic);
        out = conv2d(u, 4, 3, padding = same);
    }
}

fn main() {}
