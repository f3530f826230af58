use skipnet::network;

network! {
    pub A(x: [8, 8, 3]) -> y {
        y = layer_norm(x, center = 1, epsilon = -0.5);
    }
}

fn main() {}
