// Calling a block Python-style with a keyword argument.
use skipnet::network;

network! {
    block stage(x, filters) {
        c = conv2d(x, filters, 3, padding = same, activation = relu);
        return max_pool2d(c, 2);
    }
    pub Net(x: [32, 32, 3]) -> out {
        s1  = stage(x, filters = 16);
        out = conv2d(s1, 4, 1);
    }
}

fn main() {}
