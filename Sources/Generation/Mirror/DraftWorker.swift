import LanguageModels
import TensorCore

/// The draft side of Mirror-SD, run on its own thread. Between rounds its model holds the committed
/// sequence (through the target's pending token) plus the current window's spine w_1..w_{n-1} as
/// pending tree nodes 0..n-2. The moment it publishes a window it starts its own most likely branch:
/// the whole window accepted and its own guess for the bonus token (with an accurate draft most
/// verdicts land there), and beside it, with `runnerUps`, branches from its own second choices at the
/// slots where verdicts have landed most. On candidates it rolls out a γ-token branch for every
/// further (position j, candidate v), in the same batches; on the verdict it commits the matching
/// branch (reuse) or rolls out afresh (fallback).
final class DraftWorker: @unchecked Sendable {
    // Sendable: all mutable state is touched by the draft thread only, until the target joins it.
    let model: any TreeLanguageModel
    let channel: MirrorChannel
    let options: MirrorOptions
    let prompt: [Int32]
    let sampler: Sampler
    let greedy: Bool
    let v: Int
    var stats = MirrorStats()
    var traceKV = false
    var spans: SpanRecorder? = nil
    var trace: [Int] = []

    /// The branches of this round, preallocated: the first `count` are in use. Branch b's tokens are
    /// branchTokens[b·γ + s], the tree node each was fed as branchNodes[b·γ + s] (the candidate's node,
    /// then b_1's, ...), and the draft's second choice beside each branchAlts[b·γ + s].
    let maxBranches: Int
    var count = 0
    var branches: [Branch]
    var branchTokens: [Int32]
    var branchNodes: [Int32]
    /// Branches started before the candidates arrived: 0, or 1 (the draft's own bonus guess, branch 0)
    /// plus the runner-up branches.
    var early = 0
    /// The draft's second choice beside each window token j (alt[n] beside the bonus guess; the
    /// branch's alternatives become the window's on reuse).
    var alt: [Int32]
    var branchAlts: [Int32]
    /// Verdicts by accepted length so far: the ranking of slots for runner-up branches.
    var verdictsAt: [Int]
    var rowTokens: [Int32]
    var rowParents: [Int32]
    var rowBranch: [Int]
    var pathBuf: [Int32]
    var keepBuf: [Int32]
    var window: [Int32]
    var n = 0            // current window length
    /// Tokens a branch drafts at most: the latest budget (the next window cannot be longer than the
    /// one after it, except when the adaptive γ grows, and then it grows a round later).
    var cap = 0
    /// The mean single-row forward, for the target's window controller.
    var stepSeconds = 0.0
    var wnNode: Int32 = -1
    /// The branch budget's timings, and when and how long the window under verification was published.
    var clock: BranchBudget
    var publishedAt = 0.0
    var publishedN = 0
    /// Slots of the window ranked for early-exit branches (most verdicts first).
    var slotOrder: [Int]
    let arena: [UnsafeMutablePointer<Float>]  // two, for alternate rounds (sampling only)

    init(model: any TreeLanguageModel, channel: MirrorChannel, options: MirrorOptions, prompt: [Int32], sampling: SamplingParams) {
        self.model = model
        self.channel = channel
        self.options = options
        self.prompt = prompt
        v = model.vocabSize
        sampler = Sampler(params: sampling, vocabSize: v)
        sampler.rng = SeededGenerator(seed: sampling.seed ^ 0x0D4A_F7)
        greedy = sampling.isGreedy
        // Beside the early-exit branches: the draft's own bonus branch and its runner-ups.
        maxBranches = max(options.maxBranches, 1) + (options.draftBonus ? 1 + options.runnerUps : 0)
        let g = options.gamma
        alt = [Int32](repeating: -1, count: g + 2)
        branchAlts = [Int32](repeating: -1, count: maxBranches * g)
        verdictsAt = [Int](repeating: 0, count: g + 2)
        stats.sizeReuseCounts(gamma: g)
        branches = [Branch](repeating: Branch(), count: maxBranches)
        branchTokens = [Int32](repeating: 0, count: maxBranches * g)
        branchNodes = [Int32](repeating: -1, count: maxBranches * g)
        rowTokens = [Int32](repeating: 0, count: maxBranches + 1)
        rowParents = [Int32](repeating: 0, count: maxBranches + 1)
        rowBranch = [Int](repeating: 0, count: maxBranches + 1)
        pathBuf = [Int32](repeating: 0, count: g + 2)
        keepBuf = [Int32](repeating: 0, count: g + 2)
        window = [Int32](repeating: 0, count: g + 2)
        slotOrder = [Int](repeating: 0, count: g + 2)
        clock = BranchBudget(maxWindow: g, maxRows: maxBranches + 1)
        let rows = greedy ? 1 : (maxBranches + 1) * g * v
        arena = [.allocate(capacity: rows), .allocate(capacity: rows)]
    }

