// A residual block adds its input to a conv with `filters` channels: called with
// 32 filters on a 16-channel input, the `add` inside the block fails.
use skipnet::network;

network! {
    block residual(x, filters) {
        a = conv2d(x, filters, 3, padding = same, activation = relu);
        b = conv2d(a, filters, 3, padding = same);
        return add(x, b);
    }
    pub ResNet(x: [32, 32, 16]) -> out {
        r1  = residual(x, 16);
        r2  = residual(r1, 32);
        out = conv2d(r2, 4, 1);
    }
}

fn main() {}
