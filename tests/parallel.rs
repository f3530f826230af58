//! `parallel` feature: a workspace with worker threads gives bit for bit the
//! output of a single-threaded one (each output element is summed in the same
//! order, only by another thread), on every fixture network with convolutions
//! big enough to be split (and on small ones, which run on the caller alone),
//! and stays within Keras's tolerance.
#![cfg(feature = "parallel")]

mod common;
use common::*;

const TOL: f32 = 1e-4;

macro_rules! same_on_threads {
    ($test:ident, $net:ident, $fixture:literal, $xlen:literal, $xshape:expr, $ylen:literal, $yshape:expr) => {
        #[test]
        fn $test() {
            let net = $net::from_safetensors(&fixture($fixture, "weights.safetensors")).unwrap();
            let io = fixture($fixture, "io.safetensors");
            let x = io_tensor::<$xlen>(&io, "x", &$xshape);
            let y = io_tensor::<$ylen>(&io, "y", &$yshape);
            let mut ws = $net::workspace();
            assert_eq!(ws.threads(), 1);
            let serial = net.forward(&mut ws, &x).to_vec();
            for threads in [2, 3, 4] {
                let mut ws = <ws_type!($net)>::with_threads(threads);
                assert_eq!(ws.threads(), threads);
                // Twice: the second call finds the workers spinning or asleep.
                for _ in 0..2 {
                    let got = net.forward(&mut ws, &x);
                    assert!(
                        serial
                            .iter()
                            .zip(got.iter())
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{} threads differ from one",
                        threads
                    );
                }
            }
            let err = max_abs_diff(&serial, &y[..]);
            assert!(err <= TOL, "max abs error {err}");
        }
    };
}

/// A network's workspace type (what `network!` names `<Net>Workspace`),
/// spelled out so the test macro needs no identifier pasting.
macro_rules! ws_type {
    ($net:ident) => {
        skipnet::Workspace<{ $net::ARENA_LEN }, $net>
    };
}

same_on_threads!(
    seed_unet,
    SkipUNet,
    "seed_unet",
    3072,
    [32, 32, 3],
    3072,
    [32, 32, 3]
);
same_on_threads!(
    apes_net,
    ApesNet,
    "apes_net",
    65536,
    [64, 64, 16],
    4096,
    [32, 32, 4]
);
same_on_threads!(
    apes_block_net,
    ApesBlockNet,
    "apes_block_net",
    65536,
    [64, 64, 16],
    10,
    [10]
);
same_on_threads!(
    resnet_bn,
    ResNetBn,
    "resnet_bn",
    12288,
    [64, 64, 3],
    10,
    [10]
);
same_on_threads!(mobilenet, MobileNet, "mobilenet", 3072, [32, 32, 3], 5, [5]);