    deinit { arena.forEach { $0.deallocate() } }

    func run() {
        do {
            try loop()
        } catch {
            channel.window.payload.failed = "\(error)"
            channel.window.post(UInt64.max)
        }
    }

    /// Chooses the next token from `logits`, storing the draft distribution in `probsRow` when sampling.
    /// Whether row `row` of the last forward is confident enough to draft from (--draft-p-min).
    func confident(_ logits: UnsafePointer<Float>, row: Int, probsRow: UnsafeMutablePointer<Float>?) -> Bool {
        guard options.draftPMin > 0 else { return true }
        if let c = model as? ConfidenceReporting { return c.topProbability(row: row) >= options.draftPMin }
        if let p = probsRow { return maxValue(p, v) >= options.draftPMin }
        return topProbability(logits, v) >= options.draftPMin
    }

    /// Chooses the next token, and writes the draft's second choice beside it to `runnerUp`: the
    /// runner-up of the argmax when greedy; when sampling, the most likely token that was not drawn.
    @inline(__always)
    func choose(_ logits: UnsafePointer<Float>, probsRow: UnsafeMutablePointer<Float>?, runnerUp: inout Int32) -> Int32 {
        if greedy {
            let (best, second) = Sampler.topTwo(logits, count: v)
            runnerUp = second
            return best
        }
        sampler.distribution(logits, into: probsRow!)
        let drawn = sampler.draw(probsRow!)
        // A second pass over the vocabulary only when runner-up branches will use it.
        if options.runnerUps > 0 {
            let (best, second) = Sampler.topTwo(logits, count: v)
            runnerUp = drawn == best ? second : best
        }
        return drawn
    }

    func probsRow(_ parity: Int, branch: Int, step: Int) -> UnsafeMutablePointer<Float>? {
        greedy ? nil : arena[parity] + (branch * options.gamma + step) * v
    }

    func loop() throws {
        if let cpus = options.pinnedCPUs { Ops.pinCurrentThread(to: cpus.draft) }
        if prompt.count > 1 { try phase("prefill") { _ = try prefill(model, Array(prompt.dropLast())) } }
        idle("wait candidates") { channel.start.wait(for: 1) }
        let first = channel.start.payload.first
        var budget = channel.start.payload.budget
        cap = min(budget, options.gamma)
        // The first window: fresh, after the last prompt token and the target's first token.
        rowTokens[0] = prompt[prompt.count - 1]
        rowTokens[1] = first
        n = try phase("fresh rollout", \.draftSelectSeconds, also: \.draftFreshSeconds) { try fresh(feed: 2, budget: budget, parity: 0) }
        publish(round: 0, reused: false, parity: 0)
        var round = 0
        while true {
            let parity = (round + 1) % 2
            try phase("own branch", \.draftBranchSeconds, span: { self.early > 0 }) { try startOwnBranch(round: round, parity: parity) }
            idle("wait candidates", rendezvous: \.rendezvousCandidatesSeconds, postedAt: { self.channel.candidates.postedAt }) {
                channel.candidates.wait(for: UInt64(round + 1))
            }
            let earlyVerdict = try phase("branches", \.draftBranchSeconds, span: { self.count > 0 }) {
                try rollOutBranches(round: round, parity: parity)
            }
            idle("wait verdict", rendezvous: \.rendezvousVerdictSeconds, postedAt: { self.channel.verdict.postedAt }) {
                if !earlyVerdict { channel.verdict.wait(for: UInt64(round + 1)) }
            }
            let verdict = channel.verdict.payload
            if verdict.stop { return }
            // A window the target skipped (F2: its plain step disagreed) was not verified.
            if channel.candidates.payload.n > 0 {
                clock.recordVerification(window: publishedN, seconds: channel.verdict.postedAt - publishedAt)
            }
            budget = verdict.budget
            cap = min(max(budget, 1), options.gamma)
            let t0 = WallClock.now()
            let reused = try select(accepted: verdict.accepted, next: verdict.next, budget: budget, parity: parity)
            record(reused ? "reuse" : "fresh rollout", since: t0, \.draftSelectSeconds, also: reused ? nil : \.draftFreshSeconds)
            if traceKV { trace.append(model.committedLength) }
            publish(round: round + 1, reused: reused, parity: parity)
            round += 1
        }
    }

