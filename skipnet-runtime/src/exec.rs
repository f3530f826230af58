//! Where a kernel's independent parts run: on the calling thread only, or, with
//! the `parallel` feature, also on worker threads that a workspace owns.
//!
//! The pool is created once, with the workspace ([`Workspace::with_threads`]),
//! never per call. Handing work out costs no allocation: a job is a borrowed
//! `&dyn Fn(usize)` published under a mutex, tasks are claimed with atomic
//! counters, and the caller takes tasks too and returns only after every worker
//! has finished the job (so the borrowed closure outlives every use of it).
//! Each thread owns a contiguous range of a job's tasks (the caller the first,
//! worker `k` the `k + 1`-th of `threads` equal ranges) and claims from it
//! before it takes what is left of the others': a kernel cuts its output into
//! tasks in order, so the same thread computes the same part of every layer's
//! output, and the next layer finds its input in that core's own cache (with
//! one shared counter which thread took which part was a race, and half of
//! each layer's input came from the other core).
//! Between jobs a worker spins for a short while before it sleeps on a condition
//! variable, so the convs of one `forward` find it awake.
//!
//! # Guarantees
//!
//! - **One job at a time, by construction.** [`Exec::run`] and
//!   [`Exec::for_each_chunk`] take `&mut self`: two threads cannot run jobs on
//!   one pool at once, and a task cannot start a job on the pool that runs it
//!   (a task is a `Fn + Sync` closure, which cannot hold the `&mut Exec` its
//!   caller lent to `run`). Both are compile errors:
//!
//!   ```compile_fail,E0499
//!   let mut exec = skipnet_runtime::Exec::serial();
//!   std::thread::scope(|s| {
//!       s.spawn(|| exec.run(2, &|_| {}));
//!       s.spawn(|| exec.run(2, &|_| {})); // second `&mut` borrow
//!   });
//!   ```
//!
//!   ```compile_fail,E0499
//!   let mut exec = skipnet_runtime::Exec::serial();
//!   exec.run(2, &|_| exec.run(2, &|_| {})); // re-entering the same pool
//!   ```
//! - **Every task once.** `run(tasks, task)` calls `task(i)` for each `i` in
//!   `0..tasks` exactly once when no task panics (never twice in any case),
//!   and returns only when every call has returned and no worker touches the
//!   closure any more; everything the tasks wrote is visible to the caller then.
//! - **Panics.** A panicking task stops the thread that ran it from claiming
//!   more; the others finish what is left, and `run` then re-raises the panic on
//!   the caller. The pool stays usable.
//! - **No allocation per job**, no thread started or stopped per job: threads
//!   start in [`Exec::try_with_threads`] (which, if the OS refuses one, stops
//!   and joins those already started and returns the error) and are stopped and
//!   joined when the `Exec` is dropped.
//! - **Deterministic results** when each task writes its own part of the
//!   output, as every kernel here does: which thread runs a task varies, the
//!   arithmetic does not.
//!
//! The job protocol (publish, claim, finish, a panicking task, shutdown, a
//! failed start) is model-checked with `loom` (`RUSTFLAGS="--cfg loom" cargo
//! test -p skipnet-runtime --features parallel --release --lib loom`), and the
//! unit tests below run under Miri.
//!
//! [`Workspace::with_threads`]: crate::Workspace::with_threads

use crate::isa::Isa;

/// Runs a kernel's tasks: serially, or spread over a worker pool (`parallel`).
///
/// `Send` and `Sync`; running a job needs `&mut Exec` (see the [module
/// docs](self) for what the pool guarantees).
pub struct Exec {
    #[cfg(feature = "parallel")]
    pool: Option<pool::Pool>,
    /// The convolution kernel chosen with [`Exec::set_isa`]; `None`: the best
    /// this CPU has ([`Isa::detect`]).
    isa: Option<Isa>,
}

/// [`Exec::set_isa`] was asked for a kernel this CPU cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnavailableIsa(pub Isa);

impl core::fmt::Display for UnavailableIsa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "this CPU cannot run the {:?} kernels", self.0)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UnavailableIsa {}

// A workspace holding an `Exec` moves between threads and may be shared.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Exec>();
};

impl Exec {
    /// Everything on the calling thread.
    pub const fn serial() -> Self {
        Exec {
            #[cfg(feature = "parallel")]
            pool: None,
            isa: None,
        }
    }

