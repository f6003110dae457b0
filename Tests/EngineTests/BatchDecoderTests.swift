import Engine
import Generation
import GGUF
import TestSupport
import Tokenizer
import XCTest

/// Continuous batching keeps each request's output: a sequence decoded among others, joining and
/// leaving at any step, gives the tokens and text it gives alone, greedy or seeded-sampled.
final class BatchDecoderTests: XCTestCase {
    struct Request {
        let prompt: [Int32]
        let options: GenerationOptions
    }

    func requests(_ tok: Tokenizer) -> [Request] {
        let texts = ["Give three tips for writing clear code.", "What is the capital of France?", "Write a haiku about the sea.",
                     "Count from one to ten:", "hi", "Explain what a compiler does in two sentences.",
                     "Repeat this line three times: the quick brown fox jumps over the lazy dog."]
        return texts.enumerated().map { i, t in
            var o = GenerationOptions(maxTokens: 12 + 5 * i, stopAtEOS: true)
            if i % 2 == 1 { o.sampling = try! SamplingParams(temperature: 0.8, topK: 40, topP: 0.95, minP: 0, seed: UInt64(100 + i)) }
            if i == 3 { o.stopStrings = [" five"] }
            return Request(prompt: tok.encode(t, parseSpecial: false), options: o)
        }
    }

