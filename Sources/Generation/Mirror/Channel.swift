/// The token channel between the two workers: four one-slot mailboxes with preallocated payloads.
final class MirrorChannel: @unchecked Sendable {
    // Sendable: every payload is owned by one side at a time, handed over through its mailbox.
    struct Start { var first: Int32 = 0; var budget = 0 }
    struct Candidates {
        /// cands[j·κ + k]: the k-th candidate for the slot after draft position j (0 = after the
        /// committed token), -1 when none. j runs over 0...n.
        let tokens: UnsafeMutablePointer<Int32>
        var n = 0
        var kappa = 0
    }
    struct Verdict { var accepted = 0; var next: Int32 = 0; var stop = false; var budget = 0 }
    struct Window {
        let tokens: UnsafeMutablePointer<Int32>
        var n = 0
        /// n rows of the draft's distributions (sampling only), valid until the round after next.
        var probs: UnsafePointer<Float>? = nil
        var reused = false
        /// The draft's mean single-row step so far (seconds; 0 before one is measured).
        var stepSeconds = 0.0
        var failed: String? = nil
    }

    let start = Mailbox(Start())
    let candidates: Mailbox<Candidates>
    let verdict = Mailbox(Verdict())
    let window: Mailbox<Window>

    init(gamma: Int, kappa: Int) {
        let c = UnsafeMutablePointer<Int32>.allocate(capacity: (gamma + 2) * max(kappa, 1))
        c.initialize(repeating: -1, count: (gamma + 2) * max(kappa, 1))
        candidates = Mailbox(Candidates(tokens: c))
        let w = UnsafeMutablePointer<Int32>.allocate(capacity: gamma + 1)
        w.initialize(repeating: 0, count: gamma + 1)
        window = Mailbox(Window(tokens: w))
    }

    deinit {
        candidates.payload.tokens.deallocate()
        window.payload.tokens.deallocate()
    }
}
