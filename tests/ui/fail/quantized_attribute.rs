use skipnet::network;

network! {
    #[quantized = true]
    pub A(x: [8, 8, 4]) -> y {
        y = conv2d(x, 4, 3, padding = same);
    }
}

fn main() {}
