import LanguageModels
import Foundation
import Tokenizer
import TensorCore

public struct MirrorResult: Sendable {
    public var tokens: [Int32]
    public var text: String
    public var stopReason: StopReason
    public var stats: MirrorStats
    /// With `traceKV`: after each verdict, the committed length and the target's KV length, and
    /// after each window the draft prepared, its committed length (they must be L and L − 1, and L).
    public var targetTrace: [(committed: Int, targetKV: Int)] = []
    public var draftTrace: [Int] = []
    /// With `traceTimeline`: both workers' spans.
    public var timeline: MirrorTimeline? = nil
}

/// Mirror Speculative Decoding: the target verifies on one dedicated thread while the draft rolls
/// out the next window's branches on another. Verification is the serial decoder's (same
/// `Verifier`, same commit rules), so output equals the target's own greedy output, or its
/// sampling distribution.
public final class MirrorDecoder {
    public let target: any EarlyExitLanguageModel
    public let draft: any TreeLanguageModel
    public let tokenizer: Tokenizer
    /// Record KV lengths on both sides every round (tests count them).
    public var traceKV = false
    /// Record both workers' spans (the `profile` command's timeline).
    public var traceTimeline = false

    public init(target: any EarlyExitLanguageModel, draft: any TreeLanguageModel, tokenizer: Tokenizer) {
        self.target = target
        self.draft = draft
        self.tokenizer = tokenizer
    }

    public func generate(prompt: [Int32], options: GenerationOptions, mirror: MirrorOptions,
                         onText: @escaping (String) -> Bool = { _ in true }) throws -> MirrorResult {
        guard !prompt.isEmpty else { throw GenerationError.emptyPrompt }
        guard options.maxTokens >= 1 else { throw GenerationError.invalidOption("the token limit must be at least 1") }
        guard mirror.exitLayer < target.layerCount else {
            throw GenerationError.invalidOption("the exit layer must be below the target's \(target.layerCount) layers, got \(mirror.exitLayer)")
        }
        if let l = target.exitLensLayer, l != mirror.exitLayer {
            throw GenerationError.invalidOption("the exit lens is for layer \(l), but the early exit is after layer \(mirror.exitLayer)")
        }
        let context = min(target.maxContext, draft.maxContext)
        guard prompt.count + 1 < context else { throw GenerationError.promptTooLong(tokens: prompt.count, context: context) }
        target.truncate(to: 0)
        draft.truncate(to: 0)
        let channel = MirrorChannel(gamma: mirror.gamma, kappa: mirror.kappa)
        let worker = DraftWorker(model: draft, channel: channel, options: mirror, prompt: prompt, sampling: options.sampling)
        worker.traceKV = traceKV
        if traceTimeline { worker.spans = SpanRecorder() }
        let run = TargetRun(decoder: self, channel: channel, options: options, mirror: mirror, prompt: prompt, context: context, onText: onText)
        if traceTimeline { run.spans = SpanRecorder() }
        let draftThread = WorkerThread(stackSize: 4 << 20) { worker.run() }
        let targetThread = WorkerThread(stackSize: 4 << 20) { run.run() }
        targetThread.join()
        if run.error != nil && !run.draftStopped {
            // Release a draft that may wait for the start (the target failed in prefill), candidates or
            // a verdict that will not come.
            if !run.started {
                channel.start.payload.budget = 0
                channel.start.post(1)
            }
            // Candidates already posted this round may be in the draft's hands (it then waits for the
            // verdict): leave them be.
            if !run.candidatesPending {
                channel.candidates.payload.n = 0
                channel.candidates.payload.kappa = 0
                channel.candidates.post(UInt64.max)
            }
            channel.verdict.payload.stop = true
            channel.verdict.post(UInt64.max)
        }
        draftThread.join()
        if let e = run.error { throw e }
        var stats = run.stats
        let d = worker.stats
        stats.draftBranchSeconds = d.draftBranchSeconds
        stats.draftSelectSeconds = d.draftSelectSeconds
        stats.draftFreshSeconds = d.draftFreshSeconds
        stats.draftIdleSeconds = d.draftIdleSeconds
        stats.branchesRolled = d.branchesRolled
        stats.ownBranches = d.ownBranches
        stats.ownReused = d.ownReused
        stats.runnerUpBranches = d.runnerUpBranches
        stats.runnerUpReused = d.runnerUpReused
        stats.reusesBySourceAndSlot = d.reusesBySourceAndSlot
        stats.budgetDeclinedRows = d.budgetDeclinedRows
        stats.speculative.draftForwards = d.speculative.draftForwards
        stats.speculative.draftSeconds = d.draftBranchSeconds + d.draftSelectSeconds
        stats.rendezvousCandidatesSeconds = d.rendezvousCandidatesSeconds
        stats.rendezvousVerdictSeconds = d.rendezvousVerdictSeconds
        return MirrorResult(tokens: run.sink.tokens, text: run.sink.text, stopReason: run.sink.reason ?? .maxTokens, stats: stats,
                            targetTrace: run.trace, draftTrace: worker.trace,
                            timeline: traceTimeline ? MirrorTimeline(target: run.spans?.spans ?? [], draft: worker.spans?.spans ?? []) : nil)
    }
}

