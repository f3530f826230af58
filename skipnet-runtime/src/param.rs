//! Fixed-size weight storage: owned (loaded at run time) or `'static` (baked).

use crate::arena::Element;
use core::ops::Deref;

/// `N` weights of one tensor (f32, or i8 and i32 in a quantized network), in
/// the layout the kernels read.
pub struct Param<const N: usize, T: Element = f32>(Storage<N, T>);

enum Storage<const N: usize, T: Element> {
    Static(&'static [T; N]),
    #[cfg(feature = "alloc")]
    Owned(alloc::boxed::Box<Aligned<[T; N]>>),
}

/// A value aligned to 64 bytes, a cache line: how weights are stored
/// (baked statics and loaded buffers alike), so that a kernel's vector loads
/// of a packed panel (rows of 16 floats) never straddle two lines.
#[repr(C, align(64))]
pub struct Aligned<T>(pub T);

/// A zeroed, 64-byte-aligned `[T; N]` on the heap, allocated zeroed in
/// place (never built on the stack).
#[cfg(feature = "alloc")]
fn zeroed_aligned<const N: usize, T: Element>() -> alloc::boxed::Box<Aligned<[T; N]>> {
    use alloc::alloc::{alloc_zeroed, handle_alloc_error, Layout};
    let layout = Layout::new::<Aligned<[T; N]>>();
    if layout.size() == 0 {
        return alloc::boxed::Box::new(Aligned([T::ZERO; N]));
    }
    // SAFETY: `layout` has a non-zero size; all-zero bytes are a valid
    // `[T; N]` (`Element` is sealed: f32 0.0, i8 and i32 0); the pointer
    // comes from the global allocator with the layout of the boxed type,
    // which is what `Box::from_raw` requires.
    unsafe {
        let ptr = alloc_zeroed(layout) as *mut Aligned<[T; N]>;
        if ptr.is_null() {
            handle_alloc_error(layout);
        }
        alloc::boxed::Box::from_raw(ptr)
    }
}

impl<const N: usize, T: Element> Param<N, T> {
    /// Weights that live in static memory (flash on a microcontroller).
    pub const fn from_static(w: &'static [T; N]) -> Self {
        Param(Storage::Static(w))
    }

    /// Weights copied from `src` into a heap buffer that is allocated zeroed in
    /// place (never built on the stack). `None` if `src` has the wrong length.
    #[cfg(feature = "alloc")]
    pub fn from_slice(src: &[T]) -> Option<Self> {
        if src.len() != N {
            return None;
        }
        let mut w = zeroed_aligned::<N, T>();
        w.0.copy_from_slice(src);
        Some(Param(Storage::Owned(w)))
    }

    /// The values of a heap buffer of exactly `N` values, moved to a
    /// 64-byte-aligned one ([`Aligned`]).
    #[cfg(feature = "alloc")]
    pub fn from_boxed(values: alloc::boxed::Box<[T]>) -> Option<Self> {
        Self::from_slice(&values)
    }
}

impl<const N: usize, T: Element> Deref for Param<N, T> {
    type Target = [T; N];
    #[inline(always)]
    fn deref(&self) -> &[T; N] {
        match &self.0 {
            Storage::Static(w) => w,
            #[cfg(feature = "alloc")]
            Storage::Owned(w) => &w.0,
        }
    }
}

impl<const N: usize, T: Element> core::fmt::Debug for Param<N, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Param<{N}>")
    }
}

/// Reinterprets little-endian bytes as `N` f32 values, at compile time: how
/// baked weights become a `static` array with no start-up work (the macro
/// emits the packed weights as one byte-string literal; a per-element `const`
/// loop over hundreds of thousands of values takes rustc many seconds, a
/// reinterpretation none).
///
/// Fails to compile (const panic) unless `B == 4 * N`.
///
/// ```
/// const W: [f32; 2] = skipnet_runtime::f32s_from_le_bytes(&[0, 0, 128, 63, 0, 0, 0, 192]);
/// assert_eq!(W, [1.0, -2.0]);
/// ```
pub const fn f32s_from_le_bytes<const N: usize, const B: usize>(bytes: &[u8; B]) -> [f32; N] {
    assert!(
        B == 4 * N,
        "byte length must be 4 x the number of f32 values"
    );
    #[repr(C)]
    union Bits<const B: usize, const N: usize> {
        bytes: [u8; B],
        floats: [f32; N],
    }
    // SAFETY: both fields have the same size (B == 4 * N, asserted above; f32
    // has no padding) and every bit pattern is a valid f32, so reading the
    // floats after writing the bytes is defined.
    let mut v = unsafe { Bits::<B, N> { bytes: *bytes }.floats };
    if cfg!(target_endian = "big") {
        let mut i = 0;
        while i < N {
            v[i] = f32::from_bits(u32::from_le(v[i].to_bits()));
            i += 1;
        }
    }
    v
}

