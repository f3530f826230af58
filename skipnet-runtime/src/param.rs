//! Fixed-size weight storage: owned (loaded at run time) or `'static` (baked).

use core::ops::Deref;

/// `N` f32 weights of one tensor, in the layout the kernels read.
pub struct Param<const N: usize>(Storage<N>);

enum Storage<const N: usize> {
    Static(&'static [f32; N]),
    #[cfg(feature = "alloc")]
    Owned(alloc::boxed::Box<[f32; N]>),
}

impl<const N: usize> Param<N> {
    /// Weights that live in static memory (flash on a microcontroller).
    pub const fn from_static(w: &'static [f32; N]) -> Self {
        Param(Storage::Static(w))
    }

    /// Weights copied from `src` into a heap buffer that is allocated zeroed in
    /// place (never built on the stack). `None` if `src` has the wrong length.
    #[cfg(feature = "alloc")]
    pub fn from_slice(src: &[f32]) -> Option<Self> {
        if src.len() != N {
            return None;
        }
        Self::from_boxed(src.into())
    }

    /// Takes ownership of a heap buffer of exactly `N` values.
    #[cfg(feature = "alloc")]
    pub fn from_boxed(values: alloc::boxed::Box<[f32]>) -> Option<Self> {
        let arr: alloc::boxed::Box<[f32; N]> = values.try_into().ok()?;
        Some(Param(Storage::Owned(arr)))
    }
}

impl<const N: usize> Deref for Param<N> {
    type Target = [f32; N];
    #[inline(always)]
    fn deref(&self) -> &[f32; N] {
        match &self.0 {
            Storage::Static(w) => w,
            #[cfg(feature = "alloc")]
            Storage::Owned(w) => w,
        }
    }
}

impl<const N: usize> core::fmt::Debug for Param<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Param<{N}>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
    }
}
