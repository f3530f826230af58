//! The statically planned arena and the typed workspace that wraps it.
//!
//! The macro assigns every intermediate tensor an offset and a length at compile
//! time. Regions are addressed with const generics, so every bound and every
//! "the output does not overlap this operand" fact is checked by the compiler
//! (a post-monomorphization `const` assertion) rather than at run time.

use crate::exec::Exec;
use core::marker::PhantomData;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for i8 {}
    impl Sealed for i32 {}
}

/// What an arena or a weight tensor holds: `f32`, or `i8` (activations and
/// weights) and `i32` (biases) in a `#[quantized]` network. Sealed: for
/// every implementor the all-zero bit pattern is [`Element::ZERO`], which
/// [`Workspace::boxed`] relies on when it allocates zeroed memory.
pub trait Element: Copy + Send + Sync + 'static + sealed::Sealed {
    /// The value whose bytes are all zero.
    const ZERO: Self;
    /// A zero-sized type whose alignment an [`Arena`] of this element
    /// takes: [`CacheLine`] for f32, none for the int8 arenas that
    /// microcontrollers hold (they stay packed to the byte).
    type Align: Copy + Send + Sync + 'static;
}

impl Element for f32 {
    const ZERO: f32 = 0.0;
    type Align = CacheLine;
}
impl Element for i8 {
    const ZERO: i8 = 0;
    type Align = ();
}
impl Element for i32 {
    const ZERO: i32 = 0;
    type Align = ();
}

/// A zero-sized type aligned to 64 bytes, a cache line and an AVX-512
/// vector: an f32 [`Arena`] starts on one.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
pub struct CacheLine;

/// `N` elements (f32 unless the network is quantized) of scratch memory;
/// tensors live at fixed offsets inside it. An f32 arena starts on a cache
/// line ([`Element::Align`]) and the planner puts every f32 tensor at a
/// multiple of 16 floats, so a tensor starts on a line and, when its
/// channels are a multiple of 16, no vector load of it straddles two (a
/// split load costs two: MobileNetV2's depthwise layers ran 20-30% slower
/// on unaligned tensors).
#[repr(C)]
pub struct Arena<const N: usize, T: Element = f32> {
    _align: [T::Align; 0],
    data: [T; N],
}

impl<const N: usize, T: Element> Arena<N, T> {
    /// Number of elements.
    pub const LEN: usize = N;

    /// A zeroed arena. `const`, so it can initialise a `static` (placed in `.bss`).
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Arena {
            _align: [],
            data: [T::ZERO; N],
        }
    }

    /// The whole arena as a slice.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The region `[OFF, OFF + LEN)`; out-of-range regions fail to compile.
    #[inline(always)]
    pub fn get<const OFF: usize, const LEN: usize>(&self) -> &[T; LEN] {
        const { assert!(OFF + LEN <= N, "arena region out of bounds") };
        // SAFETY: the const assertion proves OFF + LEN <= N, so the region lies
        // inside `self.data`; the shared borrow of `self` covers the returned lifetime.
        unsafe { &*(self.data.as_ptr().add(OFF) as *const [T; LEN]) }
    }

    /// The region `[OFF, OFF + LEN)`, mutably.
    #[inline(always)]
    pub fn get_mut<const OFF: usize, const LEN: usize>(&mut self) -> &mut [T; LEN] {
        const { assert!(OFF + LEN <= N, "arena region out of bounds") };
        // SAFETY: in bounds by the const assertion; the exclusive borrow of `self`
        // guarantees no other reference into the arena exists for the lifetime.
        unsafe { &mut *(self.data.as_mut_ptr().add(OFF) as *mut [T; LEN]) }
    }

    /// Splits the arena into a writable output region `[OFF, OFF + LEN)` and a
    /// reader for every region that does not overlap it.
    #[inline(always)]
    pub fn split<const OFF: usize, const LEN: usize>(
        &mut self,
    ) -> (ArenaRead<'_, N, OFF, LEN, 0, 0, T>, &mut [T; LEN]) {
        const { assert!(OFF + LEN <= N, "arena region out of bounds") };
        let base = self.data.as_mut_ptr();
        // SAFETY: in bounds by the const assertion. The reader only ever hands out
        // regions that its own const assertion proves disjoint from this one, and
        // both are derived from the same exclusive borrow of `self`.
        let out = unsafe { &mut *(base.add(OFF) as *mut [T; LEN]) };
        (
            ArenaRead {
                base: base as *const T,
                _borrow: PhantomData,
            },
            out,
        )
    }

    /// As [`split`](Self::split), plus a second writable region `[S_OFF,
    /// S_OFF + S_LEN)`: a kernel's scratch memory for this step. The two
    /// regions must be disjoint (checked at compile time) and the reader
    /// excludes both.
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    pub fn split_scratch<
        const OFF: usize,
        const LEN: usize,
        const S_OFF: usize,
        const S_LEN: usize,
    >(
        &mut self,
    ) -> (
        ArenaRead<'_, N, OFF, LEN, S_OFF, S_LEN, T>,
        &mut [T; LEN],
        &mut [T; S_LEN],
    ) {
        const {
            assert!(OFF + LEN <= N, "arena region out of bounds");
            assert!(S_OFF + S_LEN <= N, "arena scratch region out of bounds");
            assert!(
                OFF + LEN <= S_OFF || S_OFF + S_LEN <= OFF,
                "scratch region overlaps the output region"
            );
        };
        let base = self.data.as_mut_ptr();
        // SAFETY: both regions are in bounds and disjoint (const assertions); the
        // reader hands out only regions disjoint from both; all three derive
        // from the same exclusive borrow of `self`.
        let (out, scratch) = unsafe {
            (
                &mut *(base.add(OFF) as *mut [T; LEN]),
                &mut *(base.add(S_OFF) as *mut [T; S_LEN]),
            )
        };
        (
            ArenaRead {
                base: base as *const T,
                _borrow: PhantomData,
            },
            out,
            scratch,
        )
    }
}

