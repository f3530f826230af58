// A residual block whose shortcut has 64 channels but whose main path ends with 32.
use skipnet::network;

network! {
    pub ResNetish(x: [32, 32, 3]) -> out {
        stem  = conv2d(x, 64, 3, padding = same, activation = relu);
        main1 = conv2d(stem, 64, 3, padding = same, activation = relu);
        main2 = conv2d(main1, 32, 3, padding = same);
        res   = add(stem, main2);
        out   = conv2d(res, 10, 1);
    }
}

fn main() {}
