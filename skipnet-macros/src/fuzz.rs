//! Hostile-input fuzzing of the whole macro (`expand`, front end to codegen).
//!
//! Three kinds of declarations, all from one seeded PRNG (no dependencies):
//!
//! - token-level mutations of valid declarations (`SEEDS`): token trees
//!   dropped, duplicated, swapped, moved between groups, spliced in from another
//!   seed; integers replaced by 0, 1, negative and huge values; identifiers by
//!   others from the seeds, keywords, raw, unicode or random ones; punctuation,
//!   delimiters and literals changed; groups unwrapped or wrapped;
//! - random well-formed networks (`gen_valid`), which must all be accepted;
//! - extremes (`extreme`): deep nesting of calls, tuples and groups, recursive
//!   and exponentially expanding blocks, 10,000-layer networks, thousands of
//!   errors, inputs, outputs or networks, very long identifiers.
//!
//! Each case runs `expand` under `catch_unwind` on a thread with a 4 MiB stack
//! (half of what rustc gives the macro), so a stack overflow aborts the test. A
//! case passes when `expand` returns, `Ok` tokens parse as a `syn::File`, and
//! no error is an "internal error". Failures are minimized and printed.
//!
//! ```text
//! cargo test -p skipnet-macros fuzz -- --nocapture                # CI default
//! SKIPNET_FUZZ_CASES=100000 cargo test -p skipnet-macros --release fuzz -- --nocapture
//! SKIPNET_FUZZ_SECONDS=600 cargo test -p skipnet-macros --release fuzz -- --nocapture
//! SKIPNET_FUZZ_SEED=7 SKIPNET_FUZZ_ONLY=1234 cargo test -p skipnet-macros fuzz -- --nocapture
//! ```

use crate::expand;
use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Cases per run when `SKIPNET_FUZZ_CASES` is unset (about 10 s in a debug build).
const DEFAULT_CASES: u64 = 2000;
/// Stack of the thread that runs `expand`.
const STACK: usize = 4 << 20;

// ---------------------------------------------------------------- the PRNG

/// The fuzzers' generator, shared with the runtime's loader fuzzer.
use skipnet_runtime::testing::SplitMix64 as Rng;

/// The seed of case `i` of a run seeded with `seed`.
fn case_seed(seed: u64, i: u64) -> u64 {
    Rng(seed ^ i.wrapping_mul(0xD6E8_FEB8_6659_FD93)).next_u64()
}

// ---------------------------------------------------------------- seeds

/// Valid declarations (every op, keyword argument, header form and block use).
const SEEDS: &[&str] = &[
    // DSL.md §1's SkipUNet.
    r#"
    /// Encoder-decoder with concatenate skips (the classic Keras example).
    pub SkipUNet(x: [32, 32, 3]) -> out {
        conv1  = conv2d(x, 32, 3, strides = 2, padding = same, activation = relu);
        conv2  = conv2d(conv1, 64, 3, strides = 2, padding = same, activation = relu);
        conv3  = conv2d(conv2, 128, 3, strides = 2, padding = same, activation = relu);
        conv4  = conv2d(conv3, 128, 3, strides = 2, padding = same, activation = relu);
        up1    = conv2d(upsample2d(conv4, 2), 128, 3, padding = same, activation = relu);
        merge1 = concat(conv3, up1);
        up2    = conv2d(upsample2d(merge1, 2), 64, 3, padding = same, activation = relu);
        merge2 = concat(conv2, up2);
        up3    = conv2d(upsample2d(merge2, 2), 32, 3, padding = same, activation = relu);
        merge3 = concat(conv1, up3);
        up4    = conv2d(upsample2d(merge3, 2), 32, 3, padding = same);
        out    = conv2d(up4, 3, 3, padding = same);
    }"#,
    // An int8 network (DSL.md §4): a block, strides, a folded upsample,
    // concat slots, relu6, a grouped conv (the reference path), odd filters.
    r#"
    block down(x, f) {
        a = conv2d(x, f, 3, strides = 2, padding = same, activation = relu6);
        return a;
    }
    #[quantized]
    pub Int8Net(x: [16, 16, 3]) -> out {
        d1  = down(x, 8);
        d2  = down(d1, 16);
        g   = conv2d(d2, 16, 1, groups = 4);
        u   = conv2d(upsample2d(g, 2), 8, 3, padding = same, activation = relu);
        m   = concat(d1, u);
        out = conv2d(upsample2d(m, 2), 3, 3, padding = same);
    }"#,
    // DSL.md §1's ApesNet: one block used twice.
    r#"
    /// Two parallel paths merged by element-wise addition.
    block apes(x, filters) {
        a = conv2d(x, filters, 3, padding = same, activation = relu);
        b = conv2d(x, filters, 1, padding = same);
        return add(a, b);
    }
    pub ApesNet(x: [64, 64, 16]) -> out {
        b1  = apes(x, 16);
        p1  = max_pool2d(b1, 2);
        b2  = apes(p1, 32);
        out = conv2d(b2, 4, 1);
    }"#,
    // Blocks calling blocks, integer parameters passed through.
    r#"
    block conv_bn(x, filters, stride) {
        c = conv2d(x, filters, 3, strides = stride, padding = same, activation = relu);
        return conv2d(c, filters, (1, 1), use_bias = false);
    }
    block down(x, filters) {
        first = conv_bn(x, filters, 2);
        wide  = conv2d(first, filters, 3, dilation_rate = 2, padding = same, groups = 2);
        return add(first, wide);
    }
    block twice(x, f) {
        d = down(x, f);
        e: [4, 4, 32] = down(d, f);
        return relu(e);
    }
    pub(crate) Encoder(x: [16, 16, 4]) -> out {
        t   = twice(x, 32);
        out: [4, 4, 8] = conv2d(t, 8, 1);
    }"#,
    // Keyword arguments, pairs, every activation, positional axis, vectors.
    r#"
    pub Keywords(x: [13, 12, 5]) -> out {
        a = conv2d(x, filters = 8, kernel_size = (3, 1), strides = (2, 1), padding = same, activation = tanh);
        b = conv2d(x, filters = 4, kernel_size = 3, strides = (2, 1), padding = same, use_bias = false, activation = sigmoid);
        c = concat(a, b, -1);
        p = max_pool2d(c, pool_size = (2, 3), strides = 1, padding = valid);
        u = upsample2d(p, size = (1, 2), interpolation = nearest);
        out = conv2d(u, 2, 1, activation = linear);
    }
    pub Vectors(a: [8], b: [4]) -> out {
        c   = concat(a, b, axis = 1);
        d   = relu(c);
        out = add(d, c, sigmoid(c));
    }"#,
    // Several inputs, tuple outputs, ascriptions.
    r#"
    /// An image and a guide map fused, with a full-resolution and a coarse head.
    pub Fusion(image: [16, 16, 3], guide: [16, 16, 1]) -> (fine, coarse) {
        fi = conv2d(image, 8, 3, padding = same, activation = relu);
        fg = conv2d(guide, 8, 3, padding = same, activation = relu);
        fused: [16, 16, 16] = concat(fi, fg);
        fine = conv2d(fused, 2, 1, activation = sigmoid);
        pooled = max_pool2d(fused, 2);
        coarse: [8, 8, 1] = conv2d(pooled, 1, 3, padding = same, activation = tanh);
    }"#,
    // Odd sizes, dilation, groups, n-ary merges, nested weightless calls.
    r#"
    pub Corner(x: [13, 12, 5]) -> out {
        s2  = conv2d(x, 8, 3, strides = 2, padding = same, activation = tanh);
        d   = conv2d(x, 6, (3, 2), dilation_rate = (2, 1), padding = same, activation = sigmoid);
        v: [9, 10, 8] = conv2d(d, 8, (5, 3), activation = relu);
        g   = conv2d(v, 8, 3, padding = same, groups = 2, use_bias = false);
        mp  = max_pool2d(g, 3, strides = 2, padding = same);
        mv  = max_pool2d(s2, (2, 3), strides = (1, 2));
        up  = conv2d(upsample2d(mv, (1, 3)), 8, 2);
        c   = concat(mp, up, mp);
        h   = conv2d(c, 8, 1);
        a   = add(h, mp, up);
        out: [3, 3, 3] = conv2d(concat(relu(a), tanh(a), sigmoid(h)), 3, 3, strides = 2, padding = same);
    }"#,
    // Heads: dense, global pools, flatten; two networks in one macro.
    r#"
    pub Heads(x: [9, 7, 6]) -> (logits, score) {
        c      = conv2d(x, 12, 3, strides = 2, padding = same, activation = relu);
        v      = concat(global_avg_pool2d(c), global_max_pool2d(c));
        fc1    = dense(v, 16, activation = relu);
        logits = dense(fc1, 5);
        pix    = dense(c, 4, activation = tanh, use_bias = false);
        score  = dense(flatten(pix), 3, activation = sigmoid);
    }
    pub ApesBlockNet(x: [64, 64, 16]) -> gap {
        stem     = conv2d(x, 32, 3, padding = same, activation = relu);
        b1_conv3 = conv2d(stem, 32, 3, padding = same, activation = relu);
        b1_conv1 = conv2d(stem, 32, 1, padding = same);
        pool1    = max_pool2d(relu(add(b1_conv3, b1_conv1)), 2);
        head     = conv2d(pool1, 10, 1, padding = same);
        _spare   = linear(head);
        gap      = global_avg_pool2d(head);
    }"#,
    // Every op of DSL.md §2 with its keyword arguments, floats included.
    r#"
    block pair(x, f) {
        t = conv2d_transpose(x, f, 3, strides = 2, padding = same, activation = relu, use_bias = true);
        d = depthwise_conv2d(t, 3, strides = 1, padding = same, depth_multiplier = 1);
        s = separable_conv2d(d, f, 3, padding = valid);
        return batch_norm(s, epsilon = 0.001);
    }
    pub AllOps(x: [16, 16, 8], v: [10]) -> (o1, o2) {
        nrm = normalization(rescaling(x, 0.00392156862745098, offset = -0.5));
        pre = layer_norm(nrm, epsilon = 0.000001, center = true, scale = false);
        flat = reshape(pre, (16, -1));
        back = reshape(flat, (16, 16, 8));
        p  = pair(back, 8);
        a  = avg_pool2d(p, pool_size = 2, strides = 2, padding = same);
        z  = zero_padding2d(a, (1, 1));
        c  = cropping2d(z, 1);
        s  = subtract(c, c);
        m  = multiply(s, c, c);
        av = average(m, s);
        mx = maximum(av, m);
        mn = minimum(mx, av);
        u  = upsample2d(mn, size = 2, interpolation = bilinear);
        r  = relu6(leaky_relu(elu(hard_sigmoid(u)), alpha = 0.3));
        g  = gelu(swish(softmax(r)));
        o1 = dropout(g, 0.5);
        d1 = dense(v, 4, activation = relu);
        o2 = global_max_pool2d(x);
    }"#,
];

