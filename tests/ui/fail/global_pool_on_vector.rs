// Global pooling needs a feature map: here it is given the already-pooled vector.
use skipnet::network;

network! {
    pub Head(x: [8, 8, 4]) -> out {
        c   = conv2d(x, 16, 3, padding = same);
        g   = global_avg_pool2d(c);
        out = global_max_pool2d(g);
    }
}

fn main() {}
