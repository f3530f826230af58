// A grouped conv with 4 groups on an RGB (3-channel) input.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        g   = conv2d(x, 32, 3, padding = same, groups = 4);
        out = conv2d(g, 4, 1);
    }
}

fn main() {}