/// Words the mutator substitutes for identifiers, beyond the seeds' own.
const WORDS: &[&str] = &[
    "block",
    "return",
    "pub",
    "crate",
    "fn",
    "let",
    "in",
    "self",
    "Self",
    "super",
    "true",
    "false",
    "None",
    "same",
    "valid",
    "relu",
    "linear",
    "nearest",
    "bilinear",
    "axis",
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "activation",
    "use_bias",
    "groups",
    "dilation_rate",
    "pool_size",
    "size",
    "interpolation",
    "units",
    "conv2d",
    "dense",
    "add",
    "concat",
    "flatten",
    "Conv2D",
    "concatenate",
    "x",
    "out",
    "ws",
    "N0",
    "_",
    "_x",
    "ñame",
    "π",
    "変数",
    "r#type",
    "r#relu",
    "r#x",
    "a1",
    "Workspace",
    "__skipnet_x",
    "main",
    "std",
    "core",
    "skipnet",
    "weights",
    "doc",
    "cfg",
    "inline",
];

/// Token snippets the mutator inserts or substitutes.
const SNIPPETS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    "-0",
    "7",
    "65536",
    "2147483648",
    "4294967296",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "170141183460469231731687303715884105727",
    "170141183460469231731687303715884105728",
    "340282366920938463463374607431768211455",
    "340282366920938463463374607431768211456",
    "99999999999999999999999999999999999999999999999999",
    "1e30",
    "1.5",
    "0.0",
    "3f32",
    "3u8",
    "300u8",
    "1i128",
    "2usize",
    "0x10",
    "0b11",
    "0o7",
    "1_000",
    "'c'",
    "b'x'",
    "\"same\"",
    "b\"bytes\"",
    "r\"raw\"",
    "true",
    "false",
    ",",
    ";",
    "=",
    ":",
    "-",
    "->",
    "=>",
    "==",
    "::",
    "#",
    "!",
    "?",
    "$",
    "...",
    "..=",
    "&",
    "*",
    "+",
    "/",
    "<",
    ">",
    "@",
    "|",
    "~",
    "^",
    "%",
    ".",
    "#[doc = \"d\"]",
    "#[weights = \"w.safetensors\"]",
    "#[inline]",
    "pub",
    "pub(crate)",
    "pub(in crate::a)",
    "block",
    "return",
    "conv2d(x, 4, 3)",
    "relu(x)",
    "[1, 1, 1]",
    "[]",
    "()",
    "{}",
    "(,)",
];

fn parse_ts(s: &str) -> TokenStream {
    TokenStream::from_str(s).unwrap_or_else(|e| panic!("fuzz seed does not tokenize: {e}: {s}"))
}

/// An identifier for `s` (raw for `r#...`), or `None` if `s` is not one.
fn ident(s: &str) -> Option<Ident> {
    match TokenStream::from_str(s).ok()?.into_iter().next()? {
        TokenTree::Ident(i) => Some(i),
        _ => None,
    }
}

// ---------------------------------------------------------------- the mutable token tree

/// A token tree whose groups can be edited in place.
#[derive(Clone)]
enum Tok {
    Leaf(TokenTree),
    Group(Delimiter, Vec<Tok>),
}

fn to_tree(ts: TokenStream) -> Vec<Tok> {
    ts.into_iter()
        .map(|t| match t {
            TokenTree::Group(g) => Tok::Group(g.delimiter(), to_tree(g.stream())),
            other => Tok::Leaf(other),
        })
        .collect()
}

fn to_stream(toks: &[Tok]) -> TokenStream {
    toks.iter()
        .map(|t| match t {
            Tok::Leaf(l) => l.clone(),
            Tok::Group(d, inner) => TokenTree::Group(Group::new(*d, to_stream(inner))),
        })
        .collect()
}

/// Number of token lists (the top level and every group's contents).
fn count_lists(toks: &[Tok]) -> usize {
    1 + toks
        .iter()
        .map(|t| match t {
            Tok::Group(_, inner) => count_lists(inner),
            Tok::Leaf(_) => 0,
        })
        .sum::<usize>()
}

/// Calls `f` on the `k`-th token list (pre-order). Returns whether it was found.
fn with_list<R>(
    toks: &mut Vec<Tok>,
    k: &mut usize,
    f: &mut dyn FnMut(&mut Vec<Tok>) -> R,
) -> Option<R> {
    if *k == 0 {
        return Some(f(toks));
    }
    *k -= 1;
    for t in toks.iter_mut() {
        if let Tok::Group(_, inner) = t {
            if let Some(r) = with_list(inner, k, f) {
                return Some(r);
            }
        }
    }
    None
}

fn leaves<'a>(toks: &'a [Tok], out: &mut Vec<&'a TokenTree>) {
    for t in toks {
        match t {
            Tok::Leaf(l) => out.push(l),
            Tok::Group(_, inner) => leaves(inner, out),
        }
    }
}