/// The target worker's loop and state (owned by the target thread until it finishes).
final class TargetRun: @unchecked Sendable {
    // Sendable: only the target thread touches this object until `generate` joins it.
    let decoder: MirrorDecoder
    let channel: MirrorChannel
    let options: GenerationOptions
    let mirror: MirrorOptions
    let prompt: [Int32]
    let context: Int
    let onText: (String) -> Bool
    var sink: CommitSink
    var stats = MirrorStats()
    var error: Error?
    var draftStopped = false
    var started = false
    /// This round's candidates are posted and its verdict is not: the draft may be reading them.
    var candidatesPending = false
    var trace: [(committed: Int, targetKV: Int)] = []
    var spans: SpanRecorder? = nil
    /// The adaptive γ (`mirror.adaptiveGamma`); its row cost is set from the prefill.
    var windows: WindowController

    init(decoder: MirrorDecoder, channel: MirrorChannel, options: GenerationOptions, mirror: MirrorOptions, prompt: [Int32],
         context: Int, onText: @escaping (String) -> Bool) {
        self.decoder = decoder
        self.channel = channel
        self.options = options
        self.mirror = mirror
        self.prompt = prompt
        self.context = context
        self.onText = onText
        sink = CommitSink(tokenizer: decoder.tokenizer, options: options)
        windows = WindowController(maxGamma: mirror.gamma, rowCost: 0)
        stats.sizeAcceptanceCounts(gamma: mirror.gamma)
    }

    func run() {
        do { try loop() } catch { self.error = error }
    }