/// Reinterprets bytes as `N` i8 values, at compile time: a quantized
/// network's baked kernels (one byte-string literal, as for
/// [`f32s_from_le_bytes`]).
///
/// ```
/// const W: [i8; 3] = skipnet_runtime::i8s_from_bytes(&[0, 127, 255]);
/// assert_eq!(W, [0, 127, -1]);
/// ```
pub const fn i8s_from_bytes<const N: usize>(bytes: &[u8; N]) -> [i8; N] {
    #[repr(C)]
    union Bits<const N: usize> {
        bytes: [u8; N],
        ints: [i8; N],
    }
    // SAFETY: u8 and i8 have the same size and every bit pattern is valid
    // for both, so reading the i8s after writing the bytes is defined.
    unsafe { Bits::<N> { bytes: *bytes }.ints }
}

/// Reinterprets little-endian bytes as `N` i32 values, at compile time: a
/// quantized network's baked biases and packed kernels (a reinterpretation,
/// as for [`f32s_from_le_bytes`]). Fails to compile unless `B == 4 * N`.
///
/// ```
/// const B: [i32; 2] = skipnet_runtime::i32s_from_le_bytes(&[1, 0, 0, 0, 255, 255, 255, 255]);
/// assert_eq!(B, [1, -1]);
/// ```
pub const fn i32s_from_le_bytes<const N: usize, const B: usize>(bytes: &[u8; B]) -> [i32; N] {
    assert!(
        B == 4 * N,
        "byte length must be 4 x the number of i32 values"
    );
    #[repr(C)]
    union Bits<const B: usize, const N: usize> {
        bytes: [u8; B],
        ints: [i32; N],
    }
    // SAFETY: both fields have the same size (B == 4 * N, asserted above)
    // and every bit pattern is a valid i32.
    let mut v = unsafe { Bits::<B, N> { bytes: *bytes }.ints };
    if cfg!(target_endian = "big") {
        let mut i = 0;
        while i < N {
            v[i] = i32::from_le(v[i]);
            i += 1;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_to_floats() {
        let f = [1.5f32, -0.0, f32::INFINITY, 3.25e-7];
        let mut b = [0u8; 16];
        for (i, v) in f.iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        const ONE: [f32; 1] = f32s_from_le_bytes(&[0, 0, 128, 63]);
        assert_eq!(ONE, [1.0]);
        let g: [f32; 4] = f32s_from_le_bytes(&b);
        assert_eq!(g.map(f32::to_bits), f.map(f32::to_bits));
    }

    static W: [f32; 3] = [1.0, 2.0, 3.0];

    #[test]
    fn static_and_owned_read_the_same() {
        let s = Param::from_static(&W);
        assert_eq!(&*s, &W);
        #[cfg(feature = "alloc")]
        {
            let o = Param::<3>::from_slice(&W).expect("length matches");
            assert_eq!(&*o, &W);
            assert!(Param::<4>::from_slice(&W).is_none());
            let b = Param::<3>::from_boxed(W.to_vec().into_boxed_slice()).expect("length");
            assert_eq!(&*b, &W);
            assert!(Param::<2>::from_boxed(W.to_vec().into_boxed_slice()).is_none());
        }
    }

    #[test]
    fn weights_start_on_a_cache_line() {
        static A: Aligned<[f32; 3]> = Aligned([1.0, 2.0, 3.0]);
        assert_eq!(Param::from_static(&A.0).as_ptr() as usize % 64, 0);
        #[cfg(feature = "alloc")]
        for n in [1usize, 5, 1000, 100_000] {
            let v = alloc::vec![1.5f32; n];
            let p = match n {
                1 => Param::<1>::from_slice(&v).unwrap().as_ptr() as usize,
                5 => Param::<5>::from_slice(&v).unwrap().as_ptr() as usize,
                1000 => Param::<1000>::from_slice(&v).unwrap().as_ptr() as usize,
                _ => Param::<100_000>::from_slice(&v).unwrap().as_ptr() as usize,
            };
            assert_eq!(p % 64, 0, "{n} values");
        }
        #[cfg(feature = "alloc")]
        assert_eq!(&*Param::<0, i8>::from_slice(&[]).unwrap(), &[] as &[i8; 0]);
    }
}
