// The header says `-> output` but the last binding is called `out`.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> output {
        c1  = conv2d(x, 16, 3, padding = same, activation = relu);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