    /// The default model file and its tokenizer, or a skip when model tests are off.
    func smolLM2() throws -> (GGUFFile, Tokenizer) {
        let path: String
        do { path = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        let file = try GGUFFile(path: path)
        return (file, try Tokenizer(file: file))
    }

    /// A step shape where rows cost nothing extra, so the goodput rule drafts every row offered.
    static let flatCost: StepCost = {
        var c = StepCost()
        c.setCalibration([(1, 1e-3), (64, 1e-3)])
        return c
    }()

    func testEachSequenceDecodesAsItWouldAloneWhateverJoinsWhen() throws {
        let (file, tok) = try smolLM2()
        let reqs = requests(tok)
        for (type, threads) in [(BackendKind.native, 2), (.f32, 1)] {
            let model = try Engine.loadModel(file, type: type, threads: threads)
            let alone = try reqs.map { r in
                try Generator(model: model.makeSession(maxContext: 160, maxBatch: 64), tokenizer: tok).generate(prompt: r.prompt, options: r.options)
            }
            for draft in [nil, BatchDraft.lookup] {
                // Three slots for seven requests: the later ones join as earlier ones leave; one joins
                // every other step, and prompts are prefilled 7 rows at a time beside the decode rows.
                // Drafting, every guess is fed (rows cost nothing here), up to 5 a sequence.
                let b = BatchDecoder(model: model, tokenizer: tok, slots: 3, context: 160, rowBudget: 24, prefillChunk: 7, draft: draft,
                                     policy: GoodputPolicy(maxDraft: 5))
                if draft != nil { b.cost = Self.flatCost }
                let label = "\(type), draft \(draft?.rawValue ?? "none")"
                var results = [Result<DecodeResult, any Error>?](repeating: nil, count: reqs.count)
                var streamed = [String](repeating: "", count: reqs.count)
                var next = 0, step = 0
                while results.contains(where: { $0 == nil }) {
                    if next < reqs.count, step % 2 == 0 {
                        let i = next
                        if try b.add(prompt: reqs[i].prompt, options: reqs[i].options, onText: { streamed[i] += $0; return true },
                                     done: { results[i] = $0 }) != nil { next += 1 }
                    }
                    b.step()
                    step += 1
                    XCTAssertLessThan(step, 2000, "the batch does not finish")
                    if step >= 2000 { return }
                }
                for (i, r) in results.enumerated() {
                    let got = try XCTUnwrap(r).get()
                    XCTAssertEqual(got.tokens, alone[i].tokens, "\(label) request \(i): batched tokens differ from decoding it alone")
                    XCTAssertEqual(got.text, alone[i].text, "\(label) request \(i)")
                    XCTAssertEqual(streamed[i], got.text, "\(label) request \(i): the streamed pieces add up to the text")
                    XCTAssertEqual(got.stopReason, alone[i].stopReason, "\(label) request \(i)")
                }
                XCTAssertTrue(b.isIdle)
                XCTAssertGreaterThan(b.rowsRun, b.stepCount, "some forwards held several sequences")
                if draft != nil {
                    XCTAssertGreaterThan(b.acceptedTokens, 0, "\(label): no drafted token was kept, so the drafted path went untested")
                    XCTAssertGreaterThan(b.draftedTokens, b.acceptedTokens, "\(label): no drafted token was refused, so rollback went untested")
                    XCTAssertGreaterThan(b.speculatingSteps, 0)
                } else {
                    XCTAssertEqual(b.draftedTokens, 0)
                }
            }
        }
    }

    func testACancelledSequenceLeavesAndTheOthersFinishUnchanged() throws {
        let (file, tok) = try smolLM2()
        let model = try Engine.loadModel(file, type: .native)
        let reqs = requests(tok).prefix(3).map { r in
            var o = r.options
            o.maxTokens = 40
            o.stopAtEOS = false
            return Request(prompt: r.prompt, options: o)
        }
        let alone = try reqs.map { try Generator(model: model.makeSession(maxContext: 160, maxBatch: 64), tokenizer: tok).generate(prompt: $0.prompt, options: $0.options) }
        let b = BatchDecoder(model: model, tokenizer: tok, slots: 3, context: 160)
        var results = [Result<DecodeResult, any Error>?](repeating: nil, count: 3)
        var ids: [Int] = []
        for (i, r) in reqs.enumerated() {
            ids.append(try XCTUnwrap(try b.add(prompt: r.prompt, options: r.options, onText: { _ in true }, done: { results[i] = $0 })))
        }
        for _ in 0..<4 { b.step() }
        b.cancel(ids[1])
        XCTAssertEqual(b.activeCount, 2, "the cancelled sequence frees its slot at once")
        while !b.isIdle { b.step() }
        let cancelled = try XCTUnwrap(results[1]).get()
        XCTAssertEqual(cancelled.stopReason, .callerStopped)
        XCTAssertEqual(Array(alone[1].tokens.prefix(cancelled.tokens.count)), cancelled.tokens)
        for i in [0, 2] { XCTAssertEqual(try XCTUnwrap(results[i]).get().tokens, alone[i].tokens, "request \(i)") }
    }
}

extension BatchDecoderTests {
    /// A chat's next turn starts with the previous turn's prompt and answer: it goes to the slot that
    /// holds them, prefills only the new part, and decodes what it decodes alone.
    func testANextTurnReusesTheHeldPrefixAndDecodesTheSame() throws {
        let (file, tok) = try smolLM2()
        let model = try Engine.loadModel(file, type: .native)
        let template = try ChatTemplate(template: tok.vocab.chatTemplate)
        let options = GenerationOptions(maxTokens: 16, stopAtEOS: true)
        let first = template.encode([.init(role: "user", content: "Name a colour.")], with: tok)
        let other = template.encode([.init(role: "user", content: "Name an animal.")], with: tok)
        let b = BatchDecoder(model: model, tokenizer: tok, slots: 2, context: 256)
        var answers: [DecodeResult] = []
        for p in [first, other] {
            _ = try b.add(prompt: p, options: options, onText: { _ in true }, done: { answers.append(try! $0.get()) })
        }
        while !b.isIdle { b.step() }
        let firstAnswer = try XCTUnwrap(answers.first { $0.stats.generation.promptTokens == first.count })
        let reply = try tok.decode(firstAnswer.tokens)
        let next = template.encode([.init(role: "user", content: "Name a colour."), .init(role: "assistant", content: reply),
                                    .init(role: "user", content: "Another one?")], with: tok)
        var common = 0
        while common < min(next.count, first.count + firstAnswer.tokens.count) && next[common] == (first + firstAnswer.tokens)[common] { common += 1 }
        XCTAssertGreaterThan(common, first.count / 2, "the next turn starts with the first turn's prompt")
        var result: DecodeResult?
        _ = try b.add(prompt: next, options: options, onText: { _ in true }, done: { result = try! $0.get() })
        XCTAssertEqual(b.prefixHits, 1)
        XCTAssertGreaterThan(b.prefixTokensReused, 0)
        while !b.isIdle { b.step() }
        let alone = try Generator(model: model.makeSession(maxContext: 256, maxBatch: 64), tokenizer: tok).generate(prompt: next, options: options)
        XCTAssertEqual(try XCTUnwrap(result).tokens, alone.tokens, "with its prefix reused, the turn decodes as it does alone")
    }