    func loop() throws {
        let target = decoder.target
        let v = target.vocabSize, g = mirror.gamma, kappa = mirror.kappa
        if let cpus = mirror.pinnedCPUs { Ops.pinCurrentThread(to: cpus.target) }
        let verifier = Verifier(params: options.sampling, vocabSize: v)
        var block = [Int32](repeating: 0, count: g + 2)
        var window = [Int32](repeating: 0, count: g + 2)
        var committed = [Int32](repeating: 0, count: g + 2)
        stats.speculative.promptTokens = prompt.count

        var t0 = WallClock.now()
        let firstLogits = try prefill(target, prompt)
        spans?.add("prefill", t0, WallClock.now())
        let first = options.sampling.isGreedy ? Sampler.argmax(firstLogits, count: v) : verifier.sampler.sample(firstLogits)
        stats.speculative.prefillSeconds = WallClock.now() - t0
        windows.rowCost = stats.speculative.prefillSeconds / Double(prompt.count)
        t0 = WallClock.now()
        var going = try sink.commit(first, onText: onText)
        var L = prompt.count + 1  // committed tokens; the newest, c, is not in the target's KV yet
        var c = first
        channel.start.payload.first = first
        channel.start.payload.budget = budget(L)
        channel.start.post(1)
        started = true
        var round = 0
        var offset = 0        // 1 after an F2 plain step whose token matched the window's first token
        var plainToken: Int32 = -1
        while going {
            // The window for this round.
            let w0 = WallClock.now()
            channel.window.wait(for: UInt64(round + 1))
            stats.targetWaitSeconds += WallClock.now() - w0
            spans?.add("wait window", w0, WallClock.now())
            stats.rendezvousWindowSeconds += max(0, WallClock.now() - max(channel.window.postedAt, w0))
            let msg = channel.window.payload
            if let f = msg.failed { throw GenerationError.invalidOption("draft worker failed: \(f)") }
            if round > 0 { stats.recordRound(accepted: lastAccepted, reused: msg.reused) }
            var n = msg.n
            for i in 0..<n { window[i] = msg.tokens[i] }
            var probs = msg.probs
            if plainToken >= 0 {
                // F2: the target already produced this position's token; keep the window only if
                // its first token is that token.
                stats.plainSteps += 1
                if n > 0 && window[0] == plainToken {
                    stats.plainStepMatches += 1
                    offset = 1
                    for i in 0..<(n - 1) { window[i] = window[i + 1] }
                    n -= 1
                    probs = probs.map { $0 + v }
                } else {
                    // Nothing to verify: tell the draft its window failed at position 0.
                    channel.candidates.payload.n = 0
                    channel.candidates.payload.kappa = 0
                    channel.candidates.post(UInt64(round + 1))
                    going = postVerdict(round: round, accepted: 0, next: plainToken, L: L)
                    lastAccepted = 0
                    plainToken = -1
                    round += 1
                    continue
                }
                plainToken = -1
            } else {
                offset = 0
            }
            // Target prefix: layers 1..ℓe over [c, window], then the early-exit candidates.
            let p0 = WallClock.now()
            block[0] = c
            for i in 0..<n { block[i + 1] = window[i] }
            try block.withUnsafeBufferPointer { try target.beginBatch(UnsafeBufferPointer(rebasing: $0[0..<(n + 1)]), at: L - 1) }
            try target.runLayers(0..<mirror.exitLayer)
            let cands = channel.candidates.payload.tokens
            let draftN = n + offset
            if kappa > 0 {
                let x0 = WallClock.now()
                defer { stats.targetProxySeconds += WallClock.now() - x0 }
                let pv = min(mirror.proxyVocab ?? v, v)
                let proxy = target.proxyLogits(vocabLimit: pv)
                for k in 0..<(offset * kappa) { cands[k] = -1 }
                for j in 0...n {
                    let exclude: Int32 = j < n ? window[j] : -1
                    topK(proxy + j * pv, pv, kappa, excluding: exclude, into: cands + (j + offset) * kappa)
                }
            }
            channel.candidates.payload.n = draftN
            channel.candidates.payload.kappa = kappa
            channel.candidates.post(UInt64(round + 1))
            candidatesPending = true
            let p1 = WallClock.now()
            stats.targetPrefixSeconds += p1 - p0
            spans?.add("verify prefix", p0, p1)
            // Target suffix, then the shared verification.
            try target.runLayers(mirror.exitLayer..<target.layerCount)
            let logits = target.batchLogits()
            try requireFinite(logits, rows: n + 1, vocab: v, position: L - 1)
            let (a, next) = window.withUnsafeBufferPointer {
                verifier.verify(window: UnsafeBufferPointer(rebasing: $0[0..<n]), draftProbs: probs, targetLogits: logits)
            }
            target.truncate(to: L + a)
            stats.speculative.record(drafted: draftN, accepted: a + offset)
            stats.speculative.targetForwards += 1
            let hit = kappa > 0 && contains(cands + (a + offset) * kappa, kappa, next)
            if kappa > 0 { stats.omegaRounds += 1; if hit { stats.omegaHits += 1 } }
            for i in 0..<a { committed[i] = window[i] }
            committed[a] = next
            going = try committed.withUnsafeBufferPointer { try sink.commit(UnsafeBufferPointer(rebasing: $0[0...a]), onText: onText) }
            L += a + 1
            c = next
            lastAccepted = a + offset
            if mirror.adaptiveGamma {
                windows.record(drafted: n, acceptedLength: a, verifySeconds: WallClock.now() - p0,
                               draftStepSeconds: msg.stepSeconds, reused: round == 0 ? nil : msg.reused)
            }
            going = postVerdict(round: round, accepted: a + offset, next: next, L: L, stop: !going)
            stats.targetSuffixSeconds += WallClock.now() - p1
            spans?.add("verify suffix", p1, WallClock.now())
            round += 1
            if going && mirror.fallback == .plainStep && !hit {
                // F2: the draft is rolling out afresh; take one plain step meanwhile.
                let s0 = WallClock.now()
                block[0] = c
                let l = try block.withUnsafeBufferPointer { try target.forward(UnsafeBufferPointer(rebasing: $0[0..<1]), at: L - 1, allLogits: false) }
                stats.speculative.targetForwards += 1
                let t = options.sampling.isGreedy ? Sampler.argmax(l, count: v) : verifier.sampler.sample(l)
                going = try sink.commit(t, onText: onText)
                stats.targetSuffixSeconds += WallClock.now() - s0
                spans?.add("plain step", s0, WallClock.now())
                if going {
                    plainToken = t
                    c = t
                    L += 1
                } else {
                    // The draft is rolling out a window that will not be used. Its reply proves it
                    // read the last verdict (one slot: a stop posted earlier would overwrite it).
                    channel.window.wait(for: UInt64(round + 1))
                    stats.recordRound(accepted: lastAccepted, reused: channel.window.payload.reused)
                    stopDraft(round: round)
                }
            }
        }
        if !draftStopped { stopDraft(round: round) }
        if sink.reason == .contextFull { try finishContext(L: L, c: c, verifier: verifier, block: &block) }
        sink.finish(onText: onText)
        stats.speculative.generatedTokens = sink.tokens.count
        stats.speculative.decodeSeconds = WallClock.now() - t0
        stats.speculative.targetSeconds = stats.targetPrefixSeconds + stats.targetSuffixSeconds
    }

