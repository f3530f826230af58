// A shape ascription inside a block forgets that the conv is `valid`.
use skipnet::network;

network! {
    block stage(x) {
        c: [32, 32, 8] = conv2d(x, 8, 3, activation = relu);
        return max_pool2d(c, 2);
    }
    pub Net(x: [32, 32, 3]) -> out {
        s1  = stage(x);
        out = conv2d(s1, 4, 1);
    }
}

fn main() {}