    /// Chats that start with the same system prompt: a request arriving while another is still
    /// prefilling or decoding copies the positions it shares with it from that slot instead of
    /// prefilling them, and both decode as they do alone.
    func testAPromptSharingARunningSequencesPrefixCopiesItAndDecodesTheSame() throws {
        let (file, tok) = try smolLM2()
        let model = try Engine.loadModel(file, type: .native)
        let template = try ChatTemplate(template: tok.vocab.chatTemplate)
        let system = "You answer questions about the weather, the sea and the mountains of Norway, briefly and "
            + "politely, in plain English, and you never make up a number you do not know."
        func chat(_ question: String) -> [Int32] {
            template.encode([.init(role: "system", content: system), .init(role: "user", content: question)], with: tok)
        }
        let prompts = [chat("Is it cold in Bergen in May?"), chat("How deep is the Sognefjord?"), chat("Name a mountain.")]
        var shared = 0
        while prompts[0][shared] == prompts[1][shared] { shared += 1 }
        XCTAssertGreaterThan(shared, 32, "the shared prefix spans more than one prefill chunk")
        let options = [GenerationOptions(maxTokens: 20, stopAtEOS: true), GenerationOptions(maxTokens: 14, stopAtEOS: true),
                       { var o = GenerationOptions(maxTokens: 16, stopAtEOS: true)
                         o.sampling = try! SamplingParams(temperature: 0.9, topK: 40, topP: 0.95, minP: 0, seed: 7)
                         return o }()]
        let alone = try (0..<3).map { i in
            try Generator(model: model.makeSession(maxContext: 256, maxBatch: 64), tokenizer: tok).generate(prompt: prompts[i], options: options[i]).tokens
        }
        // Plain batching, and with every guess of prompt lookup fed: a copy's source may have been speculating.
        for draft in [nil, BatchDraft.lookup] {
            let b = BatchDecoder(model: model, tokenizer: tok, slots: 3, context: 256, draft: draft)
            if draft != nil { b.cost = Self.flatCost }
            var answers = [[Int32]?](repeating: nil, count: 3)
            func add(_ i: Int) throws {
                _ = try b.add(prompt: prompts[i], options: options[i], onText: { _ in true }, done: { answers[i] = try! $0.get().tokens })
            }
            try add(0)
            b.step()  // the first 32 prompt positions are written
            try add(1)  // copies those 32 and prefills the rest
            XCTAssertEqual(b.prefixCopies, 1)
            XCTAssertEqual(b.prefixTokensReused, 32)
            while b.hasPromptLeft { b.step() }
            for _ in 0..<3 { b.step() }
            try add(2)  // copies the whole shared prefix from a decoding sequence
            XCTAssertEqual(b.prefixCopies, 2)
            XCTAssertEqual(b.prefixTokensReused, 32 + shared)
            while !b.isIdle { b.step() }
            if draft != nil { XCTAssertGreaterThan(b.draftedTokens, 0, "no guess was fed") }
            for i in 0..<3 {
                XCTAssertEqual(try XCTUnwrap(answers[i]), alone[i], "request \(i) decodes as it does alone (draft: \(String(describing: draft)))")
            }
        }
    }

    /// `--mode ar --lookup` (the q4-fast preset) decodes through a one-slot batch that feeds prompt lookup's
    /// guesses: each request, twice over (the batch is kept between requests), gives plain decoding's tokens.
    func testArWithLookupGivesPlainDecodingsTokens() throws {
        let path: String
        do { path = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        var config = EngineConfiguration()
        config.modelPath = path
        config.targetType = .native
        config.threads = 2
        config.context = 512
        let engine = try Engine(config)
        let reqs = requests(engine.tokenizer)
        var spec = DecoderSpec()
        try Knobs.parse(arguments: ["--lookup"], into: &spec)
        let plain = try engine.decoder(DecoderSpec()).decoder
        let guessing = try engine.decoder(spec).decoder
        // Every guess is fed, whatever this machine's forwards cost.
        try XCTUnwrap(engine.lookupBatch).cost = Self.flatCost
        var drafted = 0
        for _ in 0..<2 {
            for (i, r) in reqs.enumerated() {
                let want = try plain.decode(prompt: r.prompt, options: r.options) { _ in true }
                var streamed = ""
                let got = try guessing.decode(prompt: r.prompt, options: r.options) { streamed += $0; return true }
                XCTAssertEqual(got.tokens, want.tokens, "request \(i): ar with lookup differs from plain decoding")
                XCTAssertEqual(got.text, want.text, "request \(i)")
                XCTAssertEqual(streamed, got.text, "request \(i)")
                drafted += got.stats.speculative?.drafted ?? 0
            }
        }
        XCTAssertGreaterThan(drafted, 0, "no request fed a guess, so the guessing path went untested")
    }
}
