// `size` written as two integers instead of a `(2, 2)` pair, then the interpolation.
use skipnet::network;

network! {
    pub Up(x: [8, 8, 16]) -> out {
        u   = upsample2d(x, 2, 2, nearest);
        out = conv2d(u, 4, 3, padding = same);
    }
}

fn main() {}
