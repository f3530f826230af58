// Baking weights in at compile time is specified (DSL.md §4) but not implemented yet.
use skipnet::network;

network! {
    #[weights = "tests/fixtures/seed_unet/weights.safetensors"]
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, padding = same, activation = relu);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
