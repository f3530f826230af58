// Arguments swapped inside the block: `conv2d(filters, x, ...)`.
use skipnet::network;

network! {
    block stage(x, filters) {
        c = conv2d(filters, x, 3, padding = same, activation = relu);
        return max_pool2d(c, 2);
    }
    pub Net(x: [32, 32, 3]) -> out {
        s1  = stage(x, 16);
        out = conv2d(s1, 4, 1);
    }
}

fn main() {}
