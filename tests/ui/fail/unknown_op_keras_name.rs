// Keras spells it `Concatenate` / `layers.concatenate`; the DSL spells it `concat`.
use skipnet::network;

network! {
    pub Net(x: [16, 16, 3]) -> out {
        a   = conv2d(x, 8, 3, padding = same);
        b   = conv2d(x, 8, 1);
        c   = concatenate(a, b);
        out = conv2d(c, 4, 1);
    }
}

fn main() {}