fn count_toks(toks: &[Tok]) -> usize {
    toks.iter()
        .map(|t| match t {
            Tok::Leaf(_) => 1,
            Tok::Group(_, inner) => 1 + count_toks(inner),
        })
        .sum()
}

// ---------------------------------------------------------------- the mutator

struct Corpus {
    seeds: Vec<Vec<Tok>>,
    idents: Vec<Ident>,
    snippets: Vec<Vec<Tok>>,
}

impl Corpus {
    fn new() -> Corpus {
        let seeds: Vec<Vec<Tok>> = SEEDS.iter().map(|s| to_tree(parse_ts(s))).collect();
        let mut idents = Vec::new();
        for s in &seeds {
            let mut ls = Vec::new();
            leaves(s, &mut ls);
            for l in ls {
                if let TokenTree::Ident(i) = l {
                    if !idents.iter().any(|j: &Ident| j == i) {
                        idents.push(i.clone());
                    }
                }
            }
        }
        idents.extend(WORDS.iter().filter_map(|w| ident(w)));
        let snippets = SNIPPETS.iter().map(|s| to_tree(parse_ts(s))).collect();
        Corpus {
            seeds,
            idents,
            snippets,
        }
    }

    fn random_ident(&self, rng: &mut Rng) -> Ident {
        match rng.below(10) {
            0 => {
                let len = rng.range(1, 12);
                let mut s = String::new();
                for i in 0..len {
                    let alphabet: &[u8] = if i == 0 {
                        b"abcxyzXYZ_"
                    } else {
                        b"abcxyz_0123456789"
                    };
                    s.push(*rng.pick(alphabet) as char);
                }
                if s == "_" {
                    s.push('a');
                }
                Ident::new(&s, Span::call_site())
            }
            1 => Ident::new(&"l".repeat(rng.range(100, 300)), Span::call_site()),
            _ => rng.pick(&self.idents).clone(),
        }
    }

    fn random_int(&self, rng: &mut Rng) -> Vec<Tok> {
        let lit = |l: Literal| vec![Tok::Leaf(TokenTree::Literal(l))];
        let neg = |l: Literal| {
            vec![
                Tok::Leaf(TokenTree::Punct(Punct::new('-', Spacing::Alone))),
                Tok::Leaf(TokenTree::Literal(l)),
            ]
        };
        match rng.below(16) {
            0 => lit(Literal::u64_unsuffixed(0)),
            1 => lit(Literal::u64_unsuffixed(1)),
            2 => neg(Literal::u64_unsuffixed(1)),
            3 => neg(Literal::u64_unsuffixed(rng.range(2, 5) as u64)),
            4 => lit(Literal::u64_unsuffixed(u64::MAX)),
            5 => lit(Literal::u64_unsuffixed(1 << 31)),
            6 => lit(Literal::u64_unsuffixed(1 << 63)),
            7 => lit(Literal::u128_unsuffixed(u128::MAX)),
            8 => lit(Literal::u128_unsuffixed(1 << 64)),
            9 => neg(Literal::u128_unsuffixed(1 << 127)),
            10 => lit(Literal::f64_unsuffixed(1e30)),
            // A negative literal token (what `Literal::i64_unsuffixed(-1)` makes).
            11 => lit(Literal::i64_unsuffixed(-(rng.range(1, 3) as i64))),
            12 => neg(Literal::i128_unsuffixed(i128::MIN)),
            13 => lit(Literal::i128_unsuffixed(i128::MIN)),
            14 => lit(Literal::u64_unsuffixed(rng.range(2, 70000) as u64)),
            _ => rng.pick(&self.snippets).clone(),
        }
    }

    fn random_tok(&self, rng: &mut Rng) -> Vec<Tok> {
        match rng.below(4) {
            0 => vec![Tok::Leaf(TokenTree::Ident(self.random_ident(rng)))],
            1 => self.random_int(rng),
            _ => rng.pick(&self.snippets).clone(),
        }
    }

    /// A random token subsequence of a random seed.
    fn donor(&self, rng: &mut Rng) -> Vec<Tok> {
        let mut seed = rng.pick(&self.seeds).clone();
        let mut k = rng.below(count_lists(&seed));
        with_list(&mut seed, &mut k, &mut |l: &mut Vec<Tok>| {
            if l.is_empty() {
                return Vec::new();
            }
            let a = rng.below(l.len());
            let b = rng.range(a, (a + 8).min(l.len() - 1));
            l[a..=b].to_vec()
        })
        .unwrap_or_default()
    }

    /// Applies one random mutation to `toks`.
    fn mutate(&self, rng: &mut Rng, toks: &mut Vec<Tok>) {
        let lists = count_lists(toks);
        let mut k = rng.below(lists);
        let which = rng.below(15);
        // Moves take a token tree out of one list and put it into another.
        if which == 14 {
            let taken = with_list(toks, &mut k, &mut |l: &mut Vec<Tok>| {
                (!l.is_empty()).then(|| l.remove(rng.below(l.len())))
            })
            .flatten();
            if let Some(t) = taken {
                let mut k = rng.below(count_lists(toks));
                with_list(toks, &mut k, &mut |l: &mut Vec<Tok>| {
                    l.insert(rng.below(l.len() + 1), t.clone())
                });
            }
            return;
        }
        let donor = if which == 13 {
            self.donor(rng)
        } else {
            Vec::new()
        };
        with_list(toks, &mut k, &mut |l: &mut Vec<Tok>| {
            let n = l.len();
            let i = if n == 0 { 0 } else { rng.below(n) };
            match which {
                // Drop one or a run.
                0 | 1 if n > 0 => {
                    let j = if rng.one_in(4) {
                        rng.range(i, n - 1)
                    } else {
                        i
                    };
                    l.drain(i..=j);
                }
                2 if n > 0 => {
                    let t = l[i].clone();
                    let times = if rng.one_in(8) { rng.range(2, 50) } else { 1 };
                    for _ in 0..times {
                        l.insert(i, t.clone());
                    }
                }
                3 if n > 1 => {
                    let j = rng.below(n);
                    l.swap(i, j);
                }
                // Replace a leaf by a token of its own kind.
                4..=6 if n > 0 => {
                    let new = match &l[i] {
                        Tok::Leaf(TokenTree::Literal(_)) => self.random_int(rng),
                        Tok::Leaf(TokenTree::Ident(_)) => {
                            vec![Tok::Leaf(TokenTree::Ident(self.random_ident(rng)))]
                        }
                        _ => self.random_tok(rng),
                    };
                    l.splice(i..=i, new);
                }
                7 => {
                    let t = self.random_tok(rng);
                    let at = rng.below(n + 1);
                    l.splice(at..at, t);
                }
                // Change a group's delimiter.
                8 if n > 0 => {
                    if let Tok::Group(d, _) = &mut l[i] {
                        *d = *rng.pick(&[
                            Delimiter::Parenthesis,
                            Delimiter::Bracket,
                            Delimiter::Brace,
                            Delimiter::None,
                        ]);
                    }
                }
                // Unwrap a group into its contents.
                9 if n > 0 => {
                    if let Tok::Group(_, inner) = l[i].clone() {
                        l.splice(i..=i, inner);
                    }
                }
                // Wrap a run in a new group.
                10 if n > 0 => {
                    let j = rng.range(i, (i + 4).min(n - 1));
                    let run: Vec<Tok> = l.drain(i..=j).collect();
                    let d =
                        *rng.pick(&[Delimiter::Parenthesis, Delimiter::Bracket, Delimiter::Brace]);
                    l.insert(i, Tok::Group(d, run));
                }
                // Truncate.
                11 if n > 0 => l.truncate(i),
                // Replace every occurrence of one integer in the list.
                12 => {
                    let v = self.random_int(rng);
                    let mut out = Vec::new();
                    for t in l.drain(..) {
                        match t {
                            Tok::Leaf(TokenTree::Literal(_)) if rng.one_in(2) => {
                                out.extend(v.iter().cloned())
                            }
                            t => out.push(t),
                        }
                    }
                    *l = out;
                }
                13 => {
                    let at = rng.below(n + 1);
                    l.splice(at..at, donor.iter().cloned());
                }
                _ => {}
            }
        });
    }
}

