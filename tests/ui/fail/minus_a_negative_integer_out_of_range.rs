// `- -N` is minus a negative literal; negating i128::MIN overflowed.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out {
        out = concat(x, x, axis = - -170141183460469231731687303715884105728);
    }
}

fn main() {}
