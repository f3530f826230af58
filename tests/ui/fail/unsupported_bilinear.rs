// `interpolation = bilinear` is in DSL.md §2 but not implemented yet.
use skipnet::network;

network! {
    pub Up(x: [8, 8, 16]) -> out {
        u   = upsample2d(x, 2, interpolation = bilinear);
        out = conv2d(u, 4, 3, padding = same);
    }
}

fn main() {}
