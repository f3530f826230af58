// Block arguments swapped at the call site: `stage(16, x)` instead of `stage(x, 16)`.
use skipnet::network;

network! {
    block stage(x, filters) {
        c = conv2d(x, filters, 3, padding = same, activation = relu);
        return max_pool2d(c, 2);
    }
    pub Net(x: [32, 32, 3]) -> out {
        s1  = stage(16, x);
        out = conv2d(s1, 4, 1);
    }
}

fn main() {}