// ---------------------------------------------------------------- random valid networks

#[derive(Clone)]
struct T {
    name: String,
    shape: Vec<usize>,
}

/// A random declaration that the language accepts (shapes tracked as the
/// DSL defines them), with weightless calls sometimes nested.
fn gen_valid(rng: &mut Rng) -> String {
    let mut out = String::new();
    let with_block = rng.one_in(3);
    if with_block {
        out.push_str(
            "block res(x, f) {\n a = conv2d(x, f, 3, padding = same, activation = relu);\n b = conv2d(a, f, 1);\n return concat(a, b);\n}\n",
        );
    }
    let mut ts: Vec<T> = Vec::new();
    let mut header = Vec::new();
    for i in 0..rng.range(1, 3) {
        let shape = if rng.one_in(5) {
            vec![rng.range(1, 24)]
        } else {
            vec![rng.range(1, 12), rng.range(1, 12), rng.range(1, 6)]
        };
        let name = format!("in{i}");
        header.push(format!("{name}: {}", shape_lit(&shape)));
        ts.push(T { name, shape });
    }
    let inputs = ts.len();
    let mut body = String::new();
    let layers = rng.range(1, 25);
    let mut made = 0;
    let mut tries = 0;
    while made < layers && tries < 200 {
        tries += 1;
        let x = rng.pick(&ts).clone();
        let name = format!("l{made}");
        let Some((expr, shape)) = gen_layer(rng, &ts, &x, with_block) else {
            continue;
        };
        if shape.iter().product::<usize>() > 1 << 16 {
            continue;
        }
        let asc = if rng.one_in(4) {
            format!(": {}", shape_lit(&shape))
        } else {
            String::new()
        };
        body.push_str(&format!("    {name}{asc} = {expr};\n"));
        ts.push(T { name, shape });
        made += 1;
    }
    if made == 0 {
        body.push_str("    l0 = relu(in0);\n");
        let shape = ts[0].shape.clone();
        ts.push(T {
            name: "l0".into(),
            shape,
        });
    }
    let last = ts.len() - 1;
    let mut outs = vec![ts[last].name.clone()];
    if rng.one_in(3) && last > inputs {
        let o = ts[rng.range(inputs, last - 1)].name.clone();
        outs.insert(0, o);
    }
    let outs = if outs.len() == 1 {
        outs[0].clone()
    } else {
        format!("({})", outs.join(", "))
    };
    out.push_str(&format!(
        "pub Gen({}) -> {outs} {{\n{body}}}\n",
        header.join(", ")
    ));
    out
}