    /// Runs one phase of the loop and records its time: in `stat` (and `also`), and as a span when
    /// tracing (and `span` says so, once the phase is done).
    @inline(__always)
    func phase<T>(_ name: String, _ stat: WritableKeyPath<MirrorStats, Double>? = nil, also: WritableKeyPath<MirrorStats, Double>? = nil,
                  span: () -> Bool = { true }, _ body: () throws -> T) rethrows -> T {
        let t0 = WallClock.now()
        let r = try body()
        record(name, since: t0, stat, also: also, span: span())
        return r
    }

    @inline(__always)
    func record(_ name: String, since t0: Double, _ stat: WritableKeyPath<MirrorStats, Double>?, also: WritableKeyPath<MirrorStats, Double>? = nil,
                span: Bool = true) {
        let t1 = WallClock.now()
        if let s = stat { stats[keyPath: s] += t1 - t0 }
        if let a = also { stats[keyPath: a] += t1 - t0 }
        if span { spans?.add(name, t0, t1) }
    }

    /// Waits for the target: the time is idle, and the part after the target posted (`postedAt`) is the
    /// rendezvous cost in `rendezvous`.
    @inline(__always)
    func idle(_ name: String, rendezvous: WritableKeyPath<MirrorStats, Double>? = nil, postedAt: () -> Double = { 0 }, _ wait: () -> Void) {
        let t0 = WallClock.now()
        wait()
        let t1 = WallClock.now()
        if let r = rendezvous { stats[keyPath: r] += max(0, t1 - max(postedAt(), t0)) }
        stats.draftIdleSeconds += t1 - t0
        spans?.add(name, t0, t1)
    }

    func publish(round: Int, reused: Bool, parity: Int) {
        let w = channel.window.payload.tokens
        for i in 0..<n { w[i] = window[i] }
        channel.window.payload.n = n
        channel.window.payload.reused = reused
        channel.window.payload.stepSeconds = stepSeconds
        if !greedy { channel.window.payload.probs = UnsafePointer(arena[parity] + (reused ? selectedBranch : maxBranches) * options.gamma * v) }
        channel.window.post(UInt64(round + 1))
        publishedAt = channel.window.postedAt
        publishedN = n
    }

    var selectedBranch = 0

    /// Feeds rowTokens[0..<feed] causally after the committed prefix (no pending nodes), then rolls
    /// out up to `budget` tokens as a pending chain. Probabilities go to the arena's last slot.
    func fresh(feed: Int, budget: Int, parity: Int) throws -> Int {
        guard budget > 0 else { return 0 }
        stats.speculative.draftForwards += 1
        var logits = try rowTokens.withUnsafeBufferPointer {
            try model.forward(UnsafeBufferPointer(rebasing: $0[0..<feed]), at: model.kvLength, allLogits: false)
        }
        var m = 0
        window[0] = choose(logits, probsRow: probsRow(parity, branch: maxBranches, step: 0), runnerUp: &alt[0])
        if !confident(logits, row: 0, probsRow: probsRow(parity, branch: maxBranches, step: 0)) { return 0 }
        m = 1
        while m < budget {
            rowTokens[0] = window[m - 1]
            rowParents[0] = Int32(m - 2)  // -1 for the first, then the previous chain node
            logits = try forwardRows(1)
            let row = probsRow(parity, branch: maxBranches, step: m)
            window[m] = choose(logits, probsRow: row, runnerUp: &alt[m])
            if !confident(logits, row: 0, probsRow: row) { break }
            m += 1
        }
        // The chain holds nodes for window[0..<m-1]; a node fed beyond that is dropped.
        if model.pendingCount > max(m - 1, 0) { model.truncate(to: model.committedLength + max(m - 1, 0)) }
        return m
    }

