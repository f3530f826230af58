// A grayscale image declared `[H, W]` instead of `[H, W, 1]`.
use skipnet::network;

network! {
    pub Net(x: [28, 28]) -> out {
        out = conv2d(x, 4, 3, padding = same);
    }
}

fn main() {}