fn shape_lit(s: &[usize]) -> String {
    let parts: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// TensorFlow's output size along one axis, `None` when `valid` shrinks to zero.
fn win(input: usize, k: usize, s: usize, d: usize, same: bool) -> Option<usize> {
    let span = (k - 1) * d + 1;
    if same {
        Some(input.div_ceil(s))
    } else if span > input {
        None
    } else {
        Some((input - span) / s + 1)
    }
}

fn pair_lit(rng: &mut Rng, a: usize, b: usize, kw: Option<&str>) -> String {
    let v = if a == b && rng.one_in(2) {
        a.to_string()
    } else {
        format!("({a}, {b})")
    };
    match kw {
        Some(k) => format!("{k} = {v}"),
        None => v,
    }
}

/// One layer on `x` (and possibly others of `ts`): its expression and shape.
fn gen_layer(rng: &mut Rng, ts: &[T], x: &T, with_block: bool) -> Option<(String, Vec<usize>)> {
    let acts = ["relu", "sigmoid", "tanh", "linear"];
    // An operand: the name, or a weightless call nested on it.
    let operand = |rng: &mut Rng, t: &T| -> (String, Vec<usize>) {
        if t.shape.len() == 3 && rng.one_in(6) {
            let f = rng.range(1, 2);
            let s = vec![t.shape[0] * f, t.shape[1] * f, t.shape[2]];
            return (format!("upsample2d({}, {f})", t.name), s);
        }
        if rng.one_in(8) {
            return (format!("{}({})", rng.pick(&acts), t.name), t.shape.clone());
        }
        (t.name.clone(), t.shape.clone())
    };
    let image = x.shape.len() == 3;
    match rng.below(16) {
        0..=2 if image => {
            let (src, s) = operand(rng, x);
            let (h, w, c) = (s[0], s[1], s[2]);
            let same = rng.one_in(2);
            let k = (rng.range(1, 3), rng.range(1, 3));
            let strided = rng.one_in(3);
            let st = if strided {
                (rng.range(1, 2), rng.range(1, 2))
            } else {
                (1, 1)
            };
            let dil = if !strided && rng.one_in(4) {
                (rng.range(1, 2), rng.range(1, 2))
            } else {
                (1, 1)
            };
            let groups = if c % 2 == 0 && rng.one_in(4) { 2 } else { 1 };
            let filters = groups * rng.range(1, 4);
            let oh = win(h, k.0, st.0, dil.0, same)?;
            let ow = win(w, k.1, st.1, dil.1, same)?;
            let mut args = vec![src, filters.to_string(), pair_lit(rng, k.0, k.1, None)];
            if st != (1, 1) || rng.one_in(4) {
                args.push(pair_lit(rng, st.0, st.1, Some("strides")));
            }
            if same || rng.one_in(3) {
                args.push(format!("padding = {}", if same { "same" } else { "valid" }));
            }
            if dil != (1, 1) {
                args.push(pair_lit(rng, dil.0, dil.1, Some("dilation_rate")));
            }
            if groups > 1 {
                args.push(format!("groups = {groups}"));
            }
            if rng.one_in(2) {
                args.push(format!("activation = {}", rng.pick(&acts)));
            }
            if rng.one_in(4) {
                args.push(format!("use_bias = {}", rng.one_in(2)));
            }
            Some((
                format!("conv2d({})", args.join(", ")),
                vec![oh, ow, filters],
            ))
        }
        3 if image => {
            let (src, s) = operand(rng, x);
            let p = (rng.range(1, 3), rng.range(1, 3));
            let st = if rng.one_in(2) {
                p
            } else {
                (rng.range(1, 3), rng.range(1, 3))
            };
            let same = rng.one_in(2);
            let oh = win(s[0], p.0, st.0, 1, same)?;
            let ow = win(s[1], p.1, st.1, 1, same)?;
            let mut args = vec![src, pair_lit(rng, p.0, p.1, None)];
            if st != p {
                args.push(pair_lit(rng, st.0, st.1, Some("strides")));
            }
            if same {
                args.push("padding = same".into());
            }
            Some((
                format!("max_pool2d({})", args.join(", ")),
                vec![oh, ow, s[2]],
            ))
        }
        4 => {
            // An n-ary merge of tensors of one shape (the same one allowed twice).
            let same: Vec<&T> = ts.iter().filter(|t| t.shape == x.shape).collect();
            let n = rng.range(2, 4);
            let names: Vec<String> = (0..n).map(|_| rng.pick(&same).name.clone()).collect();
            if rng.one_in(2) {
                Some((format!("add({})", names.join(", ")), x.shape.clone()))
            } else {
                let axis = x.shape.len() - 1;
                let mut s = x.shape.clone();
                s[axis] *= n;
                Some((format!("concat({})", names.join(", ")), s))
            }
        }
        5 if image && rng.one_in(2) => {
            let f = (rng.range(1, 3), rng.range(1, 3));
            Some((
                format!("upsample2d({}, {})", x.name, pair_lit(rng, f.0, f.1, None)),
                vec![x.shape[0] * f.0, x.shape[1] * f.1, x.shape[2]],
            ))
        }
        5 if image => {
            let op = if rng.one_in(2) {
                "global_avg_pool2d"
            } else {
                "global_max_pool2d"
            };
            Some((format!("{op}({})", x.name), vec![x.shape[2]]))
        }
        6 => {
            let (src, mut s) = operand(rng, x);
            let units = rng.range(1, 8);
            let last = s.len() - 1;
            s[last] = units;
            let act = if rng.one_in(2) {
                format!(", activation = {}", rng.pick(&acts))
            } else {
                String::new()
            };
            Some((format!("dense({src}, {units}{act})"), s))
        }
        7 => {
            let n: usize = x.shape.iter().product();
            Some(match rng.below(3) {
                0 => (format!("flatten({})", x.name), vec![n]),
                1 => (format!("reshape({}, (1, 1, -1))", x.name), vec![1, 1, n]),
                _ => (format!("reshape({}, {n})", x.name), vec![n]),
            })
        }
        8 if image && with_block => {
            let f = rng.range(1, 4);
            Some((
                format!("res({}, {f})", x.name),
                vec![x.shape[0], x.shape[1], 2 * f],
            ))
        }
        // The ops added after the first ones, with Keras's shape rules.
        10 if image => {
            // depthwise_conv2d / separable_conv2d: conv2d's geometry.
            let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2]);
            let same = rng.one_in(2);
            let k = rng.range(1, 3);
            let st = rng.range(1, 2);
            let oh = win(h, k, st, 1, same)?;
            let ow = win(w, k, st, 1, same)?;
            let pad = if same { "same" } else { "valid" };
            if rng.one_in(2) {
                let dm = rng.range(1, 2);
                Some((
                    format!("depthwise_conv2d({}, {k}, strides = {st}, padding = {pad}, depth_multiplier = {dm}, activation = {})", x.name, rng.pick(&acts)),
                    vec![oh, ow, c * dm],
                ))
            } else {
                let f = rng.range(1, 4);
                Some((
                    format!("separable_conv2d({}, {f}, {k}, strides = {st}, padding = {pad}, use_bias = {})", x.name, rng.one_in(2)),
                    vec![oh, ow, f],
                ))
            }
        }
        11 if image => {
            // conv2d_transpose: in * stride (same), (in - 1) * stride + k (valid).
            let (h, w) = (x.shape[0], x.shape[1]);
            let same = rng.one_in(2);
            let k = rng.range(1, 3);
            let st = rng.range(1, 2);
            let f = rng.range(1, 4);
            let up = |n: usize| {
                if same {
                    n * st
                } else {
                    (n - 1) * st + k.max(st)
                }
            };
            let pad = if same { "same" } else { "valid" };
            Some((
                format!(
                    "conv2d_transpose({}, {f}, {k}, strides = {st}, padding = {pad})",
                    x.name
                ),
                vec![up(h), up(w), f],
            ))
        }
        12 if image => {
            let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2]);
            match rng.below(3) {
                0 => {
                    let p = rng.range(0, 2);
                    Some((
                        format!("zero_padding2d({}, {p})", x.name),
                        vec![h + 2 * p, w + 2 * p, c],
                    ))
                }
                1 if h > 2 && w > 2 => {
                    Some((format!("cropping2d({}, 1)", x.name), vec![h - 2, w - 2, c]))
                }
                _ => {
                    let p = rng.range(1, 2);
                    let same = rng.one_in(2);
                    let oh = win(h, p, p, 1, same)?;
                    let ow = win(w, p, p, 1, same)?;
                    let pad = if same { "same" } else { "valid" };
                    Some((
                        format!("avg_pool2d({}, {p}, padding = {pad})", x.name),
                        vec![oh, ow, c],
                    ))
                }
            }
        }
        13 if x.shape.len() == 3 && rng.one_in(3) => {
            // A squeeze-and-excite gate (`[1, 1, C]`, either side), which a
            // 1x1 conv reading the product may take into its kernel.
            let gate = format!("global_avg_pool2d({}, keepdims = true)", x.name);
            let e = match rng.one_in(2) {
                true => format!("multiply({}, {gate})", x.name),
                false => format!("multiply({gate}, {})", x.name),
            };
            Some((e, x.shape.clone()))
        }
        13 => {
            // The other merges: operands of one shape.
            let same: Vec<&T> = ts.iter().filter(|t| t.shape == x.shape).collect();
            let op = *rng.pick(&["subtract", "multiply", "average", "maximum", "minimum"]);
            let n = if op == "subtract" { 2 } else { rng.range(2, 3) };
            let names: Vec<String> = (0..n).map(|_| rng.pick(&same).name.clone()).collect();
            Some((format!("{op}({})", names.join(", ")), x.shape.clone()))
        }
        14 => {
            let (src, s) = operand(rng, x);
            let e = match rng.below(10) {
                0 => format!("leaky_relu({src}, alpha = 0.2)"),
                1 => format!("dropout({src}, 0.25)"),
                2 => format!("relu6({src})"),
                3 => format!("elu({src})"),
                4 => format!("hard_sigmoid({src})"),
                5 => format!("swish({src})"),
                6 => format!("gelu({src})"),
                7 => format!("softmax({src})"),
                8 => format!("hard_silu({src})"),
                _ => format!("leaky_relu({src})"),
            };
            Some((e, s))
        }
        15 if image => Some((
            match rng.below(5) {
                0 => format!("batch_norm({}, epsilon = 0.001)", x.name),
                1 => format!("normalization({})", x.name),
                2 => format!("layer_norm({}, epsilon = 0.000001, center = false)", x.name),
                3 => format!("layer_scale({})", x.name),
                _ => format!("rescaling({}, 0.5, offset = -1.0)", x.name),
            },
            x.shape.clone(),
        )),
        _ => {
            let (src, s) = operand(rng, x);
            Some((format!("{}({src})", rng.pick(&acts)), s))
        }
    }
}

// ---------------------------------------------------------------- extremes

/// `relu(relu(...(x)...))`, `depth` calls deep, built without recursion.
fn nested_calls(depth: usize, f: &str) -> TokenStream {
    let mut ts = parse_ts("x");
    for _ in 0..depth {
        ts = call(f, ts);
    }
    ts
}

/// `inner` wrapped in `depth` groups of `d`.
fn nested_groups(depth: usize, d: Delimiter, inner: TokenStream) -> TokenStream {
    let mut ts = inner;
    for _ in 0..depth {
        ts = TokenTree::Group(Group::new(d, ts)).into();
    }
    ts
}

/// `f(args)`.
fn call(f: &str, args: TokenStream) -> TokenStream {
    [
        TokenTree::Ident(Ident::new(f, Span::call_site())),
        TokenTree::Group(Group::new(Delimiter::Parenthesis, args)),
    ]
    .into_iter()
    .collect()
}

fn net_with_body(header: &str, body: TokenStream) -> TokenStream {
    let mut ts = parse_ts(header);
    ts.extend([TokenTree::Group(Group::new(Delimiter::Brace, body))]);
    ts
}

