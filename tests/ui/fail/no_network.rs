use skipnet::network;

network! {
    block b(x) { return relu(x); }
}

fn main() {}