    @inline(__always)
    func forwardRows(_ rows: Int) throws -> UnsafeMutablePointer<Float> {
        stats.speculative.draftForwards += 1
        let t0 = rows == 1 ? WallClock.now() : 0
        let logits = try rowTokens.withUnsafeBufferPointer { t in
            try rowParents.withUnsafeBufferPointer { p in
                try model.forwardTree(UnsafeBufferPointer(rebasing: t[0..<rows]), parents: UnsafeBufferPointer(rebasing: p[0..<rows]))
            }
        }
        if rows == 1 {
            let dt = WallClock.now() - t0
            stepSeconds = stepSeconds == 0 ? dt : 0.9 * stepSeconds + 0.1 * dt
        }
        return logits
    }

    /// The node holding window token w_{i+1} (i in 0..<n), or -1.
    func windowNode(_ i: Int) -> Int32 { i < n - 1 ? Int32(i) : wnNode }

    /// Right after publishing: feeds the window's last token, takes the draft's own most likely bonus
    /// token as branch 0, and drafts on from it until the candidates arrive (or γ tokens are drafted).
    func startOwnBranch(round: Int, parity: Int) throws {
        count = 0
        early = 0
        wnNode = -1
        guard options.draftBonus, n > 0, model.kvLength + options.gamma + 1 <= model.maxContext else { return }
        let pc = Int32(model.pendingCount)
        rowTokens[0] = window[n - 1]
        rowParents[0] = n >= 2 ? Int32(n - 2) : -1
        let logits = try forwardRows(1)
        wnNode = pc
        // The most likely bonus token, also when sampling: the verdict decides, this only chooses
        // which continuation to prepare.
        let (bonus, second) = Sampler.topTwo(logits, count: v)
        alt[n] = second
        addBranch(at: n, token: bonus, from: .own)
        stats.ownBranches += 1
        if model.kvLength + (1 + options.runnerUps) * options.gamma <= model.maxContext { addRunnerUps() }
        early = count
        stats.branchesRolled += count
        // The own branch first and alone: it holds most verdicts, and rows beside it would slow it
        // where the draft is the slower side. At least its guess is fed, so it exists whatever the
        // timing. The runner-ups follow until the candidates come (rollOutBranches goes on with them).
        repeat {
            try step(branches: 0..<1, parity: parity, pending: Int32(model.pendingCount), rows: 0)
        } while branches[0].isLive(cap: cap) && !candidatesArrived(round)
        while anyLive(1..<count) && !candidatesArrived(round) {
            let k = budgetedRows(1..<count, extra: 0)
            if k == 0 { break }
            try step(branches: 1..<count, parity: parity, pending: Int32(model.pendingCount), rows: 0, limit: k)
        }
    }

    func candidatesArrived(_ round: Int) -> Bool { channel.candidates.latest >= UInt64(round + 1) }

    func addBranch(at j: Int, token: Int32, from src: BranchSource) {
        branches[count] = Branch(slot: j, candidate: token, source: src)
        branchNodes[count * options.gamma] = -1
        count += 1
    }

    /// Adds up to `runnerUps` branches (slot j, the draft's second choice there), slots ranked by the
    /// verdicts seen so far (ties: later slots first, as an accurate draft is rejected late).
    func addRunnerUps() {
        var taken = 0  // a bit per slot already used
        while count < 1 + options.runnerUps {
            var best = -1
            for j in stride(from: n, through: 0, by: -1) where taken & (1 << j) == 0 && alt[j] >= 0 {
                if best < 0 || verdictsAt[j] > verdictsAt[best] { best = j }
            }
            guard best >= 0 else { return }
            taken |= 1 << best
            addBranch(at: best, token: alt[best], from: .runnerUp)
            stats.runnerUpBranches += 1
        }
    }

    /// Whether a branch started before the candidates already covers (j, token).
    func startedEarly(at j: Int, token: Int32) -> Bool {
        for b in 0..<early where branches[b].slot == j && branches[b].candidate == token { return true }
        return false
    }