/// A declaration at an extreme (deep, recursive, huge), and what it is.
fn extreme(rng: &mut Rng) -> (String, TokenStream) {
    let depth = *rng.pick(&[10, 32, 63, 64, 65, 100, 1000, 5000, 20_000, 100_000]);
    let n = *rng.pick(&[10, 100, 1000, 10_000]);
    match rng.below(18) {
        0 => {
            let mut body = parse_ts("out =");
            body.extend(nested_calls(
                depth,
                rng.pick::<&str>(&["relu", "sigmoid", "upsample2d", "flatten", "nope"]),
            ));
            body.extend(parse_ts(";"));
            (
                format!("{depth} nested calls"),
                net_with_body("pub N(x: [8, 8, 3]) -> out", body),
            )
        }
        1 => {
            let d = *rng.pick(&[
                Delimiter::Parenthesis,
                Delimiter::Bracket,
                Delimiter::Brace,
                Delimiter::None,
            ]);
            let mut body = parse_ts("out = relu");
            body.extend(nested_groups(depth, d, parse_ts("x")));
            body.extend(parse_ts(";"));
            (
                format!("{depth} nested {d:?} groups around an operand"),
                net_with_body("pub N(x: [8, 8, 3]) -> out", body),
            )
        }
        2 => {
            let mut args = parse_ts("x, 4,");
            args.extend(nested_groups(
                depth,
                Delimiter::Parenthesis,
                parse_ts("3, 3"),
            ));
            let mut body = parse_ts("out =");
            body.extend(call("conv2d", args));
            body.extend(parse_ts(";"));
            (
                format!("kernel size in {depth} nested tuples"),
                net_with_body("pub N(x: [8, 8, 3]) -> out", body),
            )
        }
        3 => {
            let mut args = parse_ts("x:");
            args.extend(nested_groups(depth, Delimiter::Bracket, parse_ts("8")));
            let mut ts = parse_ts("pub");
            ts.extend(call("N", args));
            ts.extend(parse_ts("-> out { out = relu(x); }"));
            (format!("input shape in {depth} nested brackets"), ts)
        }
        4 => {
            // `#[weights = ((((...))))]`: syn parses an attribute value as an expression.
            let mut attr = parse_ts("weights =");
            attr.extend(nested_groups(depth, Delimiter::Parenthesis, parse_ts("1")));
            let mut ts = parse_ts("#");
            ts.extend([TokenTree::Group(Group::new(Delimiter::Bracket, attr))]);
            ts.extend(parse_ts("pub N(x: [8, 8, 3]) -> out { out = relu(x); }"));
            (format!("attribute value in {depth} nested parentheses"), ts)
        }
        5 => {
            let mut ts = nested_groups(depth, Delimiter::Brace, TokenStream::new());
            ts.extend(parse_ts("pub N(x: [8, 8, 3]) -> out { out = relu(x); }"));
            (format!("{depth} nested braces before a network"), ts)
        }
        6 => (
            "self-recursive block".into(),
            parse_ts(
                "block r(x) { a = r(x); return a; } pub N(x: [8, 8, 3]) -> out { out = r(x); }",
            ),
        ),
        7 => {
            let k = rng.range(2, 5);
            let mut s = String::new();
            for i in 0..k {
                s.push_str(&format!(
                    "block b{i}(x) {{ y = b{}(x); return relu(y); }}\n",
                    (i + 1) % k
                ));
            }
            s.push_str("pub N(x: [8, 8, 3]) -> out { out = b0(x); }");
            (format!("{k} mutually recursive blocks"), parse_ts(&s))
        }
        8 => {
            // Each block calls the next 3 times: 3^levels instantiations. 3^7
            // leaves compile; the rest hit the expansion limits.
            let levels = *rng.pick(&[7, 12, 20, 40, 63, 64, 65, 200]);
            let leaf = *rng.pick(&["x", "relu(x)", "relu(missing)", "conv2d(x, 4, 99)"]);
            // In a chain the first failing leaf poisons the rest; in parallel
            // every leaf fails on its own.
            let parallel = rng.one_in(2);
            let mut s = String::new();
            for i in 0..levels {
                s.push_str(&if parallel {
                    format!(
                        "block b{i}(x) {{ p = b{n}(x); q = b{n}(x); r = b{n}(x); return add(p, q, r); }}\n",
                        n = i + 1
                    )
                } else {
                    format!(
                        "block b{i}(x) {{ p = b{n}(x); q = b{n}(p); return b{n}(q); }}\n",
                        n = i + 1
                    )
                });
            }
            s.push_str(&format!("block b{levels}(x) {{ return {leaf}; }}\n"));
            s.push_str("pub N(x: [8, 8, 3]) -> out { out = b0(x); }");
            (
                format!("{levels} levels of blocks calling the next 3 times (parallel: {parallel}), `{leaf}` at the leaves"),
                parse_ts(&s),
            )
        }
        9 => {
            // A chain of `n` layers.
            let op = *rng.pick(&[
                "relu(PREV)",
                "conv2d(PREV, 2, 1)",
                "conv2d(PREV, 2, 3, padding = same, activation = relu)",
                "add(PREV, x)",
                "max_pool2d(PREV, 1)",
            ]);
            let mut s = String::from("pub N(x: [4, 4, 2]) -> l_last {\n");
            let mut prev = "x".to_string();
            for i in 0..n {
                let name = if i + 1 == n {
                    "l_last".to_string()
                } else {
                    format!("l{i}")
                };
                s.push_str(&format!("{name} = {};\n", op.replace("PREV", &prev)));
                prev = name;
            }
            s.push('}');
            (format!("{n}-layer chain of {op}"), parse_ts(&s))
        }
        10 => {
            // `n` parallel branches merged by one n-ary op.
            let mut s = String::from("pub N(x: [4, 4, 2]) -> out {\n");
            for i in 0..n {
                s.push_str(&format!("b{i} = relu(x);\n"));
            }
            let names: Vec<String> = (0..n).map(|i| format!("b{i}")).collect();
            let op = *rng.pick(&["add", "concat"]);
            s.push_str(&format!("out = {op}({});\n}}", names.join(", ")));
            (format!("{op} of {n} branches"), parse_ts(&s))
        }
        11 => {
            // `n` errors, each with a suggestion search over every name so far.
            let mut s = String::from("pub N(x: [4, 4, 2]) -> out {\n");
            for i in 0..n {
                s.push_str(&format!("name{i} = relu(nmae{i});\n"));
            }
            s.push_str("out = relu(x);\n}");
            (format!("{n} misspelled names"), parse_ts(&s))
        }
        12 => {
            let inputs: Vec<String> = (0..n).map(|i| format!("i{i}: [2]")).collect();
            let names: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
            let s = format!(
                "pub N({}) -> out {{ out = concat({}); }}",
                inputs.join(", "),
                names.join(", ")
            );
            (format!("{n} inputs"), parse_ts(&s))
        }
        13 => {
            let outs: Vec<String> = (0..n).map(|i| format!("o{i}")).collect();
            let body: String = (0..n).map(|i| format!("o{i} = relu(x);\n")).collect();
            let s = format!("pub N(x: [2, 2, 1]) -> ({}) {{ {body} }}", outs.join(", "));
            (format!("{n} outputs"), parse_ts(&s))
        }
        14 => {
            let m = n.min(1000);
            let s: String = (0..m)
                .map(|i| format!("pub N{i}(x: [2, 2, 1]) -> out {{ out = conv2d(x, 1, 1); }}\n"))
                .collect();
            (format!("{m} networks in one macro"), parse_ts(&s))
        }
        15 => {
            let long = "a".repeat(*rng.pick(&[200, 250, 251, 252, 255, 256, 1000, 100_000]));
            let s = format!(
                "block {long}(x) {{ return relu(x); }} pub {long}N(x: [2, 2, 1]) -> {long} {{ {long} = {long}(x); }}"
            );
            (
                format!("identifiers of {} characters", long.len()),
                parse_ts(&s),
            )
        }
        16 => {
            // Blocks nested `levels` deep, each passing an integer on.
            let levels = *rng.pick(&[32, 63, 64, 65, 100]);
            let mut s = String::new();
            for i in 0..levels {
                s.push_str(&format!(
                    "block b{i}(x, f) {{ y = b{}(x, f); return y; }}\n",
                    i + 1
                ));
            }
            s.push_str(&format!(
                "block b{levels}(x, f) {{ return conv2d(x, f, 1); }}\n"
            ));
            s.push_str("pub N(x: [8, 8, 3]) -> out { out = b0(x, 4); }");
            (format!("{levels} nested block calls"), parse_ts(&s))
        }
        _ => {
            // Deep calls inside a block's return, the block used twice.
            let depth = depth.min(1000);
            let mut ret = parse_ts("return");
            ret.extend(nested_calls(depth, "relu"));
            ret.extend(parse_ts(";"));
            let mut ts = parse_ts("block b(x)");
            ts.extend([TokenTree::Group(Group::new(Delimiter::Brace, ret))]);
            ts.extend(parse_ts(
                "pub N(x: [8, 8, 3]) -> out { y = b(x); out = b(y); }",
            ));
            (format!("block returning {depth} nested calls"), ts)
        }
    }
}

