import Synchronization
import TensorCore

/// A one-slot single-producer/single-consumer mailbox: the producer fills the preallocated payload
/// and publishes a sequence number (release); the consumer waits for that number (acquire) and reads.
/// No locks and no allocation per message. The protocol above it guarantees that a slot is never
/// refilled before its message was read (each side waits for the other's reply first).
public final class Mailbox<Payload>: @unchecked Sendable {
    // Sendable: the payload is written only by the producer before `post` and read only by the
    // consumer after `wait` returned; the atomic's release/acquire orders those accesses.
    private let sequence = Atomic<UInt64>(0)
    public var payload: Payload
    /// When the current message was posted (monotonic seconds), for rendezvous timing.
    public private(set) var postedAt: Double = 0

    public init(_ payload: Payload) { self.payload = payload }

    /// Publishes message `seq` (the producer has already written the payload).
    public func post(_ seq: UInt64) {
        postedAt = WallClock.now()
        sequence.store(seq, ordering: .releasing)
    }

    /// The last published sequence number (acquire).
    public var latest: UInt64 { sequence.load(ordering: .acquiring) }

    /// Returns once message `seq` (or a later one) is published: spins with `pause`, then yields.
    @discardableResult
    public func wait(for seq: UInt64) -> UInt64 {
        var spins = 0
        while true {
            let s = sequence.load(ordering: .acquiring)
            if s >= seq { return s }
            spins += 1
            if spins < 2000 { Ops.cpuRelax() } else { sched_yield() }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
