//! Where a kernel's independent parts run: on the calling thread only, or, with
//! the `parallel` feature, also on worker threads that a workspace owns.
//!
//! The pool is created once, with the workspace ([`Workspace::with_threads`]),
//! never per call. Handing work out costs no allocation: a job is a borrowed
//! `&dyn Fn(usize)` published under a mutex, tasks are claimed with one atomic
//! counter, and the caller takes tasks too and returns only after every worker
//! has finished the job (so the borrowed closure outlives every use of it).
//! Between jobs a worker spins for a short while before it sleeps on a condition
//! variable, so the convs of one `forward` find it awake.
//!
//! [`Workspace::with_threads`]: crate::Workspace::with_threads

/// Runs a kernel's tasks: serially, or spread over a worker pool (`parallel`).
pub struct Exec {
    #[cfg(feature = "parallel")]
    pool: Option<pool::Pool>,
}

impl Exec {
    /// Everything on the calling thread.
    pub const fn serial() -> Self {
        Exec {
            #[cfg(feature = "parallel")]
            pool: None,
        }
    }

    /// The calling thread plus `threads - 1` workers (none for 0 or 1).
    /// Panics if the OS refuses to start a thread.
    #[cfg(feature = "parallel")]
    pub fn with_threads(threads: usize) -> Self {
        Exec {
            pool: (threads > 1).then(|| pool::Pool::new(threads - 1)),
        }
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
    /// a task is re-raised here after the others finish.
    pub fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        #[cfg(feature = "parallel")]
        if let Some(pool) = &self.pool {
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
        &self,
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
            // holds; chunk `i` is handed to exactly one task (`run` calls each
            // index once) and chunks of different indices are disjoint.
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

#[cfg(feature = "parallel")]
mod pool {
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};
    use std::vec::Vec;

    /// How long an idle worker polls for the next job before it sleeps: longer
    /// than the gap between two convs of one forward, short enough not to burn
    /// a core between frames.
    const SPIN: Duration = Duration::from_micros(200);

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

    struct Shared {
        control: Mutex<Control>,
        wake: Condvar,
        done: Condvar,
        /// Mirror of `control.epoch` that spinning workers poll without the lock.
        epoch: AtomicUsize,
        /// Next unclaimed task of the current job.
        next: AtomicUsize,
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

        /// Claims and runs tasks until none are left.
        fn work(&self, job: Job) {
            loop {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                if i >= job.tasks {
                    return;
                }
                // SAFETY: `job.task` is alive until the caller of `Pool::run`
                // has seen every worker finish this epoch (it waits for it).
                unsafe { (*job.task)(i) };
            }
        }
    }

    pub(super) struct Pool {
        shared: Arc<Shared>,
        handles: Vec<JoinHandle<()>>,
    }

    impl Pool {
        pub(super) fn new(workers: usize) -> Pool {
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
                next: AtomicUsize::new(0),
                busy: AtomicUsize::new(0),
            });
            let handles = (0..workers)
                .map(|i| {
                    let shared = Arc::clone(&shared);
                    std::thread::Builder::new()
                        .name(std::format!("skipnet-worker-{i}"))
                        .spawn(move || worker(&shared))
                        .expect("skipnet: cannot start a worker thread")
                })
                .collect();
            let pool = Pool { shared, handles };
            // Wait until every worker has started and taken part in one (empty)
            // job: a thread's start-up allocates, and must not do so later,
            // inside a `forward`.
            pool.run(0, &|_| {});
            pool
        }

        pub(super) fn workers(&self) -> usize {
            self.handles.len()
        }

        pub(super) fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
            let s = &*self.shared;
            // SAFETY: only the lifetime is erased. Every use of the pointer
            // happens in `Shared::work` during this epoch, and this function
            // returns (or unwinds) only after `busy` has dropped to zero, i.e.
            // after every worker has left `work` for this epoch; the caller's
            // own `work` call is on this stack. `job` is cleared before return.
            let task: *const (dyn Fn(usize) + Sync + 'static) = unsafe {
                core::mem::transmute::<
                    *const (dyn Fn(usize) + Sync + '_),
                    *const (dyn Fn(usize) + Sync + 'static),
                >(task)
            };
            let job = Job { task, tasks };
            {
                let mut c = s.lock();
                s.next.store(0, Ordering::Relaxed);
                c.job = Some(job);
                c.epoch = c.epoch.wrapping_add(1);
                s.busy.store(self.handles.len(), Ordering::Relaxed);
                s.epoch.store(c.epoch, Ordering::Release);
            }
            s.wake.notify_all();
            let mine = catch_unwind(AssertUnwindSafe(|| s.work(job)));
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

    fn worker(s: &Shared) {
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
                Some(job) => catch_unwind(AssertUnwindSafe(|| s.work(job))),
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

    /// Polls `cond` for up to [`SPIN`] while it holds.
    fn spin_while(cond: impl Fn() -> bool) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn serial_runs_every_task_once() {
        let hits: [AtomicUsize; 7] = Default::default();
        Exec::serial().run(7, &|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        assert_eq!(Exec::serial().threads(), 1);
    }

    #[cfg(feature = "parallel")]
    #[test]
    fn pool_runs_every_task_once_per_job_on_several_threads() {
        let exec = Exec::with_threads(3);
        assert_eq!(exec.threads(), 3);
        for tasks in [0, 1, 2, 5, 64, 1000] {
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
                core::hint::spin_loop();
            }
        });
    }

    #[test]
    fn chunks_cover_the_data_once() {
        let execs = [
            Exec::serial(),
            #[cfg(feature = "parallel")]
            Exec::with_threads(3),
        ];
        for exec in &execs {
            for (len, chunk) in [(0, 4), (10, 3), (12, 4), (5, 100), (1000, 7)] {
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
        let exec = Exec::with_threads(2);
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
    use std::panic::AssertUnwindSafe;
}