// ---------------------------------------------------------------- running one case

/// The case running now and since when (for the hang watchdog).
static CURRENT: Mutex<(u64, Option<Instant>)> = Mutex::new((0, None));

thread_local! {
    /// Set on the fuzz thread: its panics are captured, not printed.
    static CAPTURE: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

#[derive(Debug)]
enum Verdict {
    Ok,
    Rejected,
    Bad(String),
}

/// Runs `expand` on `ts` and judges the result.
fn run(ts: TokenStream) -> Verdict {
    let r = panic::catch_unwind(AssertUnwindSafe(|| expand(ts)));
    match r {
        Err(_) => Verdict::Bad(format!(
            "panic: {}",
            LAST_PANIC.with(|p| p.borrow().clone())
        )),
        Ok(Ok(out)) => match syn::parse2::<syn::File>(out) {
            Ok(_) => Verdict::Ok,
            Err(e) => Verdict::Bad(format!("output does not parse as Rust: {e}")),
        },
        Ok(Err(e)) => {
            for m in e.into_iter().map(|e| e.to_string()) {
                if m.is_empty() || m.contains("internal error") {
                    return Verdict::Bad(format!("bad error message: {m:?}"));
                }
            }
            Verdict::Rejected
        }
    }
}

/// Greedily drops token trees while the failure (first line) stays the same.
fn minimize(toks: Vec<Tok>, failure: &str) -> Vec<Tok> {
    let key = |s: &str| s.lines().next().unwrap_or("").to_string();
    let want = key(failure);
    let still = |t: &[Tok]| matches!(run(to_stream(t)), Verdict::Bad(m) if key(&m) == want);
    let mut cur = toks;
    let mut budget = 4000;
    let mut progress = true;
    while progress && budget > 0 {
        progress = false;
        let lists = count_lists(&cur);
        for k in 0..lists {
            let mut i = 0;
            loop {
                budget -= 1;
                if budget == 0 {
                    break;
                }
                let mut cand = cur.clone();
                let mut kk = k;
                let removed = with_list(&mut cand, &mut kk, &mut |l: &mut Vec<Tok>| {
                    (i < l.len()).then(|| l.remove(i))
                })
                .flatten();
                if removed.is_none() {
                    break;
                }
                if still(&cand) {
                    cur = cand;
                    progress = true;
                } else {
                    i += 1;
                }
            }
        }
    }
    cur
}

struct Stats {
    mutated: u64,
    generated: u64,
    extremes: u64,
    ok: u64,
    rejected: u64,
    slowest: (Duration, String),
    /// Time spent in mutated, generated and extreme cases.
    time: [Duration; 3],
    failures: Vec<String>,
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// One case: which kind is chosen by `i` and the case's own seed.
fn one_case(corpus: &Corpus, seed: u64, i: u64, stats: &mut Stats) {
    let mut rng = Rng(case_seed(seed, i));
    // 1% extremes (they are the slow ones), 20% generated, the rest mutated.
    let kind = rng.below(100);
    let mut slot = 0;
    let started = Instant::now();
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = (i, Some(started));
    let (what, verdict, toks) = if kind == 0 {
        let (what, ts) = extreme(&mut rng);
        if std::env::var_os("SKIPNET_FUZZ_TRACE").is_some() {
            eprintln!("case {i}: {what}");
        }
        stats.extremes += 1;
        slot = 2;
        (what, run(ts), None)
    } else if kind <= 20 {
        let src = gen_valid(&mut rng);
        stats.generated += 1;
        slot = 1;
        let mut toks = to_tree(parse_ts(&src));
        // Half of them mutated a little, the rest must be accepted as they are.
        let mutated = rng.one_in(2);
        if mutated {
            for _ in 0..rng.range(1, 3) {
                corpus.mutate(&mut rng, &mut toks);
            }
        }
        let v = run(to_stream(&toks));
        let v = match v {
            Verdict::Rejected if !mutated => {
                let msgs: Vec<String> = expand(parse_ts(&src))
                    .err()
                    .map(|e| e.into_iter().map(|e| e.to_string()).collect())
                    .unwrap_or_default();
                Verdict::Bad(format!("valid declaration rejected: {msgs:?}"))
            }
            v => v,
        };
        ("generated network".to_string(), v, Some(toks))
    } else {
        let mut toks = rng.pick(&corpus.seeds).clone();
        let n = if rng.one_in(4) {
            rng.range(5, 30)
        } else {
            rng.range(1, 4)
        };
        for _ in 0..n {
            corpus.mutate(&mut rng, &mut toks);
        }
        stats.mutated += 1;
        (
            "mutated seed".to_string(),
            run(to_stream(&toks)),
            Some(toks),
        )
    };
    let took = started.elapsed();
    stats.time[slot] += took;
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = (i, None);
    if took > stats.slowest.0 {
        stats.slowest = (took, format!("case {i}: {what}"));
    }
    match verdict {
        Verdict::Ok => stats.ok += 1,
        Verdict::Rejected => stats.rejected += 1,
        Verdict::Bad(msg) => {
            let head = msg.lines().next().unwrap_or("").to_string();
            if stats.failures.iter().any(|f| f.contains(&head)) {
                return;
            }
            let input = match toks {
                Some(t) if count_toks(&t) < 20_000 => {
                    let small = minimize(t, &msg);
                    to_stream(&small).to_string()
                }
                _ => what.clone(),
            };
            stats.failures.push(format!(
                "SKIPNET_FUZZ_SEED={seed} SKIPNET_FUZZ_ONLY={i} ({what}): {msg}\n    minimized input: {input}"
            ));
        }
    }
}

#[test]
fn fuzz_expand_never_panics() {
    let seed = env_u64("SKIPNET_FUZZ_SEED").unwrap_or(0x5EED_0007);
    let cases = env_u64("SKIPNET_FUZZ_CASES").unwrap_or(DEFAULT_CASES);
    let seconds = env_u64("SKIPNET_FUZZ_SECONDS");
    let only = env_u64("SKIPNET_FUZZ_ONLY");

    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if CAPTURE.with(|c| c.get()) {
            let loc = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = format!("{payload}{loc}"));
        } else {
            previous(info);
        }
    }));

    let hang = Duration::from_secs(env_u64("SKIPNET_FUZZ_HANG_SECONDS").unwrap_or(120));
    let worker = std::thread::Builder::new()
        .name("fuzz-expand".into())
        .stack_size(STACK)
        .spawn(move || {
            CAPTURE.with(|c| c.set(true));
            let corpus = Corpus::new();
            let mut stats = Stats {
                mutated: 0,
                generated: 0,
                extremes: 0,
                ok: 0,
                rejected: 0,
                slowest: (Duration::ZERO, String::new()),
                time: [Duration::ZERO; 3],
                failures: Vec::new(),
            };
            let started = Instant::now();
            let deadline = seconds.map(|s| started + Duration::from_secs(s));
            let mut i = only.unwrap_or(0);
            loop {
                match (only, deadline) {
                    (Some(o), _) if i > o => break,
                    (None, Some(d)) if Instant::now() >= d => break,
                    (None, None) if i >= cases => break,
                    _ => {}
                }
                one_case(&corpus, seed, i, &mut stats);
                i += 1;
                if i.is_multiple_of(10_000) {
                    println!(
                        "  ... {i} cases, {:.0} s, {} failures",
                        started.elapsed().as_secs_f64(),
                        stats.failures.len()
                    );
                }
            }
            (stats, i - only.unwrap_or(0), started.elapsed())
        })
        .expect("spawn the fuzz thread");
    // A case that runs for `hang` is a failure too (the thread is left behind).
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        let current = *CURRENT.lock().unwrap_or_else(|e| e.into_inner());
        if let (i, Some(t)) = current {
            assert!(
                t.elapsed() < hang,
                "SKIPNET_FUZZ_SEED={seed} SKIPNET_FUZZ_ONLY={i} has run for more than {} s",
                hang.as_secs()
            );
        }
    }
    let (stats, total, took) = worker.join().expect("the fuzz thread returned");

    println!(
        "fuzz expand (seed {seed:#x}): {total} declarations in {:.1} s: {} mutated seeds ({:.1} s), {} generated networks ({:.1} s), {} extremes ({:.1} s); {} accepted, {} rejected with errors; slowest {:.2} s ({})",
        took.as_secs_f64(),
        stats.mutated,
        stats.time[0].as_secs_f64(),
        stats.generated,
        stats.time[1].as_secs_f64(),
        stats.extremes,
        stats.time[2].as_secs_f64(),
        stats.ok,
        stats.rejected,
        stats.slowest.0.as_secs_f64(),
        stats.slowest.1
    );
    assert!(
        stats.failures.is_empty(),
        "{} distinct failures:\n{}",
        stats.failures.len(),
        stats.failures.join("\n")
    );
}

