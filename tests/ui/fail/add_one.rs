use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { a = relu(x); out = add(a); }
}

fn main() {}