/// Read access to the arena regions disjoint from `[OUT_OFF, OUT_OFF + OUT_LEN)`
/// (and from a scratch region `[S_OFF, S_OFF + S_LEN)`, empty by default).
pub struct ArenaRead<
    'a,
    const N: usize,
    const OUT_OFF: usize,
    const OUT_LEN: usize,
    const S_OFF: usize = 0,
    const S_LEN: usize = 0,
    T: Element = f32,
> {
    base: *const T,
    _borrow: PhantomData<&'a [T; N]>,
}

impl<
        'a,
        const N: usize,
        const OUT_OFF: usize,
        const OUT_LEN: usize,
        const S_OFF: usize,
        const S_LEN: usize,
        T: Element,
    > ArenaRead<'a, N, OUT_OFF, OUT_LEN, S_OFF, S_LEN, T>
{
    /// The region `[OFF, OFF + LEN)`; overlapping the output region, or lying
    /// outside the arena, fails to compile.
    #[inline(always)]
    pub fn get<const OFF: usize, const LEN: usize>(&self) -> &'a [T; LEN] {
        const {
            assert!(OFF + LEN <= N, "arena region out of bounds");
            assert!(
                OFF + LEN <= OUT_OFF || OFF >= OUT_OFF + OUT_LEN,
                "operand region overlaps the output region"
            );
            assert!(
                S_LEN == 0 || OFF + LEN <= S_OFF || OFF >= S_OFF + S_LEN,
                "operand region overlaps the scratch region"
            );
        };
        // SAFETY: in bounds and disjoint from the only mutable region handed out
        // by `Arena::split` (both proven by the const assertions above); `'a` is
        // the lifetime of the exclusive borrow that `split` took.
        unsafe { &*(self.base.add(OFF) as *const [T; LEN]) }
    }
}

/// A network's workspace: its arena, typed by the network (`Tag`) so that one
/// network's workspace cannot be handed to another, and the threads its
/// kernels run on (the calling thread only, unless created by
/// [`with_threads`](Self::with_threads) under the `parallel` feature).
///
/// `network!` generates `pub type <Net>Workspace = Workspace<ARENA_LEN, <tag>>`.
pub struct Workspace<const N: usize, Tag, T: Element = f32> {
    arena: Arena<N, T>,
    exec: Exec,
    _tag: PhantomData<fn() -> Tag>,
}

