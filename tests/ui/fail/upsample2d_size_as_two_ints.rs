// `upsample2d(x, 2, 2)`: the second 2 lands in `interpolation`.
use skipnet::network;

network! {
    pub Up(x: [8, 8, 16]) -> out {
        u   = upsample2d(x, 2, 2);
        out = conv2d(u, 4, 3, padding = same);
    }
}

fn main() {}