    /// The convolution kernel this `Exec`'s kernels run: the one chosen with
    /// [`set_isa`](Self::set_isa), else the best this CPU has.
    #[inline]
    pub fn isa(&self) -> Isa {
        self.isa.unwrap_or_else(Isa::detect)
    }

    /// Runs the convolutions on `isa` instead of the best kernel this CPU has
    /// (to compare kernels in tests and benchmarks; results differ between
    /// ISAs only by float rounding). Changes nothing and returns the error if
    /// this CPU cannot run `isa`.
    ///
    /// ```
    /// use skipnet_runtime::{igemm::Isa, Exec};
    /// let mut exec = Exec::serial();
    /// exec.set_isa(Isa::Scalar).unwrap();
    /// assert_eq!(exec.isa(), Isa::Scalar);
    /// ```
    pub fn set_isa(&mut self, isa: Isa) -> Result<(), UnavailableIsa> {
        if !isa.available() {
            return Err(UnavailableIsa(isa));
        }
        self.isa = Some(isa);
        Ok(())
    }

    /// The calling thread plus `threads - 1` workers (none for 0 or 1).
    ///
    /// # Panics
    /// If the OS refuses to start a thread; [`try_with_threads`] returns the
    /// error instead.
    ///
    /// [`try_with_threads`]: Self::try_with_threads
    #[cfg(feature = "parallel")]
    pub fn with_threads(threads: usize) -> Self {
        match Self::try_with_threads(threads) {
            Ok(exec) => exec,
            Err(e) => panic!("skipnet: cannot start a worker thread: {e}"),
        }
    }

    /// The calling thread plus `threads - 1` workers (none for 0 or 1), or the
    /// error of the first thread the OS refused to start; the workers started
    /// before it are then stopped and joined, so no thread is left behind.
    ///
    /// ```
    /// let exec = skipnet_runtime::Exec::try_with_threads(2)?;
    /// assert_eq!(exec.threads(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "parallel")]
    pub fn try_with_threads(threads: usize) -> std::io::Result<Self> {
        Ok(Exec {
            pool: if threads > 1 {
                Some(pool::Pool::new(threads - 1)?)
            } else {
                None
            },
            isa: None,
        })
    }

    /// Threads that run a job: the caller and the workers.
    pub fn threads(&self) -> usize {
        #[cfg(feature = "parallel")]
        if let Some(pool) = &self.pool {
            return pool.workers() + 1;
        }
        1
    }

    /// Calls `task(i)` once for every `i` in `0..tasks`, in any order and on
    /// any of the threads, and returns when all calls have returned. A panic in
    /// a task is re-raised here after the others finish (tasks left unclaimed
    /// by the panicking thread still run on the others; none runs twice).
    ///
    /// `&mut self`: one job at a time per pool, and none started from inside a
    /// task (see the [module docs](self)).
    pub fn run(&mut self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        #[cfg(feature = "parallel")]
        if let Some(pool) = &mut self.pool {
            if tasks > 1 {
                return pool.run(tasks, task);
            }
        }
        for i in 0..tasks {
            task(i);
        }
    }
}

impl Exec {
    /// Cuts `data` into consecutive chunks of `chunk` elements (the last one
    /// may be shorter) and calls `task(i, chunk_i)` once for each, on any of
    /// the threads: how a kernel whose output rows are independent (pooling)
    /// splits its work.
    pub fn for_each_chunk(
        &mut self,
        data: &mut [f32],
        chunk: usize,
        task: &(dyn Fn(usize, &mut [f32]) + Sync),
    ) {
        let chunk = chunk.max(1);
        if self.threads() == 1 {
            for (i, c) in data.chunks_mut(chunk).enumerate() {
                task(i, c);
            }
            return;
        }
        let (ptr, len) = (SharedMut(data.as_mut_ptr()), data.len());
        self.run(len.div_ceil(chunk), &|i| {
            let start = i * chunk;
            let n = chunk.min(len - start);
            let p = &ptr;
            // SAFETY: `start + n <= len` (`i < len.div_ceil(chunk)`), so the
            // chunk lies inside `data`, whose exclusive borrow this call
            // holds until `run` has returned, i.e. until every task has
            // returned; chunk `i` is handed to at most one task (`run` calls
            // each index at most once) and chunks of different indices are
            // disjoint.
            let c = unsafe { core::slice::from_raw_parts_mut(p.0.add(start), n) };
            task(i, c);
        });
    }
}

