// An integer literal no dimension can have.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = conv2d(x, 99999999999999999999999999999999999999999, 1); }
}

fn main() {}