impl<const N: usize, Tag, T: Element> Workspace<N, Tag, T> {
    /// A zeroed, single-threaded workspace; `const`, so it can live in a `static`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Workspace {
            arena: Arena::new(),
            exec: Exec::serial(),
            _tag: PhantomData,
        }
    }

    /// A zeroed workspace on the heap, allocated zeroed in place (never built on
    /// the stack, whatever its size).
    #[cfg(feature = "alloc")]
    pub fn boxed() -> alloc::boxed::Box<Self> {
        use alloc::alloc::{alloc_zeroed, handle_alloc_error, Layout};
        use core::ptr::addr_of_mut;
        let layout = Layout::new::<Self>();
        // SAFETY: a zero-sized `Self` (N == 0 and a zero-sized element
        // type) is handled first. The arena's all-zero bytes are valid `T`s
        // (`Element` is sealed: f32 0.0, i8 and i32 0); `exec` is written before the box is formed, so no field is
        // ever read uninitialised. The pointer comes from the global allocator
        // with `Self`'s layout, which is what `Box::from_raw` requires.
        unsafe {
            if layout.size() == 0 {
                return alloc::boxed::Box::new(Self::new());
            }
            let ptr = alloc_zeroed(layout) as *mut Self;
            if ptr.is_null() {
                handle_alloc_error(layout);
            }
            addr_of_mut!((*ptr).exec).write(Exec::serial());
            alloc::boxed::Box::from_raw(ptr)
        }
    }

    /// A zeroed workspace on the heap whose convolutions are split across
    /// `threads` threads: the caller's and `threads - 1` workers started now
    /// and stopped when the workspace is dropped. `forward` still never
    /// allocates; results are bit-for-bit those of one thread (each output is
    /// summed in the same order, only by another thread).
    ///
    /// ```
    /// struct Net;
    /// let ws = skipnet_runtime::Workspace::<1024, Net>::with_threads(2);
    /// assert_eq!(ws.threads(), 2);
    /// ```
    ///
    /// # Panics
    /// If the OS refuses to start a thread; [`try_with_threads`] returns the
    /// error instead.
    ///
    /// [`try_with_threads`]: Self::try_with_threads
    #[cfg(feature = "parallel")]
    pub fn with_threads(threads: usize) -> alloc::boxed::Box<Self> {
        let mut ws = Self::boxed();
        ws.exec = Exec::with_threads(threads);
        ws
    }

    /// As [`with_threads`](Self::with_threads), but a thread the OS refuses to
    /// start is an `Err`; the workers started before it have then been
    /// stopped and joined (no thread is left behind).
    ///
    /// ```
    /// struct Net;
    /// let ws = skipnet_runtime::Workspace::<1024, Net>::try_with_threads(2)?;
    /// assert_eq!(ws.threads(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "parallel")]
    pub fn try_with_threads(threads: usize) -> std::io::Result<alloc::boxed::Box<Self>> {
        // Threads first: a failure then costs no arena allocation.
        let exec = Exec::try_with_threads(threads)?;
        let mut ws = Self::boxed();
        ws.exec = exec;
        Ok(ws)
    }

    /// Threads a kernel of this workspace runs on.
    pub fn threads(&self) -> usize {
        self.exec.threads()
    }

    /// The convolution kernel `forward` runs on with this workspace: the
    /// best this CPU has, unless chosen with [`set_isa`](Self::set_isa).
    pub fn isa(&self) -> crate::igemm::Isa {
        self.exec.isa()
    }

    /// Runs `forward`'s convolutions on `isa` (to compare kernels: the tests
    /// check every ISA of the machine against Keras this way); an error, and
    /// no change, if this CPU cannot run it.
    pub fn set_isa(&mut self, isa: crate::igemm::Isa) -> Result<(), crate::exec::UnavailableIsa> {
        self.exec.set_isa(isa)
    }

    /// The arena, for generated code and for inspecting intermediate tensors.
    pub fn arena(&self) -> &Arena<N, T> {
        &self.arena
    }

    /// The arena, mutably.
    pub fn arena_mut(&mut self) -> &mut Arena<N, T> {
        &mut self.arena
    }

    /// The arena, mutably, and the threads to run kernels on (for generated
    /// code). Both exclusive: running a job on the threads takes `&mut Exec`
    /// (one job at a time, see [`Exec`]).
    pub fn parts_mut(&mut self) -> (&mut Arena<N, T>, &mut Exec) {
        (&mut self.arena, &mut self.exec)
    }
}

/// A workspace in a `static`, handed out once as `&'static mut`: how a
/// `no_std` binary gets its arena without an allocator and without `unsafe`
/// in user code (as `static_cell::ConstStaticCell`). Zero-initialised, so it
/// lands in `.bss` and costs no flash.
///
/// ```
/// use skipnet_runtime::StaticWorkspace;
/// struct MyNet;
/// static WS: StaticWorkspace<1024, MyNet> = StaticWorkspace::new();
/// let ws = WS.take().expect("first take");
/// ws.arena_mut().get_mut::<0, 2>().copy_from_slice(&[1.0, 2.0]);
/// assert!(WS.take().is_none(), "a second take would alias the first");
/// ```
#[cfg(target_has_atomic = "8")]
pub struct StaticWorkspace<const N: usize, Tag, T: Element = f32> {
    taken: core::sync::atomic::AtomicBool,
    ws: core::cell::UnsafeCell<Workspace<N, Tag, T>>,
}

// SAFETY: the workspace inside is only reached through `take`, which an atomic
// flag lets succeed once, so at most one `&mut` to it ever exists; `Workspace`
// itself is `Send` (`Element`s, which are `Send`, a `Send + Sync` marker, and an `Exec`, `Send + Sync`
// as asserted in exec.rs; running its jobs takes `&mut`).
#[cfg(target_has_atomic = "8")]
unsafe impl<const N: usize, Tag, T: Element> Sync for StaticWorkspace<N, Tag, T> {}