/// A pointer into a buffer whose disjoint chunks several threads write.
struct SharedMut(*mut f32);
// SAFETY: only used by `Exec::for_each_chunk`, whose tasks touch disjoint chunks.
unsafe impl Sync for SharedMut {}

impl core::fmt::Debug for Exec {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Exec")
            .field("threads", &self.threads())
            .finish()
    }
}

/// std's synchronisation primitives, or loom's under `--cfg loom` (which
/// model-checks every interleaving of the pool's protocol).
#[cfg(feature = "parallel")]
mod sync {
    #[cfg(loom)]
    pub(super) use loom::{
        sync::atomic::{AtomicUsize, Ordering},
        sync::{Arc, Condvar, Mutex, MutexGuard},
        thread,
    };
    #[cfg(not(loom))]
    pub(super) use std::{
        sync::atomic::{AtomicUsize, Ordering},
        sync::{Arc, Condvar, Mutex, MutexGuard},
        thread,
    };
}

#[cfg(feature = "parallel")]
mod pool {
    use super::sync::{thread, Arc, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};
    use std::io;
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
    use std::vec::Vec;

    /// The current job: a closure borrowed from [`Pool::run`]'s caller, with its
    /// lifetime erased (see the SAFETY argument there).
    #[derive(Clone, Copy)]
    struct Job {
        task: *const (dyn Fn(usize) + Sync + 'static),
        tasks: usize,
    }

    // SAFETY: the closure behind `task` is `Sync` (shared calls from several
    // threads are fine) and `Pool::run` keeps it alive until every worker has
    // stopped using the pointer.
    unsafe impl Send for Job {}

    struct Control {
        /// Bumped for every job; a worker runs each epoch exactly once.
        epoch: usize,
        job: Option<Job>,
        panicked: bool,
        exit: bool,
    }

    pub(super) struct Shared {
        control: Mutex<Control>,
        wake: Condvar,
        done: Condvar,
        /// Mirror of `control.epoch` that spinning workers poll without the lock.
        epoch: AtomicUsize,
        /// Next unclaimed task of each thread's range of the current job
        /// (index 0 the caller's, `k + 1` worker `k`'s; see [`range_end`]).
        next: Vec<AtomicUsize>,
        /// Workers that have not finished the current epoch (the caller
        /// spins on it, then sleeps on `done`; the last worker notifies
        /// under the lock, so the wake-up cannot be lost).
        busy: AtomicUsize,
    }

    impl Shared {
        fn lock(&self) -> MutexGuard<'_, Control> {
            // A poisoned lock only means a thread panicked while holding it;
            // every critical section leaves `Control` consistent.
            self.control.lock().unwrap_or_else(|e| e.into_inner())
        }

