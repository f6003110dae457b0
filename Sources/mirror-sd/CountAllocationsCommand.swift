import ArgumentParser
import Engine
import Foundation
import Generation
import LanguageModels
import Llama
import Tokenizer
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

    typealias Toggle = @convention(c) (Int32) -> Void
    typealias Read = @convention(c) () -> Int

    struct Counts: Codable {
        var backend: String
        var tokens: Int
        var decodeForwardPerToken: Double
        var verifyForwardPerRound: Double
        var arPerToken: Double
        var sdPerToken: Double
        var mirrorPerToken: Double
        /// κ = 0 with two runner-up branches beside the own branch.
        var mirrorRunnerUpsPerToken: Double
    }

    func run() throws {
        guard tokens >= 8 else { throw ValidationError("--tokens must be at least 8") }
        guard let on = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mirrorsd_alloc_counting"),
              let read = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mirrorsd_alloc_count") else {
            throw CLIError("the allocation counter is not loaded: build tools/alloc/alloccount.c and run with LD_PRELOAD (see --help)")
        }
        let toggle = unsafeBitCast(on, to: Toggle.self), count = unsafeBitCast(read, to: Read.self)
        func counted(_ body: () throws -> Void) rethrows -> Int {
            let c0 = count()
            toggle(1)
            defer { toggle(0) }
            try body()
            return count() - c0
        }
        // The counter must see Swift's own allocations, or every zero below would mean nothing.
        let probe = counted { let a = [Int](repeating: 1, count: 1000); precondition(a.count == 1000) }
        guard probe >= 1 else { throw CLIError("the allocation counter is loaded but counted no allocation of a test array") }

        let file = try modelOptions.openFile()
        let tok = try Tokenizer(file: file)
        let model = try LlamaModel(file: file, backend: backend.make(threads: 1))
        let ctx = 512
        let session = model.makeSession(maxContext: ctx, maxBatch: 64)
        let template = try ChatTemplate(template: tok.vocab.chatTemplate)
        let prompt = template.encode([.init(role: "user", content: "Write a short story about a lighthouse keeper.")], with: tok)

        // Forward passes alone: one-token decode, then 5-row verifications rolled back.
        _ = try session.prefill(prompt, at: 0)
        var one: [Int32] = [504]
        var pos = prompt.count
        for _ in 0..<8 { _ = try session.forward(one, at: pos); pos += 1 }
        func decodeRun() throws -> Int {
            try counted {
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
        let verify = try counted {
            for _ in 0..<rounds {
                _ = try window.withUnsafeBufferPointer { try session.forward($0, at: pos, allLogits: true) }
                session.truncate(to: pos)
            }
        }

        // Decoders end to end: (long run - short run) / (long - short) tokens.
        let draft = try LlamaModel(file: file, backend: BackendKind.q8_0.make(threads: 1)).makeSession(maxContext: ctx, maxBatch: 64)
        // The least of three (long − short) differences: an allocation per token or per round is in
        // every one, while a one-off (a lazily built runtime structure) lands in only one of them.
        func perToken(_ generate: (Int) throws -> Void) throws -> Double {
            try generate(8)  // warm-up
            var best = Int.max
            for _ in 0..<3 {
                let short = try counted { try generate(8) }
                let long = try counted { try generate(8 + tokens) }
                best = min(best, long - short)
            }
            return Double(best) / Double(tokens)
        }
        func options(_ n: Int) -> GenerationOptions { GenerationOptions(maxTokens: n, stopAtEOS: false) }
        let ar = try perToken { n in _ = try Generator(model: session, tokenizer: tok).generate(prompt: prompt, options: options(n)) }
        let spec = try SpeculativeOptions(gamma: 4)
        let sd = try perToken { n in
            _ = try SerialSpeculativeDecoder(target: session, draft: draft, tokenizer: tok)
                .generate(prompt: prompt, options: options(n), speculative: spec)
        }
        let mo = try MirrorOptions(gamma: 4, kappa: 2, exitLayer: max(1, model.config.layers * 22 / 30))
        let mirror = try perToken { n in
            _ = try MirrorDecoder(target: session, draft: draft, tokenizer: tok).generate(prompt: prompt, options: options(n), mirror: mo)
        }

        var ru = try MirrorOptions(gamma: 4, kappa: 0, exitLayer: mo.exitLayer)
        ru.runnerUps = 2
        let mirrorRunnerUps = try perToken { n in
            _ = try MirrorDecoder(target: session, draft: draft, tokenizer: tok).generate(prompt: prompt, options: options(n), mirror: ru)
        }

        let c = Counts(backend: backend.rawValue, tokens: tokens, decodeForwardPerToken: Double(decode) / Double(tokens),
                       verifyForwardPerRound: Double(verify) / Double(rounds), arPerToken: ar, sdPerToken: sd, mirrorPerToken: mirror,
                       mirrorRunnerUpsPerToken: mirrorRunnerUps)
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
            print(String(format: "| ar decoder, per token | %.2f |", c.arPerToken))
            print(String(format: "| sd decoder, per token | %.2f |", c.sdPerToken))
            print(String(format: "| mirror decoder (κ = 2), per token | %.2f |", c.mirrorPerToken))
            print(String(format: "| mirror decoder (κ = 0, 2 runner-ups), per token | %.2f |", c.mirrorRunnerUpsPerToken))
        }
    }
}
