// A 3x3 pool on a 2x2 map under the default `padding = valid`.
use skipnet::network;

network! {
    pub Tiny(x: [4, 4, 4]) -> out {
        c   = conv2d(x, 8, 3, activation = relu);
        p   = max_pool2d(c, 3, strides = 1);
        out = conv2d(p, 2, 1);
    }
}

fn main() {}