#[cfg(target_has_atomic = "8")]
impl<const N: usize, Tag, T: Element> StaticWorkspace<N, Tag, T> {
    /// A zeroed, untaken workspace (`const`: for a `static`).
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        StaticWorkspace {
            taken: core::sync::atomic::AtomicBool::new(false),
            ws: core::cell::UnsafeCell::new(Workspace::new()),
        }
    }

    /// The workspace, the first time; `None` afterwards.
    // Handing out `&mut` from `&self` is the point of the cell; the atomic flag
    // makes it unique (see the SAFETY comment below).
    #[allow(clippy::mut_from_ref)]
    pub fn take(&'static self) -> Option<&'static mut Workspace<N, Tag, T>> {
        use core::sync::atomic::Ordering;
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: the swap above returned `false` exactly once for this static,
        // so no other reference to the workspace exists or will be created; the
        // static lives forever, so `'static` is sound.
        Some(unsafe { &mut *self.ws.get() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_reads_both_sides_of_the_output() {
        let mut a = Arena::<10>::new();
        a.get_mut::<0, 3>().copy_from_slice(&[1.0, 2.0, 3.0]);
        a.get_mut::<7, 3>().copy_from_slice(&[7.0, 8.0, 9.0]);
        let (r, out) = a.split::<3, 4>();
        let lo = r.get::<0, 3>();
        let hi = r.get::<7, 3>();
        out.copy_from_slice(&[lo[0], lo[2], hi[0], hi[2]]);
        assert_eq!(a.get::<3, 4>(), &[1.0, 3.0, 7.0, 9.0]);
    }

    #[test]
    fn split_scratch_gives_two_disjoint_writable_regions() {
        let mut a = Arena::<10>::new();
        a.get_mut::<0, 2>().copy_from_slice(&[1.0, 2.0]);
        let (r, out, scratch) = a.split_scratch::<6, 4, 2, 4>();
        let x = r.get::<0, 2>();
        scratch.copy_from_slice(&[x[0], x[1], x[0], x[1]]);
        out.copy_from_slice(&[scratch[0] * 10.0, 0.0, 0.0, scratch[3]]);
        assert_eq!(
            a.as_slice(),
            &[1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 10.0, 0.0, 0.0, 2.0]
        );
    }

    #[cfg(target_has_atomic = "8")]
    #[test]
    fn a_static_workspace_is_taken_once() {
        struct Tag;
        static WS: StaticWorkspace<4, Tag> = StaticWorkspace::new();
        let ws = WS.take().expect("first take");
        ws.arena_mut()
            .get_mut::<1, 2>()
            .copy_from_slice(&[1.0, 2.0]);
        assert!(WS.take().is_none());
        assert_eq!(ws.arena().as_slice(), &[0.0, 1.0, 2.0, 0.0]);
        assert_eq!(ws.threads(), 1);
    }

    #[cfg(all(feature = "parallel", not(loom)))]
    #[test]
    fn threaded_workspace_runs_jobs_through_parts_mut() {
        struct Tag;
        let mut ws = Workspace::<8, Tag>::try_with_threads(2).expect("threads start");
        assert_eq!(ws.threads(), 2);
        let (arena, exec) = ws.parts_mut();
        exec.for_each_chunk(arena.get_mut::<0, 8>(), 3, &|i, c| c.fill(i as f32));
        assert_eq!(
            ws.arena().as_slice(),
            &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0]
        );
    }

    #[cfg(target_has_atomic = "8")]
    #[test]
    fn arenas_start_on_a_cache_line() {
        struct Tag;
        assert_eq!(core::mem::align_of::<Arena<3, f32>>(), 64);
        // int8 arenas stay packed (a microcontroller's RAM).
        assert_eq!(core::mem::size_of::<Arena<3, i8>>(), 3);
        static WS: StaticWorkspace<5, Tag> = StaticWorkspace::new();
        assert_eq!(
            WS.take().unwrap().arena().as_slice().as_ptr() as usize % 64,
            0
        );
        #[cfg(feature = "alloc")]
        assert_eq!(
            Workspace::<7, Tag>::boxed().arena().as_slice().as_ptr() as usize % 64,
            0
        );
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn boxed_workspace_is_zeroed() {
        struct Tag;
        let ws = Workspace::<100_000, Tag>::boxed();
        assert!(ws.arena().as_slice().iter().all(|&v| v == 0.0));
        assert_eq!(ws.arena().as_slice().len(), 100_000);
    }
}
