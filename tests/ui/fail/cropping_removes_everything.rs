// Cropping 3 + 3 rows off a 6-row map leaves nothing.
use skipnet::network;

network! {
    pub Net(x: [6, 8, 4]) -> out {
        out = cropping2d(x, ((3, 3), (1, 1)));
    }
}

fn main() {}
