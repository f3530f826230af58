//! `forward` never touches the heap: a counting global allocator around it,
//! first call included. (One test in this binary, so no other test thread
//! allocates while it counts.)

mod common;
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.load(Ordering::SeqCst);
    let r = f();
    (ALLOCS.load(Ordering::SeqCst) - before, r)
}

#[test]
fn forward_makes_zero_allocations() {
    // The counter itself must work, or a zero below would prove nothing.
    let (n, v) = allocations_during(|| vec![1.0f32; 16]);
    assert!(n >= 1 && v.len() == 16);

    let unet = SkipUNet::from_safetensors(&fixture("seed_unet", "weights.safetensors")).unwrap();
    let mut ws = SkipUNet::workspace();
    let x = Box::new([0.25f32; 3072]);
    for call in 0..3 {
        let (n, y) = allocations_during(|| net_sum(unet.forward(&mut ws, &x)));
        assert_eq!(n, 0, "SkipUNet::forward call {call} allocated {n} times");
        assert!(y.is_finite());
    }

    let apes = ApesNet::from_safetensors(&fixture("apes_net", "weights.safetensors")).unwrap();
    let mut ws = ApesNet::workspace();
    let x = vec![0.5f32; 65536].into_boxed_slice();
    let x: &[f32; 65536] = (&*x).try_into().unwrap();
    let (n, _) = allocations_during(|| net_sum(apes.forward(&mut ws, x)));
    assert_eq!(n, 0, "ApesNet::forward allocated {n} times");

    let corner = Corner::from_safetensors(&fixture("corner", "weights.safetensors")).unwrap();
    let mut ws = Corner::workspace();
    let (n, _) = allocations_during(|| net_sum(corner.forward(&mut ws, &[-1.0; 780])));
    assert_eq!(n, 0, "Corner::forward allocated {n} times");

    let abn =
        ApesBlockNet::from_safetensors(&fixture("apes_block_net", "weights.safetensors")).unwrap();
    let mut ws = ApesBlockNet::workspace();
    let (n, _) = allocations_during(|| net_sum(abn.forward(&mut ws, x)));
    assert_eq!(n, 0, "ApesBlockNet::forward allocated {n} times");

    let heads = Heads::from_safetensors(&fixture("heads", "weights.safetensors")).unwrap();
    let mut ws = Heads::workspace();
    let (n, _) = allocations_during(|| {
        let (a, b) = heads.forward(&mut ws, &[0.5; 378]);
        net_sum(a) + net_sum(b)
    });
    assert_eq!(n, 0, "Heads::forward allocated {n} times");

    let zoo = Zoo::from_safetensors(&fixture("zoo", "weights.safetensors")).unwrap();
    let mut ws = Zoo::workspace();
    let (n, _) = allocations_during(|| {
        let (a, b) = zoo.forward(&mut ws, &[0.5; 480]);
        net_sum(a) + net_sum(b)
    });
    assert_eq!(n, 0, "Zoo::forward allocated {n} times");

    let dec = Decoder::from_safetensors(&fixture("decoder", "weights.safetensors")).unwrap();
    let mut ws = Decoder::workspace();
    let (n, _) = allocations_during(|| {
        let (a, b) = dec.forward(&mut ws, &[0.5; 384], &[-0.5; 1024]);
        net_sum(a) + net_sum(b)
    });
    assert_eq!(n, 0, "Decoder::forward allocated {n} times");

    let rn = ResNetBn::from_safetensors(&fixture("resnet_bn", "weights.safetensors")).unwrap();
    let mut ws = ResNetBn::workspace();
    let (n, _) = allocations_during(|| net_sum(rn.forward(&mut ws, &[0.5; 12288])));
    assert_eq!(n, 0, "ResNetBn::forward allocated {n} times");

    let mb = MobileNet::from_safetensors(&fixture("mobilenet", "weights.safetensors")).unwrap();
    let mut ws = MobileNet::workspace();
    let (n, _) = allocations_during(|| net_sum(mb.forward(&mut ws, &[0.5; 3072])));
    assert_eq!(n, 0, "MobileNet::forward allocated {n} times");

    let bl = Bilinear::from_safetensors(&fixture("bilinear", "weights.safetensors")).unwrap();
    let mut ws = Bilinear::workspace();
    let (n, _) = allocations_during(|| net_sum(bl.forward(&mut ws, &[0.5; 60])));
    assert_eq!(n, 0, "Bilinear::forward allocated {n} times");

    let uc = UnetCrop::from_safetensors(&fixture("unet_crop", "weights.safetensors")).unwrap();
    let mut ws = UnetCrop::workspace();
    let (n, _) = allocations_during(|| net_sum(uc.forward(&mut ws, &[0.5; 432])));
    assert_eq!(n, 0, "UnetCrop::forward allocated {n} times");

    // With worker threads (the counter is global: it sees the workers too).
    #[cfg(feature = "parallel")]
    {
        let x = vec![0.5f32; 65536].into_boxed_slice();
        let x: &[f32; 65536] = (&*x).try_into().unwrap();
        let mut ws =
            skipnet::Workspace::<{ ApesBlockNet::ARENA_LEN }, ApesBlockNet>::with_threads(2);
        for call in 0..3 {
            let (n, _) = allocations_during(|| net_sum(abn.forward(&mut ws, x)));
            assert_eq!(
                n, 0,
                "ApesBlockNet::forward on 2 threads, call {call}: {n} allocations"
            );
        }
        let mut ws = skipnet::Workspace::<{ ResNetBn::ARENA_LEN }, ResNetBn>::with_threads(2);
        let (n, _) = allocations_during(|| net_sum(rn.forward(&mut ws, &[0.5; 12288])));
        assert_eq!(n, 0, "ResNetBn::forward on 2 threads allocated {n} times");
    }
}

fn net_sum(y: &[f32]) -> f32 {
    y.iter().sum()
}
