// 4 groups but 30 filters.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 16]) -> out {
        g   = conv2d(x, 30, 3, padding = same, groups = 4);
        out = conv2d(g, 4, 1);
    }
}

fn main() {}