// ---------------------------------------------------------------- what the fuzzer found

/// `expand` on what `make` builds, on a thread with the fuzzer's stack: the
/// error messages, or `Ok`.
fn messages(make: impl FnOnce() -> TokenStream + Send + 'static) -> Result<(), Vec<String>> {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            expand(make())
                .map(|_| ())
                .map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
        })
        .expect("spawn")
        .join()
        .expect("expand returned")
}

fn first_error(make: impl FnOnce() -> TokenStream + Send + 'static) -> String {
    match messages(make) {
        Ok(()) => "accepted".into(),
        Err(m) => m[0].clone(),
    }
}

fn deep_call(depth: usize) -> TokenStream {
    let mut body = parse_ts("out =");
    body.extend(nested_calls(depth, "relu"));
    body.extend(parse_ts(";"));
    net_with_body("pub N(x: [8, 8, 3]) -> out", body)
}

/// Was: 20,000 nested calls or groups overflowed a 4 MiB stack (parse and
/// syn's token buffer), 2,000 nested parentheses in an attribute value
/// overflowed syn's expression parser, and 5,000 nested calls took 16 s
/// (each level cloned its whole subtree).
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // The body's braces are one level: 63 calls fit, 64 do not.
    assert_eq!(first_error(|| deep_call(63)), "accepted");
    let e = first_error(|| deep_call(64));
    assert!(e.starts_with("nesting deeper than 64 levels"), "{e}");
    let e = first_error(|| deep_call(100_000));
    assert!(e.starts_with("nesting deeper than 64 levels"), "{e}");
    let e = first_error(|| {
        let mut attr = parse_ts("weights =");
        attr.extend(nested_groups(
            100_000,
            Delimiter::Parenthesis,
            parse_ts("\"w.safetensors\""),
        ));
        let mut ts = parse_ts("#");
        ts.extend([TokenTree::Group(Group::new(Delimiter::Bracket, attr))]);
        ts.extend(parse_ts("pub N(x: [8, 8, 3]) -> out { out = relu(x); }"));
        ts
    });
    assert!(e.starts_with("nesting deeper than 64 levels"), "{e}");
}

/// Was: `- -170141183460469231731687303715884105728` (syn reads `-` and a
/// literal as one negative literal) negated `i128::MIN`: an overflow panic.
#[test]
fn minus_a_negative_literal_does_not_overflow() {
    let e = first_error(|| {
        parse_ts("pub N(x: [8, 8, 3]) -> out { out = concat(x, x, axis = - -170141183460469231731687303715884105728); }")
    });
    assert_eq!(
        e,
        "`- -170141183460469231731687303715884105728` is not an integer skipnet can use"
    );
    // The same with a negative literal token, as `Literal::i128_unsuffixed` makes.
    let e = first_error(|| {
        let mut args = parse_ts("x, x, axis = -");
        args.extend([TokenTree::Literal(Literal::i128_unsuffixed(i128::MIN))]);
        let mut body = parse_ts("out =");
        body.extend(call("concat", args));
        body.extend(parse_ts(";"));
        net_with_body("pub N(x: [8, 8, 3]) -> out", body)
    });
    assert!(e.contains("is not an integer skipnet can use"), "{e}");
}

fn long_name_net(n: usize) -> TokenStream {
    let name = "a".repeat(n);
    parse_ts(&format!(
        "pub N(x: [2, 2, 1]) -> {name} {{ {name} = relu(x); }}"
    ))
}

/// Was: a binding name of 65,536 characters panicked in `summary()`'s
/// table formatting (codegen.rs: width out of range).
#[test]
fn long_names_are_errors() {
    assert_eq!(first_error(|| long_name_net(255)), "accepted");
    assert_eq!(
        first_error(|| long_name_net(256)),
        "this name is 256 bytes long; skipnet accepts names of at most 255 bytes"
    );
    let e = first_error(|| long_name_net(70_000));
    assert!(e.starts_with("this name is 70000 bytes long"), "{e}");
}

/// `levels` blocks, each calling the next three times; `leaf` in the last.
fn exponential_blocks(levels: usize, leaf: &str, parallel: bool) -> TokenStream {
    let mut s = String::new();
    for i in 0..levels {
        let n = i + 1;
        s.push_str(&if parallel {
            format!(
                "block b{i}(x) {{ p = b{n}(x); q = b{n}(x); r = b{n}(x); return add(p, q, r); }}\n"
            )
        } else {
            format!("block b{i}(x) {{ p = b{n}(x); q = b{n}(p); return b{n}(q); }}\n")
        });
    }
    s.push_str(&format!("block b{levels}(x) {{ return {leaf}; }}\n"));
    s.push_str("pub N(x: [8, 8, 3]) -> out { out = b0(x); }");
    parse_ts(&s)
}

/// Was: blocks calling blocks 3 times, 20 levels deep, never finished
/// (3^20 instantiations; with no op inside, `MAX_NODES` was never reached),
/// and 3^10 instantiations of one op took 43 s to expand and generate.
#[test]
fn exponential_blocks_stop_at_the_limits() {
    let e = first_error(|| exponential_blocks(20, "x", false));
    assert!(
        e.starts_with("blocks expand to more than 1000000 statements"),
        "{e}"
    );
    let e = first_error(|| exponential_blocks(20, "relu(x)", false));
    assert_eq!(e, "network expands to more than 100000 layers");
    // Every leaf fails on its own: the errors are capped, not 3^12 of them.
    let m = messages(|| exponential_blocks(12, "relu(missing)", true)).unwrap_err();
    assert_eq!(m[0], "cannot find tensor `missing`");
    let missing = m
        .iter()
        .filter(|m| *m == "cannot find tensor `missing`")
        .count();
    assert_eq!(missing, crate::limits::MAX_ERRORS);
    let last = m.last().cloned().unwrap_or_default();
    assert!(
        last.ends_with("more errors not shown (only the first 200 are)"),
        "{last}"
    );
    // A smaller one still compiles.
    assert_eq!(
        first_error(|| exponential_blocks(4, "relu(x)", true)),
        "accepted"
    );
}

/// Was: 10,000 misspelled names took 225 s (each suggestion searched every
/// name defined so far).
#[test]
fn many_misspelled_names_are_quick() {
    let started = Instant::now();
    let m = messages(|| {
        let mut s = String::from("pub N(x: [4, 4, 2]) -> out {\n");
        for i in 0..10_000 {
            s.push_str(&format!("name{i} = relu(nmae{i});\n"));
        }
        s.push_str("out = relu(x);\n}");
        parse_ts(&s)
    })
    .unwrap_err();
    assert_eq!(m.len(), crate::limits::MAX_ERRORS + 1);
    assert_eq!(m[0], "cannot find tensor `nmae0`");
    assert_eq!(
        m[200],
        "9800 more errors not shown (only the first 200 are)"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

/// The seeds are valid declarations (DSL.md's language, every op included),
/// so that mutations start next to valid input.
#[test]
fn seeds_compile() {
    for (i, s) in SEEDS.iter().enumerate() {
        let src = s.to_string();
        assert_eq!(messages(move || parse_ts(&src)), Ok(()), "seed {i}");
    }
}
