// Two definitions of the same block.
use skipnet::network;

network! {
    block stage(x) {
        c = conv2d(x, 8, 3, padding = same, activation = relu);
        return max_pool2d(c, 2);
    }
    block stage(x) {
        c = conv2d(x, 16, 3, padding = same, activation = relu);
        return max_pool2d(c, 2);
    }
    pub Net(x: [32, 32, 3]) -> out {
        s1  = stage(x);
        out = conv2d(s1, 4, 1);
    }
}

fn main() {}