    var lastAccepted = 0

    /// With no room for another window, plain target steps fill the context to the token plain
    /// decoding ends on (the draft has stopped): the KV holds the newest token but c.
    func finishContext(L start: Int, c first: Int32, verifier: Verifier, block: inout [Int32]) throws {
        let target = decoder.target, v = target.vocabSize
        var L = start, c = first
        sink.reason = nil
        var going = true
        while going && L - 1 < target.maxContext {
            block[0] = c
            let l = try block.withUnsafeBufferPointer { try target.forward(UnsafeBufferPointer(rebasing: $0[0..<1]), at: L - 1, allLogits: false) }
            try requireFinite(l, rows: 1, vocab: v, position: L - 1)
            stats.speculative.targetForwards += 1
            c = options.sampling.isGreedy ? Sampler.argmax(l, count: v) : verifier.sampler.sample(l)
            going = try sink.commit(c, onText: onText)
            L += 1
        }
        if going { sink.reason = .contextFull }
    }

    func budget(_ L: Int) -> Int {
        // A window of n is verified at positions L-1 ..< L+n, within the context.
        let g = mirror.adaptiveGamma ? windows.gamma : mirror.gamma
        let b = max(0, min(g, options.maxTokens - sink.tokens.count, context - L))
        if mirror.adaptiveGamma && b > 0 { stats.adaptiveGammaSum += b; stats.adaptiveWindows += 1 }
        return b
    }

    /// Ends the draft worker wherever it is in round `round`: it first waits for candidates, then for
    /// the verdict, so both are posted.
    func stopDraft(round: Int) {
        channel.candidates.payload.n = 0
        channel.candidates.payload.kappa = 0
        channel.candidates.post(UInt64(round + 1))
        channel.verdict.payload = MirrorChannel.Verdict(accepted: 0, next: 0, stop: true, budget: 0)
        channel.verdict.post(UInt64(round + 1))
        candidatesPending = false
        draftStopped = true
    }

    /// Sends the verdict; returns whether generation goes on (a zero budget ends it here too, so
    /// the target never waits for a window the stopped draft will not send).
    func postVerdict(round: Int, accepted: Int, next: Int32, L: Int, stop: Bool = false) -> Bool {
        let b = budget(L)
        let ending = stop || b == 0
        if decoder.traceKV && !ending { trace.append((L, decoder.target.kvLength)) }
        channel.verdict.payload = MirrorChannel.Verdict(accepted: accepted, next: next, stop: ending, budget: b)
        if ending {
            draftStopped = true
            if !stop { sink.reason = sink.reason ?? (options.maxTokens - sink.tokens.count <= 0 ? .maxTokens : .contextFull) }
        }
        channel.verdict.post(UInt64(round + 1))
        candidatesPending = false
        return !ending
    }
}

/// The κ largest entries of `logits` (excluding one token), written to `out` in descending order.
func topK(_ logits: UnsafePointer<Float>, _ n: Int, _ k: Int, excluding: Int32, into out: UnsafeMutablePointer<Int32>) {
    var filled = 0
    for i in 0..<n where Int32(i) != excluding {
        let x = logits[i]
        if filled == k && x <= logits[Int(out[k - 1])] { continue }
        var j = filled < k ? filled : k - 1
        while j > 0 && logits[Int(out[j - 1])] < x { out[j] = out[j - 1]; j -= 1 }
        out[j] = Int32(i)
        if filled < k { filled += 1 }
    }
    for j in filled..<k { out[j] = -1 }
}

func contains(_ p: UnsafePointer<Int32>, _ n: Int, _ t: Int32) -> Bool {
    for i in 0..<n where p[i] == t { return true }
    return false
}
