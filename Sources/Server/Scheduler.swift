import Dispatch
import Engine
import Synchronization

/// One model in memory, one generation at a time: requests run in arrival order on a serial queue,
/// and at most `capacity` wait behind the one running (the caller answers 429 past that). The
/// engine is touched only on the queue.
final class Scheduler: @unchecked Sendable {
    private let engine: Engine
    private let queue = DispatchQueue(label: "mirror-sd.generation", qos: .userInitiated)
    /// Requests admitted and not finished: waiting plus running.
    private let depth = Mutex(0)
    let capacity: Int

    init(engine: Engine, capacity: Int) {
        self.engine = engine
        self.capacity = capacity
    }

    var queueDepth: Int { depth.withLock { $0 } }

    /// Takes a place in the queue, or returns false when it is full.
    func admit() -> Bool {
        depth.withLock { d in
            guard d < capacity + 1 else { return false }
            d += 1
            return true
        }
    }

    /// Runs `job` on the queue after every request admitted before it; frees the place admitted.
    func run<T: Sendable>(_ job: @escaping @Sendable (Engine) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            queue.async {
                let r = Result { try job(self.engine) }
                self.depth.withLock { $0 -= 1 }
                c.resume(with: r)
            }
        }
    }
}

/// Set by whoever learns the client is gone; read by the generation at every token.
final class CancelFlag: Sendable {
    private let flag = Atomic(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}
