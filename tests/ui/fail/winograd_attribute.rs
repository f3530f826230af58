use skipnet::network;

network! {
    #[winograd = "no"]
    pub A(x: [8, 8, 32]) -> y {
        y = conv2d(x, 16, 3, padding = same);
    }
}

network! {
    #[algorithm = direct]
    pub B(x: [8, 8, 32]) -> y {
        y = conv2d(x, 16, 3, padding = same);
    }
}

fn main() {}
