import Glibc

/// A value behind a pthread mutex (the server's shared state, the huge-page arena). The standard library's `Mutex` takes a contended lock inside the
/// kernel (a priority-inheritance futex) and releases it there too, with no user-space atomic that
/// ThreadSanitizer can see, so under contention TSan reports two critical sections of the same lock as
/// racing (the CI's TSan run did, on `Scheduler.runBatched`, 2026-12-06). TSan intercepts pthread
/// mutexes, so its verdicts on the server's shared state mean something again.
public final class Locked<Value>: @unchecked Sendable {
    // Sendable: `value` is only touched with `mutex` held.
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
