// Each block calls the next 9 times: 9^7 (4.8 million) instantiations. The
// expansion stops at a budget instead of running (almost) forever.
use skipnet::network;

network! {
    block b0(x) { c0 = b1(x); c1 = b1(c0); c2 = b1(c1); c3 = b1(c2); c4 = b1(c3); c5 = b1(c4); c6 = b1(c5); c7 = b1(c6); return b1(c7); }
    block b1(x) { c0 = b2(x); c1 = b2(c0); c2 = b2(c1); c3 = b2(c2); c4 = b2(c3); c5 = b2(c4); c6 = b2(c5); c7 = b2(c6); return b2(c7); }
    block b2(x) { c0 = b3(x); c1 = b3(c0); c2 = b3(c1); c3 = b3(c2); c4 = b3(c3); c5 = b3(c4); c6 = b3(c5); c7 = b3(c6); return b3(c7); }
    block b3(x) { c0 = b4(x); c1 = b4(c0); c2 = b4(c1); c3 = b4(c2); c4 = b4(c3); c5 = b4(c4); c6 = b4(c5); c7 = b4(c6); return b4(c7); }
    block b4(x) { c0 = b5(x); c1 = b5(c0); c2 = b5(c1); c3 = b5(c2); c4 = b5(c3); c5 = b5(c4); c6 = b5(c5); c7 = b5(c6); return b5(c7); }
    block b5(x) { c0 = b6(x); c1 = b6(c0); c2 = b6(c1); c3 = b6(c2); c4 = b6(c3); c5 = b6(c4); c6 = b6(c5); c7 = b6(c6); return b6(c7); }
    block b6(x) { c0 = b7(x); c1 = b7(c0); c2 = b7(c1); c3 = b7(c2); c4 = b7(c3); c5 = b7(c4); c6 = b7(c5); c7 = b7(c6); return b7(c7); }
    block b7(x) { return x; }
    pub Net(x: [8, 8, 3]) -> out {
        out = b0(x);
    }
}

fn main() {}
