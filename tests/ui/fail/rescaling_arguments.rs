use skipnet::network;

network! {
    pub A(x: [8, 8, 3]) -> y {
        a = rescaling(x);
        y = rescaling(a, 0.5, offset = valid);
    }
}

fn main() {}
