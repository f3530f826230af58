use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { dead = relu(x); out = conv2d(x, 4, 1); }
}
fn probe() { let _: u8 = 300; }
network! {
    pub Net2(x: [8, 8, 3]) -> out { out = conv2d(x, 4, 1); }
}

fn main() {}