    /// Adds, after `rows` rows already set, one row for each live branch in `branches` (its candidate
    /// first, then its last drafted token), runs the batch, and records each branch's next token.
    /// At most `limit` branch rows, the first live branches in order.
    func step(branches range: Range<Int>, only: Int = -1, parity: Int, pending base: Int32, rows start: Int, limit: Int = .max) throws {
        var rows = start
        for b in range where (only < 0 || b == only) && branches[b].isLive(cap: cap) && rows - start < limit {
            let s = branches[b].steps
            if s == 0 {
                rowTokens[rows] = branches[b].candidate
                rowParents[rows] = branches[b].slot == 0 ? -1 : (branches[b].slot < n ? Int32(branches[b].slot - 1) : wnNode)
            } else {
                rowTokens[rows] = branchTokens[b * options.gamma + s - 1]
                rowParents[rows] = branchNodes[b * options.gamma + s - 1]
            }
            rowBranch[rows] = b
            branchNodes[b * options.gamma + s] = base + Int32(rows)
            rows += 1
        }
        guard rows > 0 else { return }
        let t0 = WallClock.now()
        let logits = try forwardRows(rows)
        for r in 0..<rows where rowBranch[r] >= 0 {
            let b = rowBranch[r], s = branches[b].steps
            let row = probsRow(parity, branch: b, step: s)
            branchTokens[b * options.gamma + s] = choose(logits + r * v, probsRow: row, runnerUp: &branchAlts[b * options.gamma + s])
            if confident(logits + r * v, row: r, probsRow: row) { branches[b].length = s + 1 } else { branches[b].done = true }
            branches[b].steps = s + 1
        }
        // The whole step, choosing included: when sampling, each row's distribution over the
        // vocabulary costs about as much as a small draft's forward.
        clock.recordBatch(rows: rows, seconds: WallClock.now() - t0)
    }

    /// Rolls out every branch the candidates name, beside the draft's own; returns true when the
    /// verdict arrived meanwhile (then only the branch it needs, if any, was finished).
    func rollOutBranches(round: Int, parity: Int) throws -> Bool {
        let msg = channel.candidates.payload
        let kappa = msg.kappa
        guard n > 0 else { return false }
        var rows = 0
        let pc = Int32(model.pendingCount)
        let wnBefore = wnNode
        if kappa > 0 {
            let limit = min(n + 1, options.branchPositions ?? (n + 1))
            let first = options.branchFromEnd ? n + 1 - limit : 0
            rankSlots(first..<(first + limit))
            // Most likely first, for the budget: each candidate rank over the slots by verdicts seen.
            for k in 0..<kappa {
                for i in 0..<limit where count < maxBranches {
                    let j = slotOrder[i]
                    let token = msg.tokens[j * kappa + k]
                    guard token >= 0, !startedEarly(at: j, token: token) else { continue }
                    if j == n && wnNode < 0 {  // the last window token needs a node of its own
                        rowTokens[rows] = window[n - 1]
                        rowParents[rows] = n >= 2 ? Int32(n - 2) : -1
                        rowBranch[rows] = -1
                        wnNode = pc + Int32(rows)
                        rows += 1
                    }
                    addBranch(at: j, token: token, from: .earlyExit)
                }
            }
        }
        guard count > 0, model.kvLength + rows + count * options.gamma <= model.maxContext else {
            // No room to roll them: forget the branches and the node just named, none was fed.
            count = early
            wnNode = wnBefore
            return false
        }
        stats.branchesRolled += count - early
        var only = -1  // after an early verdict: the one branch still worth rolling
        while true {
            if only < 0 && channel.verdict.latest >= UInt64(round + 1) {
                let verdict = channel.verdict.payload
                let b = verdict.stop ? nil : findBranch(accepted: verdict.accepted, next: verdict.next, fed: false)
                guard let b else {
                    if rows > 0 { wnNode = wnBefore }  // named, never fed
                    return true
                }
                only = b
            }
            guard anyLive(0..<count, only: only) else { break }
            let k = only < 0 ? budgetedRows(0..<count, extra: rows) : Int.max
            if k == 0 {
                if rows > 0 { wnNode = wnBefore }  // named, never fed
                break
            }
            try step(branches: 0..<count, only: only, parity: parity, pending: Int32(model.pendingCount), rows: rows, limit: k)
            rows = 0
        }
        return only >= 0
    }

