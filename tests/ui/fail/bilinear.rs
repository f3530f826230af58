use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { u = upsample2d(x, 2, interpolation = bilinear); out = conv2d(u, 4, 1); }
}

fn main() {}
