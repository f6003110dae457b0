import Dispatch
import Engine
import Foundation
import Generation
import Synchronization
import TensorCore

/// One model in memory and one thread of generation (`queue`): the products' helper threads are
/// shared, so only one forward may run at a time. With `parallel` > 1, plain-decoding requests share
/// forwards in a `BatchDecoder` (continuous batching: they join and leave at any step, and speculate
/// with the batch's draft where it pays); other
/// requests (sd, mirror) run whole, one at a time, between batches: while one waits, no new request
/// joins the batch, and it starts once the running ones finish. At most `capacity` requests wait
/// beyond those running (the caller answers 429 past that). The engine is touched only on the queue.
/// Public so that a program may serve many callers from one model without HTTP.
public final class Scheduler: @unchecked Sendable {
    private let engine: Engine
    private let queue = DispatchQueue(label: "mirror-sd.generation", qos: .userInitiated)
    /// Requests admitted and not finished: waiting plus running.
    private let depth = Locked(0)
    public let capacity: Int
    public let parallel: Int
    private let batch: BatchDecoder?

    /// A plain-decoding request waiting for a slot.
    private struct Waiting: @unchecked Sendable {
        // Sendable: its closures run on the queue only.
        let prompt: [Int32]
        let options: GenerationOptions
        let cancel: CancelFlag
        let onText: (String) -> Void
        let done: (Result<DecodeResult, any Error>, Double) -> Void
    }
    private struct BatchState {
        var waiting: [Waiting] = []
        var looping = false
        var serialWaiting = 0
    }
    private let state = Locked(BatchState())

    /// With `draft`, batched sequences may feed its guesses where the goodput rule finds they pay; the
    /// cost of a forward by its rows is measured here, before any request.
    public init(engine: Engine, capacity: Int, parallel: Int = 1, draft: BatchDraft? = nil) {
        self.engine = engine
        self.capacity = capacity
        self.parallel = max(1, parallel)
        batch = parallel > 1 ? BatchDecoder(model: engine.model, tokenizer: engine.tokenizer, slots: parallel, context: engine.context, draft: draft) : nil
        if draft != nil { batch?.calibrate() }
        if let b = batch { figures.withLock { $0 = b.figures } }
    }

    /// The calibrated cost of a forward by its rows (empty when the batch does not draft).
    public var stepCost: StepCost? { batch?.cost }

    public var queueDepth: Int { depth.withLock { $0 } }

    /// Takes a place, or returns false when every slot is taken and `capacity` requests wait.
    public func admit() -> Bool {
        depth.withLock { d in
            guard d < capacity + parallel else { return false }
            d += 1
            return true
        }
    }

    /// Whether plain-decoding requests are batched.
    public var batches: Bool { batch != nil }

    /// Figures for /metrics, updated after every batch step.
    private let figures = Locked(BatchFigures())
    public var batchFigures: BatchFigures? { batch == nil ? nil : figures.withLock { $0 } }

    /// Runs `job` whole on the queue after the requests before it; frees the place admitted.
    public func run<T: Sendable>(_ job: @escaping @Sendable (Engine) throws -> T) async throws -> T {
        state.withLock { $0.serialWaiting += 1 }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            queue.async {
                self.state.withLock { $0.serialWaiting -= 1 }
                let r = Result { try job(self.engine) }
                self.depth.withLock { $0 -= 1 }
                c.resume(with: r)
                self.kickBatch()
            }
        }
    }

    /// Decodes `prompt` in the batch; `onText` runs on the queue. Returns the result and the seconds
    /// it waited for a slot. Frees the place admitted.
    public func runBatched(prompt: [Int32], options: GenerationOptions, cancel: CancelFlag,
                    onText: @escaping @Sendable (String) -> Void) async throws -> (DecodeResult, Double) {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<(DecodeResult, Double), any Error>) in
            let w = Waiting(prompt: prompt, options: options, cancel: cancel, onText: onText) { r, waited in
                self.depth.withLock { $0 -= 1 }
                c.resume(with: r.map { ($0, waited) })
            }
            state.withLock { $0.waiting.append(w) }
            kickBatch()
        }
    }

    private func kickBatch() {
        let start = state.withLock { s -> Bool in
            guard batch != nil, !s.looping, !s.waiting.isEmpty, s.serialWaiting == 0 else { return false }
            s.looping = true
            return true
        }
        if start { queue.async { self.batchLoop() } }
    }

    /// On the queue: steps the batch, admitting waiting requests into free slots, until nothing is
    /// left to run (or a whole request waits and the batch has drained).
    private func batchLoop() {
        guard let b = batch else { return }
        var cancels: [Int: CancelFlag] = [:]
        while true {
            let free = b.freeSlots
            let admitted: [Waiting] = state.withLock { s in
                guard s.serialWaiting == 0, free > 0 else { return [] }
                let n = min(free, s.waiting.count)
                defer { s.waiting.removeFirst(n) }
                return Array(s.waiting.prefix(n))
            }
            for w in admitted {
                let queued = Date().timeIntervalSince1970
                guard !w.cancel.isSet else { w.done(.failure(CancellationError()), 0); continue }
                var id = 0
                do {
                    let added = try b.add(prompt: w.prompt, options: w.options, onText: { t in
                        w.onText(t)
                        return !w.cancel.isSet
                    }, done: { r in
                        cancels[id] = nil
                        w.done(r, queued)
                    })
                    id = added ?? 0
                    cancels[id] = w.cancel
                } catch {
                    w.done(.failure(error), queued)
                }
            }
            for (id, flag) in cancels where flag.isSet { b.cancel(id) }
            // Published before the idle check too: a cancellation may have emptied the batch.
            let f = b.figures
            figures.withLock { $0 = f }
            if b.isIdle {
                let stop = state.withLock { s -> Bool in
                    guard s.waiting.isEmpty || s.serialWaiting > 0 else { return false }
                    s.looping = false
                    return true
                }
                if stop { return }
                continue
            }
            b.step()
        }
    }
}

/// Set by whoever learns the client is gone; read by the generation at every token.
public final class CancelFlag: Sendable {
    private let flag = Atomic(false)
    public init() {}
    public func set() { flag.store(true, ordering: .relaxed) }
    public var isSet: Bool { flag.load(ordering: .relaxed) }
}