    /// Fills slotOrder[0..<slots.count] with `slots` ranked by verdicts landed there (ties: later
    /// slots first, as an accurate draft is rejected late). Insertion sort: a handful of slots.
    func rankSlots(_ slots: Range<Int>) {
        var m = 0
        for j in slots.reversed() {
            var i = m
            while i > 0 && verdictsAt[slotOrder[i - 1]] < verdictsAt[j] { slotOrder[i] = slotOrder[i - 1]; i -= 1 }
            slotOrder[i] = j
            m += 1
        }
    }

    /// How many live branches of `range` the next step may run beside `extra` rows (see BranchBudget):
    /// all of them without the budget; 0 when even the first would run past the verdict.
    func budgetedRows(_ range: Range<Int>, extra: Int) -> Int {
        var live = 0
        for b in range where branches[b].isLive(cap: cap) { live += 1 }
        guard options.branchBudget, live > 0 else { return live }
        let ownLive = early > 0 && range.contains(0) && branches[0].source == .own && branches[0].isLive(cap: cap)
        let left = clock.verification(window: n).map { publishedAt + $0 - WallClock.now() }
        let k = clock.rows(live: live, extra: extra, ownFirst: ownLive, ownStepsAfter: ownLive ? cap - branches[0].steps - 1 : 0, left: left)
        stats.budgetDeclinedRows += live - k
        return k
    }

    /// Whether a branch in `range` (or `only`, when set) still has tokens to draft. A loop, not a
    /// closure: a closure capturing `only` would box it on every call in a debug build.
    func anyLive(_ range: Range<Int>, only: Int = -1) -> Bool {
        for b in range where (only < 0 || b == only) && branches[b].isLive(cap: cap) { return true }
        return false
    }

    /// The branch for verdict (a, next); with `fed`, only one whose candidate has a node already.
    func findBranch(accepted a: Int, next: Int32, fed: Bool = true) -> Int? {
        for b in 0..<count where branches[b].slot == a && branches[b].candidate == next && (!fed || branches[b].steps > 0) { return b }
        return nil
    }

    /// After the verdict: the next window, from a prepared branch (true) or a fresh rollout (false).
    func select(accepted a: Int, next: Int32, budget: Int, parity: Int) throws -> Bool {
        verdictsAt[min(a, verdictsAt.count - 1)] += 1
        if let b = findBranch(accepted: a, next: next), a < n || wnNode >= 0 {
            selectedBranch = b
            stats.recordReuse(source: branches[b].source, slot: a)
            let m = min(branches[b].length, budget)
            for i in 0..<a { pathBuf[i] = windowNode(i) }
            pathBuf[a] = branchNodes[b * options.gamma]
            for s in 0..<max(m - 1, 0) { keepBuf[s] = branchNodes[b * options.gamma + s + 1] }
            try pathBuf.withUnsafeBufferPointer { p in
                try keepBuf.withUnsafeBufferPointer { k in
                    try model.commitTree(path: UnsafeBufferPointer(rebasing: p[0..<(a + 1)]),
                                         keep: UnsafeBufferPointer(rebasing: k[0..<max(m - 1, 0)]))
                }
            }
            for s in 0..<m { window[s] = branchTokens[b * options.gamma + s]; alt[s] = branchAlts[b * options.gamma + s] }
            n = m
            return true
        }
        // Fallback: keep the accepted window tokens that have nodes, feed the rest and `next`.
        let kept = (a < n || wnNode >= 0) ? a : max(n - 1, 0)
        for i in 0..<kept { pathBuf[i] = windowNode(i) }
        try pathBuf.withUnsafeBufferPointer { p in
            try model.commitTree(path: UnsafeBufferPointer(rebasing: p[0..<kept]), keep: UnsafeBufferPointer(start: nil, count: 0))
        }
        var feed = 0
        for i in kept..<a { rowTokens[feed] = window[i]; feed += 1 }
        rowTokens[feed] = next
        feed += 1
        n = try fresh(feed: feed, budget: budget, parity: parity)
        return false
    }
}

/// One branch the draft prepares: the verdict it answers (slot j accepted, then `candidate`), where
/// the candidate came from, and how far it has drafted.
struct Branch {
    var slot = 0
    var candidate: Int32 = 0
    var source = BranchSource.own
    /// Tokens drafted confidently (the branch's window if the verdict lands on it).
    var length = 0
    /// Rows fed; it stops growing at `cap`, or when `done` (the draft's confidence fell).
    var steps = 0
    var done = false

    func isLive(cap: Int) -> Bool { !done && steps < cap }
}
