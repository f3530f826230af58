// `maxpool2d` instead of `max_pool2d`.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, padding = same, activation = relu);
        p1  = maxpool2d(c1, 2);
        out = conv2d(p1, 4, 1);
    }
}

fn main() {}