        /// Claims and runs tasks until none are left: thread `me`'s own
        /// range first, then the others' in turn.
        fn work(&self, job: Job, me: usize) {
            let n = self.next.len();
            for k in 0..n {
                let owner = (me + k) % n;
                let end = range_end(owner, job.tasks, n);
                loop {
                    // Each claim on a counter hands out a distinct index, and
                    // the counters start at disjoint ranges' starts: every
                    // task runs at most once. (Each thread overshoots a range
                    // once at most, and `tasks <= isize::MAX` with at most a
                    // few threads, so no counter can wrap.)
                    let i = self.next[owner].fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        break;
                    }
                    // SAFETY: `job.task` is alive until the caller of `Pool::run`
                    // has seen every worker finish this epoch (it waits for it).
                    unsafe { (*job.task)(i) };
                }
            }
        }
    }

    /// End of thread `owner`'s range of a job of `tasks` tasks on `threads`
    /// threads (its start is `range_end(owner - 1, ..)`, 0 for the caller):
    /// `threads` ranges of equal length within one, in order.
    pub(super) fn range_end(owner: usize, tasks: usize, threads: usize) -> usize {
        // `tasks <= isize::MAX` and `owner < threads`, a handful: the product
        // fits in a u128 whatever the platform's usize.
        ((tasks as u128 * (owner as u128 + 1)) / threads as u128) as usize
    }

    /// A worker thread's body, handed to the function that spawns it: the
    /// pool's shared state and the worker's index among its threads (the
    /// caller is thread 0).
    pub(super) struct Worker(pub(super) Arc<Shared>, usize);

    impl Worker {
        /// Runs jobs until the pool is dropped.
        pub(super) fn run(self) {
            worker(&self.0, self.1)
        }
    }

    pub(super) struct Pool {
        shared: Arc<Shared>,
        handles: Vec<thread::JoinHandle<()>>,
    }

    impl Pool {
        pub(super) fn new(workers: usize) -> io::Result<Pool> {
            Pool::start(workers, |i, w| {
                thread::Builder::new()
                    .name(std::format!("skipnet-worker-{i}"))
                    .spawn(move || w.run())
            })
        }

        /// Starts `workers` threads with `spawn(index, body)`. If one fails,
        /// the pool built so far is dropped, which stops and joins the workers
        /// already started, and the error is returned.
        pub(super) fn start(
            workers: usize,
            mut spawn: impl FnMut(usize, Worker) -> io::Result<thread::JoinHandle<()>>,
        ) -> io::Result<Pool> {
            let shared = Arc::new(Shared {
                control: Mutex::new(Control {
                    epoch: 0,
                    job: None,
                    panicked: false,
                    exit: false,
                }),
                wake: Condvar::new(),
                done: Condvar::new(),
                epoch: AtomicUsize::new(0),
                next: (0..=workers).map(|_| AtomicUsize::new(0)).collect(),
                busy: AtomicUsize::new(0),
            });
            let mut pool = Pool {
                shared,
                handles: Vec::with_capacity(workers),
            };
            for i in 0..workers {
                let handle = spawn(i, Worker(Arc::clone(&pool.shared), i + 1))?;
                pool.handles.push(handle);
            }
            // Wait until every worker has started and taken part in one (empty)
            // job: a thread's start-up allocates, and must not do so later,
            // inside a `forward`.
            pool.run(0, &|_| {});
            Ok(pool)
        }

        pub(super) fn workers(&self) -> usize {
            self.handles.len()
        }

        /// `&mut self`: the job state below belongs to one `run` at a time.
        pub(super) fn run(&mut self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
            assert!(tasks <= isize::MAX as usize, "too many tasks");
            let s = &*self.shared;
            // SAFETY: only the lifetime is erased. Every use of the pointer
            // happens in `Shared::work` during this epoch, and this function
            // returns (or unwinds) only after `busy` has dropped to zero, i.e.
            // after every worker has left `work` for this epoch; the caller's
            // own `work` call is on this stack. `job` is cleared before return.
            // No other epoch can start meanwhile: that takes `&mut self`.
            let task: *const (dyn Fn(usize) + Sync + 'static) = unsafe {
                core::mem::transmute::<
                    *const (dyn Fn(usize) + Sync + '_),
                    *const (dyn Fn(usize) + Sync + 'static),
                >(task)
            };
            let job = Job { task, tasks };
            {
                let mut c = s.lock();
                let threads = s.next.len();
                for (owner, next) in s.next.iter().enumerate() {
                    let start = owner
                        .checked_sub(1)
                        .map_or(0, |o| range_end(o, tasks, threads));
                    next.store(start, Ordering::Relaxed);
                }
                c.job = Some(job);
                c.epoch = c.epoch.wrapping_add(1);
                s.busy.store(self.handles.len(), Ordering::Relaxed);
                s.epoch.store(c.epoch, Ordering::Release);
            }
            s.wake.notify_all();
            let mine = catch_unwind(AssertUnwindSafe(|| s.work(job, 0)));
            spin_while(|| s.busy.load(Ordering::Acquire) > 0);
            let mut c = s.lock();
            while s.busy.load(Ordering::Acquire) > 0 {
                c = s.done.wait(c).unwrap_or_else(|e| e.into_inner());
            }
            c.job = None;
            let theirs = core::mem::replace(&mut c.panicked, false);
            drop(c);
            if let Err(payload) = mine {
                resume_unwind(payload);
            }
            if theirs {
                panic!("skipnet: a kernel task panicked on a worker thread");
            }
        }
    }

    impl Drop for Pool {
        fn drop(&mut self) {
            self.shared.lock().exit = true;
            self.shared.epoch.fetch_add(1, Ordering::Release);
            self.shared.wake.notify_all();
            for h in self.handles.drain(..) {
                // A worker never panics outside `catch_unwind`.
                let _ = h.join();
            }
        }
    }

    fn worker(s: &Shared, me: usize) {
        let mut seen = 0usize;
        loop {
            spin_while(|| s.epoch.load(Ordering::Acquire) == seen);
            let job = {
                let mut c = s.lock();
                while c.epoch == seen && !c.exit {
                    c = s.wake.wait(c).unwrap_or_else(|e| e.into_inner());
                }
                if c.exit {
                    return;
                }
                seen = c.epoch;
                c.job
            };
            let result = match job {
                Some(job) => catch_unwind(AssertUnwindSafe(|| s.work(job, me))),
                None => Ok(()),
            };
            if result.is_err() {
                s.lock().panicked = true;
            }
            if s.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
                // Taking the lock orders this notify after the caller's check
                // of `busy` in its wait loop, or before it: never lost.
                let _c = s.lock();
                s.done.notify_one();
            }
        }
    }

    /// Polls `cond` while it holds, for up to a short while: longer than the
    /// gap between two convs of one forward, short enough not to burn a core
    /// between frames. Only a shortcut: the condition variables decide.
    #[cfg(not(loom))]
    fn spin_while(cond: impl Fn() -> bool) {
        use std::time::{Duration, Instant};
        const SPIN: Duration = Duration::from_micros(200);
        let start = Instant::now();
        let mut polls = 0u32;
        while cond() {
            core::hint::spin_loop();
            polls = polls.wrapping_add(1);
            if polls.is_multiple_of(256) && start.elapsed() > SPIN {
                return;
            }
        }
    }

    /// Under loom: no spin. It is only a shortcut (whatever it sees, the
    /// caller then decides under the lock), and loom explores every
    /// interleaving of a loop; the condition variables must be right alone.
    #[cfg(loom)]
    fn spin_while(_cond: impl Fn() -> bool) {}
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// Miri runs every test here; big sizes only natively.
    const BIG: usize = if cfg!(miri) { 40 } else { 1000 };

    #[test]
    fn serial_runs_every_task_once() {
        let hits: [AtomicUsize; 7] = Default::default();
        Exec::serial().run(7, &|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        assert_eq!(Exec::serial().threads(), 1);
    }

    /// The threads' ranges of a job cover its tasks in order, each once, in
    /// lengths that differ by one at most.
    #[cfg(feature = "parallel")]
    #[test]
    fn thread_ranges_cut_the_tasks_in_order_and_evenly() {
        for threads in 1..=5 {
            for tasks in [0, 1, 2, 3, 7, 16, 17, 1000, isize::MAX as usize] {
                let mut start = 0;
                for owner in 0..threads {
                    let end = pool::range_end(owner, tasks, threads);
                    assert!(end >= start, "{tasks} on {threads}: thread {owner}");
                    let len = end - start;
                    assert!(
                        len == tasks / threads || len == tasks.div_ceil(threads),
                        "{tasks} on {threads}: thread {owner} has {len}"
                    );
                    start = end;
                }
                assert_eq!(start, tasks, "{tasks} on {threads}");
            }
        }
    }

    #[cfg(feature = "parallel")]
    #[test]
    fn pool_runs_every_task_once_per_job_on_several_threads() {
        let mut exec = Exec::with_threads(3);
        assert_eq!(exec.threads(), 3);
        for tasks in [0, 1, 2, 5, 64, BIG] {
            let hits: std::vec::Vec<AtomicUsize> =
                (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            exec.run(tasks, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(
                hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                "{tasks}"
            );
        }
        // Workers really take tasks (not only the caller): tasks that wait for
        // one another can only finish if they run concurrently.
        let arrived = AtomicUsize::new(0);
        exec.run(3, &|_| {
            arrived.fetch_add(1, Ordering::SeqCst);
            let t = std::time::Instant::now();
            while arrived.load(Ordering::SeqCst) < 3 {
                assert!(t.elapsed().as_secs() < 30, "tasks did not run concurrently");
                std::thread::yield_now();
            }
        });
    }

    #[test]
    fn chunks_cover_the_data_once() {
        let mut execs = [
            Exec::serial(),
            #[cfg(feature = "parallel")]
            Exec::with_threads(3),
        ];
        for exec in &mut execs {
            for (len, chunk) in [(0, 4), (10, 3), (12, 4), (5, 100), (BIG, 7)] {
                let mut data = alloc::vec![0.0f32; len];
                exec.for_each_chunk(&mut data, chunk, &|i, c| {
                    assert!(c.len() <= chunk);
                    for (j, v) in c.iter_mut().enumerate() {
                        *v += (i * chunk + j) as f32;
                    }
                });
                assert!(
                    data.iter().enumerate().all(|(k, &v)| v == k as f32),
                    "{len} {chunk}"
                );
            }
        }
    }

    #[cfg(feature = "parallel")]
    #[test]
    fn a_panicking_task_is_reraised_and_the_pool_still_works() {
        let mut exec = Exec::with_threads(2);
        for _ in 0..3 {
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                exec.run(8, &|i| assert!(i != 5, "task five"));
            }));
            assert!(r.is_err());
            let sum = AtomicUsize::new(0);
            exec.run(10, &|i| {
                sum.fetch_add(i, Ordering::Relaxed);
            });
            assert_eq!(sum.load(Ordering::Relaxed), 45);
        }
    }

    #[cfg(feature = "parallel")]
    #[test]
    fn a_thread_that_fails_to_start_is_an_error_and_leaves_no_worker() {
        use std::sync::Arc;
        for fail_at in 0..3 {
            let live = Arc::new(AtomicUsize::new(0));
            let mut weak = None;
            let r = pool::Pool::start(3, |i, w| {
                if i == fail_at {
                    // What `Builder::spawn` does on failure: drop the body.
                    drop(w);
                    return Err(std::io::Error::other("injected"));
                }
                weak.get_or_insert_with(|| Arc::downgrade(&w.0));
                let live = Arc::clone(&live);
                live.fetch_add(1, Ordering::SeqCst);
                std::thread::Builder::new().spawn(move || {
                    w.run();
                    live.fetch_sub(1, Ordering::SeqCst);
                })
            });
            let e = r.err().expect("the injected failure");
            assert_eq!(std::format!("{e}"), "injected");
            // Every started worker has exited and been joined...
            assert_eq!(live.load(Ordering::SeqCst), 0, "{fail_at}");
            // ...and nothing holds the pool's state any more.
            if let Some(weak) = weak {
                assert_eq!(weak.strong_count(), 0, "{fail_at}");
            }
        }
        let exec = Exec::try_with_threads(3).expect("threads start");
        assert_eq!(exec.threads(), 3);
        assert_eq!(Exec::try_with_threads(1).unwrap().threads(), 1);
    }

    /// A conv big enough to be split, on the portable kernel: the pool's tasks
    /// write disjoint parts of one output buffer, and the result is bit-for-bit
    /// the one-thread result. Under Miri (minutes for the split size) a small
    /// conv through the same call: the portable kernel's `unsafe` tile and
    /// output-row accesses, on one thread.
    #[cfg(feature = "parallel")]
    #[test]
    fn a_split_portable_conv_is_bit_identical_to_one_thread() {
        use crate::igemm::{self, Isa, OutLayout};
        use crate::ops::{conv2d::Conv2dGeom, Hwc};
        let (hw, c) = if cfg!(miri) { (4, 8) } else { (8, 32) };
        let map = Hwc { h: hw, w: hw, c };
        let g = Conv2dGeom {
            input: map,
            upsample: (1, 1),
            output: map,
            kernel: (3, 3),
            strides: (1, 1),
            dilation: (1, 1),
            pad: (1, 1),
            groups: 1,
            activation: crate::Activation::Relu,
        };
        let split = map.len() * g.kernel_len() / map.c >= igemm::PARALLEL_MIN_MACS;
        assert!(split || cfg!(miri));
        let x: std::vec::Vec<f32> = (0..map.len())
            .map(|i| ((i * 7919) % 1013) as f32 / 512.0 - 1.0)
            .collect();
        let kernel: std::vec::Vec<f32> = (0..g.kernel_len())
            .map(|i| ((i * 104_729) % 997) as f32 / 997.0 - 0.5)
            .collect();
        let mut packed = alloc::vec![0.0; igemm::packed_len(&g)];
        igemm::pack(&g, &kernel, &mut packed);
        let layout = OutLayout::plain(map.c);
        let mut want = alloc::vec![0.0; map.len()];
        igemm::conv(Isa::Scalar, &g, &x, &packed, None, &mut want, layout);
        let mut got = alloc::vec![f32::NAN; map.len()];
        let mut exec = Exec::with_threads(2);
        igemm::conv_on(
            &mut exec,
            Isa::Scalar,
            &g,
            &x,
            &packed,
            None,
            &mut got,
            layout,
        );
        assert!(want
            .iter()
            .zip(&got)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(want.iter().any(|&v| v > 0.0));
    }

    #[cfg(feature = "parallel")]
    use std::panic::AssertUnwindSafe;
}

/// Model checks of the pool's job protocol: every interleaving (up to loom's
/// preemption bound) of publishing a job, claiming and running tasks,
/// finishing, panicking and shutting down.
#[cfg(all(test, loom, feature = "parallel"))]
mod loom_tests {
    use super::pool::{Pool, Worker};
    use super::sync::{thread, Arc, AtomicUsize, Ordering};
    use loom::cell::UnsafeCell;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// One non-atomic cell per task: loom reports a data race if a task ran
    /// twice concurrently, or if the caller reads a result before the write
    /// happens-before `run`'s return.
    struct Slots<const T: usize>([UnsafeCell<usize>; T]);
    // SAFETY: test-only; the pool's guarantees (each index to one task, all
    // done before `run` returns) are what loom checks here.
    unsafe impl<const T: usize> Sync for Slots<T> {}

    impl<const T: usize> Slots<T> {
        fn new() -> Self {
            Slots(core::array::from_fn(|_| UnsafeCell::new(0)))
        }
        fn hit(&self, i: usize) {
            // SAFETY: see the `Sync` impl: loom checks the exclusivity.
            self.0[i].with_mut(|p| unsafe { *p += 1 });
        }
        fn all_once(&self) -> bool {
            // SAFETY: after `run`; loom checks the ordering.
            self.0.iter().all(|c| c.with(|p| unsafe { *p }) == 1)
        }
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(3);
        }
        b.check(f);
    }

    /// Silences the expected panics of the panicking-task model (thousands of
    /// interleavings), keeping every other panic message.
    fn quiet_expected_panics() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let prev = std::panic::take_hook();
            std::panic::set_hook(std::boxed::Box::new(move |info| {
                if info.payload().downcast_ref::<&str>() != Some(&"loom: expected") {
                    prev(info);
                }
            }));
        });
    }

    #[test]
    fn loom_one_worker_two_jobs() {
        model(|| {
            let mut pool = Pool::new(1).unwrap();
            for _ in 0..2 {
                let slots = Slots::<2>::new();
                pool.run(2, &|i| slots.hit(i));
                assert!(slots.all_once());
            }
        });
    }

    #[test]
    fn loom_two_workers_three_tasks() {
        model(|| {
            let mut pool = Pool::new(2).unwrap();
            let slots = Slots::<3>::new();
            pool.run(3, &|i| slots.hit(i));
            assert!(slots.all_once());
        });
    }

    #[test]
    fn loom_panicking_task() {
        quiet_expected_panics();
        model(|| {
            let mut pool = Pool::new(1).unwrap();
            let ran = [AtomicUsize::new(0), AtomicUsize::new(0)];
            let r = catch_unwind(AssertUnwindSafe(|| {
                pool.run(2, &|i| {
                    ran[i].fetch_add(1, Ordering::Relaxed);
                    if i == 0 {
                        std::panic::panic_any("loom: expected");
                    }
                })
            }));
            assert!(r.is_err());
            // One thread panicked, the other ran what was left: both ran once.
            assert!(ran.iter().all(|r| r.load(Ordering::Relaxed) == 1));
            let slots = Slots::<2>::new();
            pool.run(2, &|i| slots.hit(i));
            assert!(slots.all_once());
        });
    }

    #[test]
    fn loom_drop_while_workers_sleep() {
        model(|| {
            // Dropped right after the start-up job: the workers are spinning
            // or asleep, and must all see `exit` and be joined.
            drop(Pool::new(2).unwrap());
        });
    }

    #[test]
    fn loom_failed_start_joins_started_workers() {
        model(|| {
            let live = Arc::new(AtomicUsize::new(0));
            let r = Pool::start(2, |i, w: Worker| {
                if i == 1 {
                    return Err(std::io::Error::other("injected"));
                }
                let live = Arc::clone(&live);
                live.fetch_add(1, Ordering::SeqCst);
                thread::Builder::new().spawn(move || {
                    w.run();
                    live.fetch_sub(1, Ordering::SeqCst);
                })
            });
            assert!(r.is_err());
            assert_eq!(live.load(Ordering::SeqCst), 0);
        });
    }
}
