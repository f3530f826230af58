// `#[weights]` takes the file's path as a string.
use skipnet::network;

network! {
    #[weights(seed_unet)]
    pub Net(x: [8, 8, 3]) -> out {
        out = conv2d(x, 4, 1);
    }
}

fn main() {}
