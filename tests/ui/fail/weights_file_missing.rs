// The weights file does not exist (paths are relative to the crate's Cargo.toml).
use skipnet::network;

network! {
    #[weights = "weights/no_such_file.safetensors"]
    pub Net(x: [8, 8, 3]) -> out {
        out = conv2d(x, 4, 1);
    }
}

fn main() {}
