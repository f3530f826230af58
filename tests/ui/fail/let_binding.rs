// Rust habit: `let` in front of a binding.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        let c1 = conv2d(x, 16, 3, padding = same);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
