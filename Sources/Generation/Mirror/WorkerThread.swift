#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A thread that `join()` waits for until it has fully exited. Foundation's `Thread` cannot be
/// joined: a semaphore signalled at the end of its body returns while the thread is still tearing
/// down, so its last work (and allocations) would spill past `generate`.
final class WorkerThread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private var thread: pthread_t?

    /// Starts `body` on a new thread with a stack of `stackSize` bytes.
    init(stackSize: Int, _ body: @escaping () -> Void) {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstacksize(&attr, stackSize)
        let arg = Unmanaged.passRetained(Box(body)).toOpaque()
        #if canImport(Glibc)
        var t = pthread_t()
        #else
        var t: pthread_t? = nil
        #endif
        let rc = pthread_create(&t, &attr, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, arg)
        precondition(rc == 0, "pthread_create failed (\(rc))")
        thread = t
    }

    /// Waits until the thread has exited.
    func join() {
        guard let t = thread else { return }
        pthread_join(t, nil)
        thread = nil
    }
}
