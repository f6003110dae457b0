import ArgumentParser
import Engine
import Foundation
import Generation
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

/// Heap allocations on the per-token path, counted by a preloaded allocator shim
/// (tools/alloc/alloccount.c): the model's forward passes alone, then each decoder end to end.
struct CountAllocationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "count-allocations",
        abstract: "Count heap allocations per token: forward passes (decode, verification) and the ar, sd and mirror decoders.",
        discussion: """
            Needs the counting shim preloaded: cc -O2 -shared -fPIC -o /tmp/libmsd-alloccount.so \
            tools/alloc/alloccount.c, then LD_PRELOAD=/tmp/libmsd-alloccount.so mirror-sd count-allocations. \
            A decoder's per-token figure is the difference between a long and a short run, so per-request \
            work (thread start, buffers) cancels.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: [.customLong("target-type"), .customLong("backend")], help: ArgumentHelp("Compute format of the target: \(BackendKind.help).", valueName: "type"))
    var backend: BackendKind = .f32
    @Option(help: "Tokens counted per measurement.") var tokens: Int = 64
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Count the forward passes only, not the decoders (whose code is the same on every target backend).")
    var forwardsOnly = false

    typealias Toggle = @convention(c) (Int32) -> Void
    typealias Read = @convention(c) () -> Int

    /// The shim's switch and total: allocations made while `body` runs.
    struct Counter {
        let toggle: Toggle
        let count: Read
        func counted(_ body: () throws -> Void) rethrows -> Int {
            let c0 = count()
            toggle(1)
            defer { toggle(0) }
            try body()
            return count() - c0
        }
    }

    struct Counts: Codable {
        var backend: String
        var tokens: Int
        var decodeForwardPerToken: Double
        var verifyForwardPerRound: Double
        var arPerToken: Double?
        var sdPerToken: Double?
        /// κ = 2, through the shipped exit lens for the target if there is one (`exitLens`).
        var mirrorPerToken: Double?
        var exitLens: String?
        /// κ = 0 with two runner-up branches beside the own branch.
        var mirrorRunnerUpsPerToken: Double?
        /// Four sequences decoding in one BatchDecoder (continuous batching), per token of all four.
        var batchPerToken: Double?
        /// The same with prompt lookup drafting every guess (rows made free), per token.
        var batchDraftPerToken: Double?
        var batchDrafted = 0
    }

    func run() throws {
        guard tokens >= 8 else { throw ValidationError("--tokens must be at least 8") }
        guard let on = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mirrorsd_alloc_counting"),
              let read = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mirrorsd_alloc_count") else {
            throw CLIError("the allocation counter is not loaded: build tools/alloc/alloccount.c and run with LD_PRELOAD (see --help)")
        }
        let counter = Counter(toggle: unsafeBitCast(on, to: Toggle.self), count: unsafeBitCast(read, to: Read.self))
        // The counter must see Swift's own allocations, or every zero below would mean nothing.
        let probe = counter.counted { let a = [Int](repeating: 1, count: 1000); precondition(a.count == 1000) }
        guard probe >= 1 else { throw CLIError("the allocation counter is loaded but counted no allocation of a test array") }

        var config = EngineConfiguration()
        config.modelPath = modelOptions.model
        config.targetType = backend
        config.context = 512
        config.draftType = .q8_0
        let engine = try Engine(config)
        let session = engine.target
        let prompt = try engine.chatPrompt([.init(role: "user", content: "Write a short story about a lighthouse keeper.")])

        // Forward passes alone: one-token decode, then 5-row verifications rolled back.
        _ = try session.prefill(prompt, at: 0)
        var one: [Int32] = [504]
        var pos = prompt.count
        for _ in 0..<8 { _ = try session.forward(one, at: pos); pos += 1 }
        func decodeRun() throws -> Int {
            try counter.counted {
                for _ in 0..<tokens {
                    _ = try one.withUnsafeBufferPointer { try session.forward($0, at: pos) }
                    pos += 1
                    one[0] = (one[0] &+ 7) % 1000
                }
            }
        }
        let decodeFirst = try decodeRun()
        pos = prompt.count + 8
        session.truncate(to: pos)
        let decode = try decodeRun()
        note("decode forward: \(decodeFirst) then \(decode) allocations over \(tokens) tokens")
        let window: [Int32] = [504, 3458, 282, 4649, 314]
        _ = try session.forward(window, at: pos, allLogits: true)
        session.truncate(to: pos)
        let rounds = max(8, tokens / 4)
        let verify = try counter.counted {
            for _ in 0..<rounds {
                _ = try window.withUnsafeBufferPointer { try session.forward($0, at: pos, allLogits: true) }
                session.truncate(to: pos)
            }
        }

        var c = Counts(backend: backend.rawValue, tokens: tokens, decodeForwardPerToken: Double(decode) / Double(tokens),
                       verifyForwardPerRound: Double(verify) / Double(rounds))
        if !forwardsOnly {
            try countDecoders(into: &c, engine: engine, prompt: prompt, counter: counter)
        }
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            print(String(decoding: try e.encode(c), as: UTF8.self))
        } else {
            print("heap allocations, target \(backend.rawValue), draft self on int8, kernels \(Ops.implementation):")
            print("| path | allocations |")
            print("|---|---|")
            print(String(format: "| decode forward, per token | %.2f |", c.decodeForwardPerToken))
            print(String(format: "| 5-row verification forward, per round | %.2f |", c.verifyForwardPerRound))
            for (path, v) in [("ar decoder", c.arPerToken), ("sd decoder", c.sdPerToken), ("mirror decoder (κ = 2, lens \(c.exitLens ?? "none"))", c.mirrorPerToken),
                              ("mirror decoder (κ = 0, 2 runner-ups)", c.mirrorRunnerUpsPerToken),
                              ("batch of 4 sequences (continuous batching)", c.batchPerToken),
                              ("batch of 4 sequences drafting with prompt lookup (\(c.batchDrafted) drafted rows)", c.batchDraftPerToken)] {
                if let v { print(String(format: "| %@, per token | %.2f |", path, v)) }
            }
        }
    }

    /// Allocations of `generate(8 + tokens)` beyond those of `generate(8)`: the least of three
    /// differences, after a warm-up. An allocation per token or per round is in every one, while a
    /// one-off (a lazily built runtime structure) lands in only one of them.
    private func extraAllocations(_ counter: Counter, _ generate: (Int) throws -> Void) throws -> Int {
        try generate(8)
        var best = Int.max
        for _ in 0..<3 {
            let short = try counter.counted { try generate(8) }
            let long = try counter.counted { try generate(8 + tokens) }
            best = min(best, long - short)
        }
        return best
    }

    /// Decoders end to end, per extra token.
    private func countDecoders(into c: inout Counts, engine: Engine, prompt: [Int32], counter: Counter) throws {
        func perToken(_ spec: DecoderSpec) throws -> Double {
            let decoder = try engine.decoder(spec).decoder
            return Double(try extraAllocations(counter) { n in
                _ = try decoder.decode(prompt: prompt, options: GenerationOptions(maxTokens: n, stopAtEOS: false)) { _ in true }
            }) / Double(tokens)
        }
        let layers = engine.model.config.layers
        func spec(_ knobs: [(String, KnobInput)]) throws -> DecoderSpec {
            try DecoderSpec().with([("draft", .text("self")), ("gamma", .int(4))] + knobs, layers: layers)
        }
        c.arPerToken = try perToken(DecoderSpec())
        c.sdPerToken = try perToken(try spec([("mode", .text("sd"))]))
        let mirror = try spec([("mode", .text("mirror")), ("kappa", .int(2))])
        c.mirrorPerToken = try perToken(mirror)
        c.exitLens = try engine.decoder(mirror).exitLens
        c.mirrorRunnerUpsPerToken = try perToken(try spec([("mode", .text("mirror")), ("kappa", .int(0)), ("runner-ups", .int(2))]))
        // Four sequences in one batch, per extra token of all four: plain, then feeding every guess of
        // prompt lookup (a cost shape where rows are free, so the goodput rule drafts whatever is offered).
        func batchPerToken(_ draft: BatchDraft?) throws -> (Double, Int) {
            let batch = BatchDecoder(model: engine.model, tokenizer: engine.tokenizer, slots: 4, context: engine.context, draft: draft)
            if draft != nil {
                var flat = StepCost()
                flat.setCalibration([(1, 1e-3), (64, 1e-3)])
                batch.cost = flat
            }
            let n = Double(try extraAllocations(counter) { n in
                for i in 0..<4 {
                    _ = try batch.add(prompt: prompt + [Int32(100 + i)], options: GenerationOptions(maxTokens: n, stopAtEOS: false),
                                      onText: { _ in true }, done: { _ in })
                }
                while !batch.isIdle { batch.step() }
            }) / Double(4 * tokens)
            return (n, batch.draftedTokens)
        }
        c.batchPerToken = try batchPerToken(nil).0
        (c.batchDraftPerToken, c.batchDrafted) = try batchPerToken(.lookup)
    }
}
