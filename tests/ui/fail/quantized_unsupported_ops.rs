use skipnet::network;

network! {
    block head(x) {
        s = conv2d(x, 8, 1, activation = sigmoid);
        return s;
    }
    #[quantized]
    pub Q(x: [8, 8, 4]) -> out {
        a   = conv2d(x, 8, 3, padding = same, activation = relu6);
        d   = depthwise_conv2d(a, 3, padding = same);
        h   = head(d);
        s   = add(a, h);
        up  = upsample2d(s, 2, interpolation = bilinear);
        out = conv2d(up, 4, 1);
    }
}

fn main() {}
