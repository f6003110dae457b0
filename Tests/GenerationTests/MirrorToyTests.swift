import Generation
import TestSupport
import Tokenizer
import XCTest

final class MirrorToyTests: XCTestCase {
    var tokenizer: Tokenizer { ToyVocabulary.standard }
    let prompt: [Int32] = [1, 2, 3]

    func greedy(_ seed: UInt64, n: Int) throws -> [Int32] {
        try Generator(model: ToyLM(seed: seed), tokenizer: tokenizer).generate(prompt: prompt, options: GenerationOptions(maxTokens: n)).tokens
    }

    func mirror(target: ToyLM, draft: ToyLM, n: Int, _ options: MirrorOptions, sampling: SamplingParams = .greedy,
                stopAtEOS: Bool = false) throws -> MirrorResult {
        let dec = MirrorDecoder(target: target, draft: draft, tokenizer: tokenizer)
        dec.traceKV = true
        let r = try dec.generate(prompt: prompt, options: GenerationOptions(maxTokens: n, sampling: sampling, stopAtEOS: stopAtEOS),
                                 mirror: options)
        // After every round: target KV = committed − 1 (the newest token is the next input), draft
        // committed = committed (it has fed it), on every round both sides saw.
        XCTAssertEqual(r.draftTrace.count, r.targetTrace.count, "traces: target \(r.targetTrace.map { $0.committed }) draft \(r.draftTrace) \(options)")
        for (i, t) in r.targetTrace.enumerated() {
            XCTAssertEqual(t.targetKV, t.committed - 1, "round \(i)")
            if i < r.draftTrace.count { XCTAssertEqual(r.draftTrace[i], t.committed, "draft, round \(i)") }
        }
        return r
    }

    func testGreedyMirrorEqualsPlainGreedyOverSettingsAndDrafts() throws {
        let want = try greedy(7, n: 50)
        for fallback in FallbackPolicy.allCases {
            for (gamma, kappa, exit) in [(1, 1, 2), (3, 2, 2), (4, 0, 2), (4, 3, 1), (6, 4, 3)] {
                for (agreement, swap) in [(1.0, false), (0.6, false), (0.6, true), (0.0, false)] {
                    for (ownBranch, runnerUps, adaptive, budget) in [(true, 0, false, true), (true, 2, false, true), (true, 2, false, false),
                                                                     (false, 0, false, true), (true, 0, true, true)] {
                        let target = ToyLM(seed: 7), draft = ToyLM(seed: 7, agreement: agreement, swapOnDisagree: swap)
                        target.proxyNoise = 1.5
                        var o = MirrorOptions(gamma: gamma, kappa: kappa, exitLayer: exit, fallback: fallback, pinThreads: false)
                        o.draftBonus = ownBranch
                        o.runnerUps = min(runnerUps, gamma + 1)
                        o.adaptiveGamma = adaptive
                        o.branchBudget = budget
                        let r = try mirror(target: target, draft: draft, n: 50, o)
                        let what = "\(fallback) γ=\(gamma) κ=\(kappa) ℓe=\(exit) agreement \(agreement) swap \(swap) own branch \(ownBranch) runner-ups \(runnerUps) adaptive \(adaptive) budget \(budget)"
                        XCTAssertEqual(r.tokens, want, what)
                        XCTAssertEqual(r.stats.reused + r.stats.fallbacks, r.stats.roundsByAcceptance.reduce(0, +), what)
                        XCTAssertLessThanOrEqual(r.stats.ownReused, r.stats.reused, what)
                        if !ownBranch { XCTAssertEqual(r.stats.ownBranches, 0, what) }
                        if kappa == 0 && !ownBranch { XCTAssertEqual(r.stats.reused, 0, what) }
                    }
                }
            }
        }
    }

    func testPerfectProxyAndAgreeingDraftReusesEveryBranch() throws {
        let target = ToyLM(seed: 3), draft = ToyLM(seed: 3, agreement: 0.5)
        // Every branch must roll whatever the timing (here: no latency at all, and under TSan slow
        // and uneven), so the budget, which declines rows by measured time, is off.
        var o = MirrorOptions(gamma: 3, kappa: 1, exitLayer: 2, pinThreads: false)
        o.branchBudget = false
        let r = try mirror(target: target, draft: draft, n: 60, o)
        XCTAssertEqual(r.tokens, try greedy(3, n: 60))
        XCTAssertEqual(r.stats.omega, 1, "a noise-free proxy always holds the correction")
        XCTAssertEqual(r.stats.fallbacks, 0)
        XCTAssertGreaterThan(r.stats.reused, 5)
    }

    /// Regression (found by the 8k-context soak run): near a full context the draft skipped its branch
    /// rollout after naming the branches, and a verdict matching an unrolled branch then committed a
    /// stale tree node ("tree row 11 has an invalid parent 2"). Every context length near γ's reach;
    /// both speculative decoders also stopped one token before plain decoding at a full context.
    func testContextFullWithBranchesNamedStopsCleanly() throws {
        for ctx in 20...34 {
            for ownBranch in [true, false] {
                let want = try Generator(model: ToyLM(maxContext: ctx, seed: 7), tokenizer: tokenizer)
                    .generate(prompt: prompt, options: GenerationOptions(maxTokens: 100)).tokens
                let target = ToyLM(maxContext: ctx, seed: 7), draft = ToyLM(maxContext: ctx, seed: 7, agreement: 0.8)
                target.proxyNoise = 0.3
                var o = MirrorOptions(gamma: 4, kappa: 2, exitLayer: 2, pinThreads: false)
                o.draftBonus = ownBranch
                let r = try mirror(target: target, draft: draft, n: 100, o)
                XCTAssertEqual(r.tokens, want, "context \(ctx), own branch \(ownBranch)")
                XCTAssertEqual(r.stopReason, .contextFull, "context \(ctx)")
                let sd = try SerialSpeculativeDecoder(target: ToyLM(maxContext: ctx, seed: 7), draft: ToyLM(maxContext: ctx, seed: 7, agreement: 0.8),
                                                      tokenizer: tokenizer)
                    .generate(prompt: prompt, options: GenerationOptions(maxTokens: 100), speculative: SpeculativeOptions(gamma: 4))
                XCTAssertEqual(sd.tokens, want, "sd, context \(ctx)")
                XCTAssertEqual(sd.stopReason, .contextFull, "sd, context \(ctx)")
            }
        }
    }

    /// With no early exit at all (κ = 0), the draft's own bonus-guess branch alone must be reused
    /// whenever a fully agreeing draft's whole window is accepted.
    func testOwnBonusBranchIsReusedWithoutAnyEarlyExit() throws {
        let target = ToyLM(seed: 3), draft = ToyLM(seed: 3)
        target.latency = 0.004  // time for the draft's own branch to finish before the verdict
        let r = try mirror(target: target, draft: draft, n: 40, MirrorOptions(gamma: 3, kappa: 0, exitLayer: 2, pinThreads: false))
        XCTAssertEqual(r.tokens, try greedy(3, n: 40))
        XCTAssertGreaterThan(r.stats.ownBranches, 0)
        XCTAssertEqual(r.stats.ownReused, r.stats.reused, "with κ = 0 every reuse is the own branch")
        XCTAssertGreaterThanOrEqual(r.stats.reused, r.stats.rounds - 1, "an agreeing draft's own guess always holds the bonus token")
    }

    func testRunnerUpBranchesTakeReuseFromLowToHigh() throws {
        // A draft that, where it disagrees, has the target's token as its second choice: without
        // runner-up branches only fully accepted windows with a right bonus guess are reused; with a
        // runner-up branch at every slot, every verdict finds its branch (the target's scripted time
        // leaves the fast draft room to roll them all, with the branch budget on, as by default).
        let want = try greedy(7, n: 48)
        var reuse: [Double] = []
        for r in [0, 4] {
            let target = ToyLM(seed: 7), draft = ToyLM(seed: 7, agreement: 0.6, swapOnDisagree: true)
            target.latency = 0.004
            var o = MirrorOptions(gamma: 3, kappa: 0, exitLayer: 2, pinThreads: false)
            o.runnerUps = r
            let m = try mirror(target: target, draft: draft, n: 48, o)
            XCTAssertEqual(m.tokens, want, "runner-ups \(r)")
            XCTAssertEqual(m.stats.ownReused + m.stats.runnerUpReused, m.stats.reused, "κ = 0: own and runner-up branches only")
            XCTAssertEqual(m.stats.reuses(from: .runnerUp).reduce(0, +), m.stats.runnerUpReused)
            if r == 0 { XCTAssertEqual(m.stats.runnerUpBranches, 0) }
            reuse.append(m.stats.reuseRate)
        }
        XCTAssertLessThan(reuse[0], 0.5, "the own guess alone holds few verdicts of a 60 % draft")
        XCTAssertGreaterThan(reuse[1], 0.9, "a runner-up branch at every slot holds nearly every verdict")
    }

    /// A draft whose tree forwards cost a scripted time per row, behind a target whose verification
    /// takes about three such rows: with κ = 3 at every slot a branch step would take 12 rows. The
    /// budget leaves the rows that would run past the verdict; without it every branch rolls. The
    /// output is the target's either way.
    func testBranchBudgetDeclinesRowsThatWouldRunPastTheVerdict() throws {
        let want = try greedy(5, n: 40)
        var declined: [Int] = []
        for budget in [true, false] {
            let target = ToyLM(seed: 5), draft = ToyLM(seed: 5, agreement: 0.7)
            target.latency = 0.006
            target.proxyNoise = 1
            draft.rowLatency = 0.002
            var o = MirrorOptions(gamma: 3, kappa: 3, exitLayer: 1, pinThreads: false)
            o.branchBudget = budget
            let r = try mirror(target: target, draft: draft, n: 40, o)
            XCTAssertEqual(r.tokens, want, "budget \(budget)")
            XCTAssertEqual(r.stats.reused + r.stats.fallbacks, r.stats.roundsByAcceptance.reduce(0, +))
            declined.append(r.stats.budgetDeclinedRows)
        }
        XCTAssertGreaterThan(declined[0], 0, "12-row steps do not fit a 3-row verification")
        XCTAssertEqual(declined[1], 0, "without the budget nothing is declined")
    }

    func testScriptedLatenciesDriveReuseAndFallback() throws {
        let want = try greedy(11, n: 30)
        // Draft slower than the target's suffix: verdicts land mid-rollout, and only the needed branch
        // is finished (or none, and the draft falls back).
        let slowDraft = ToyLM(seed: 11, agreement: 0.5)
        slowDraft.latency = 0.004
        let fastTarget = ToyLM(seed: 11)
        fastTarget.latency = 0.002
        fastTarget.proxyNoise = 1
        let a = try mirror(target: fastTarget, draft: slowDraft, n: 30, MirrorOptions(gamma: 4, kappa: 2, exitLayer: 1, pinThreads: false))
        XCTAssertEqual(a.tokens, want)
        XCTAssertGreaterThan(a.stats.targetWaitSeconds, 0, "a slow draft is exposed")
        // Draft faster than the suffix: branches complete before the verdict; the draft then idles.
        let fastDraft = ToyLM(seed: 11, agreement: 0.5)
        let slowTarget = ToyLM(seed: 11)
        slowTarget.latency = 0.008
        slowTarget.proxyNoise = 1
        let b = try mirror(target: slowTarget, draft: fastDraft, n: 30, MirrorOptions(gamma: 4, kappa: 2, exitLayer: 1, pinThreads: false))
        XCTAssertEqual(b.tokens, want)
        XCTAssertGreaterThan(b.stats.reused, 0)
        XCTAssertGreaterThan(b.stats.fallbacks, 0)
        XCTAssertGreaterThan(b.stats.draftIdleSeconds, 0)
        XCTAssertEqual(b.stats.reused + b.stats.fallbacks, b.stats.roundsByAcceptance.reduce(0, +))
    }

    /// A caller that stops taking text ends the generation at once: the stop reason says so, what was
    /// committed is a prefix of the greedy output, and the workers are joined (a second run works).
    func testCallerStoppingEndsTheGenerationWithAPrefix() throws {
        let want = try greedy(13, n: 60)
        let draft = ToyLM(seed: 13, agreement: 0.7)
        draft.latency = 0.001
        let dec = MirrorDecoder(target: ToyLM(seed: 13), draft: draft, tokenizer: tokenizer)
        for stopAfter in [1, 3, 7] {
            var pieces = 0
            let r = try dec.generate(prompt: prompt, options: GenerationOptions(maxTokens: 60),
                                     mirror: MirrorOptions(gamma: 4, kappa: 2, exitLayer: 2, pinThreads: false)) { _ in
                pieces += 1
                return pieces < stopAfter
            }
            XCTAssertEqual(r.stopReason, .callerStopped, "stop after \(stopAfter) pieces")
            XCTAssertLessThan(r.tokens.count, want.count)
            XCTAssertEqual(Array(want.prefix(r.tokens.count)), r.tokens)
        }
        let whole = try dec.generate(prompt: prompt, options: GenerationOptions(maxTokens: 60),
                                     mirror: MirrorOptions(gamma: 4, kappa: 2, exitLayer: 2, pinThreads: false))
        XCTAssertEqual(whole.tokens, want)
    }

    /// The adaptive γ on scripted latencies: behind a slow target an agreeing draft gets long windows,
    /// and a draft slower than the target gets short ones; the output is the target's either way.
    func testAdaptiveGammaFollowsTheScriptedLatencies() throws {
        let want = try greedy(11, n: 60)
        var o = MirrorOptions(gamma: 8, kappa: 0, exitLayer: 1, pinThreads: false)
        o.adaptiveGamma = true
        let slowTarget = ToyLM(seed: 11)
        slowTarget.latency = 0.008
        let a = try mirror(target: slowTarget, draft: ToyLM(seed: 11), n: 60, o)
        let fastTarget = ToyLM(seed: 11)
        fastTarget.latency = 0.002
        let slowDraft = ToyLM(seed: 11)
        slowDraft.latency = 0.004
        let b = try mirror(target: fastTarget, draft: slowDraft, n: 60, o)
        XCTAssertEqual(a.tokens, want)
        XCTAssertEqual(b.tokens, want)
        // Each window length below the first is tried about once before the measured flat cost wins.
        XCTAssertGreaterThan(a.stats.meanAdaptiveGamma, 4, "an agreeing draft that costs nothing: long windows")
        XCTAssertLessThan(b.stats.meanAdaptiveGamma, 3, "each draft token costs twice a verification: short windows")
    }

    func testEndOfSequenceMidWindowStopsBothWorkers() throws {
        // The token budget ends inside a window (n not a multiple of γ + 1): both workers must stop.
        for n in [1, 2, 5, 13] {
            let r = try mirror(target: ToyLM(seed: 5), draft: ToyLM(seed: 5), n: n, MirrorOptions(gamma: 4, kappa: 2, exitLayer: 2, pinThreads: false))
            XCTAssertEqual(r.tokens, try greedy(5, n: n))
            XCTAssertEqual(r.stopReason, .maxTokens)
        }
    }

    func testSampledMirrorMatchesTheTargetDistribution() throws {
        try sampledMirrorMatchesTheTargetDistribution(MirrorOptions(gamma: 1, kappa: 3, exitLayer: 2, pinThreads: false)) {
            ToyLM(vocabSize: 6, seed: 6, sharpness: 2, agreement: 0.7)
        }
    }

    /// The same law when the reused branches are the draft's own and its runner-ups (no early exit),
    /// from a draft near the target, so that they often hold the verdict.
    func testSampledMirrorWithRunnerUpBranchesMatchesTheTargetDistribution() throws {
        var o = MirrorOptions(gamma: 1, kappa: 0, exitLayer: 2, pinThreads: false)
        o.runnerUps = 2
        try sampledMirrorMatchesTheTargetDistribution(o, minReusedShare: 50) {
            ToyLM(vocabSize: 6, seed: 5, sharpness: 6, agreement: 0.3, swapOnDisagree: true)
        }
    }

    /// A second window exists only after a rejection at the first slot (3 tokens in all), so a draft
    /// near the target reuses less often: `minReusedShare` is runs over the least number of reuses.
    func sampledMirrorMatchesTheTargetDistribution(_ options: MirrorOptions, minReusedShare: Int = 10, draft: () -> ToyLM) throws {
        let v = 6, runs = 20_000
        let params = try SamplingParams(temperature: 1)
        // Tokens 2 and 3: with γ = 1 the second window is a prepared branch whenever a branch held the
        // first verdict's token, so reused branches are sampled here, not only fresh rollouts.
        let exact: [Double] = try exactJointOfSecondAndThird(ToyLM(vocabSize: v, seed: 5, sharpness: 2), prompt: prompt, params: params, v: v)
        var counts = [Int](repeating: 0, count: v * v)
        var reused = 0, runnerUpReused = 0
        for run in 0..<runs {
            var p = params
            p.seed = UInt64(run)
            let target = ToyLM(vocabSize: v, seed: 5, sharpness: 2)
            target.proxyNoise = 0.5
            let dec = MirrorDecoder(target: target, draft: draft(), tokenizer: tokenizer)
            let r = try dec.generate(prompt: prompt, options: GenerationOptions(maxTokens: 3, sampling: p, stopAtEOS: false), mirror: options)
            counts[Int(r.tokens[1]) * v + Int(r.tokens[2])] += 1
            reused += r.stats.reused
            runnerUpReused += r.stats.runnerUpReused
        }
        let (chi2, df, pValue) = chiSquare(counts: counts, probabilities: exact, n: runs)
        var tv = 0.0
        for i in 0..<counts.count { tv += abs(Double(counts[i]) / Double(runs) - exact[i]) / 2 }
        print(String(format: "Mirror-SD sampling (tokens 2-3): chi2 = %.1f, df = %d, p = %.3f, total variation %.4f, reused branches in %d of %d runs (%d runner-ups)",
                     chi2, df, pValue, tv, reused, runs, runnerUpReused))
        XCTAssertGreaterThan(reused, runs / minReusedShare, "the test must exercise reused branches")
        if options.runnerUps > 0 { XCTAssertGreaterThan(runnerUpReused, runs / 100, "the test must exercise reused runner-up branches") }
        XCTAssertGreaterThan(pValue, 0.001)
        XCTAssertLessThan(tv, 0.03)
    }
}

extension MirrorToyTests {
    func testDraftPMinTruncatedRolloutsAndLookupDraftStayLossless() throws {
        let want = try greedy(9, n: 60)
        for (pmin, fromEnd) in [(Float(0.12), false), (0.2, true), (0.5, true)] {
            var o = MirrorOptions(gamma: 4, kappa: 2, exitLayer: 2, branchPositions: 2, pinThreads: false)
            o.draftPMin = pmin
            o.branchFromEnd = fromEnd
            let target = ToyLM(seed: 9)
            target.proxyNoise = 1
            let r = try mirror(target: target, draft: ToyLM(seed: 9, agreement: 0.7), n: 60, o)
            XCTAssertEqual(r.tokens, want, "p-min \(pmin)")
        }
        // Prompt lookup, alone and in front of a toy model, under SD and Mirror-SD (with a proxy
        // vocabulary smaller than the whole).
        let repetitive: [Int32] = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]
        let plain = try Generator(model: ToyLM(seed: 2, order: 1), tokenizer: tokenizer)
            .generate(prompt: repetitive, options: GenerationOptions(maxTokens: 40)).tokens
        for hybrid in [false, true] {
            let draft = { LookupDraft(vocabSize: 16, maxContext: 4096, fallback: hybrid ? ToyLM(seed: 2, order: 1, agreement: 0.5) : nil) }
            let sd = try SerialSpeculativeDecoder(target: ToyLM(seed: 2, order: 1), draft: draft(), tokenizer: tokenizer)
                .generate(prompt: repetitive, options: GenerationOptions(maxTokens: 40), speculative: SpeculativeOptions(gamma: 4, draftPMin: 0.5))
            XCTAssertEqual(sd.tokens, plain, "SD, hybrid \(hybrid)")
            var o = MirrorOptions(gamma: 4, kappa: 2, exitLayer: 2, pinThreads: false)
            o.draftPMin = 0.5
            o.proxyVocab = 8
            let target = ToyLM(seed: 2, order: 1)
            target.proxyNoise = 0.5
            let m = try MirrorDecoder(target: target, draft: draft(), tokenizer: tokenizer)
                .generate(prompt: repetitive, options: GenerationOptions(maxTokens: 40), mirror: o)
            XCTAssertEqual(m.tokens, plain, "Mirror, hybrid \(hybrid)")
        }
    }
}

extension MirrorToyTests {
    func testTimelineHasBothLanesWithOrderedNonOverlappingSpans() throws {
        let target = ToyLM(seed: 4), draft = ToyLM(seed: 4, agreement: 0.6)
        target.latency = 0.001
        target.proxyNoise = 1
        let dec = MirrorDecoder(target: target, draft: draft, tokenizer: tokenizer)
        dec.traceTimeline = true
        let r = try dec.generate(prompt: prompt, options: GenerationOptions(maxTokens: 30),
                                 mirror: MirrorOptions(gamma: 3, kappa: 2, exitLayer: 2, pinThreads: false))
        let t = try XCTUnwrap(r.timeline)
        for (name, lane) in [("target", t.target), ("draft", t.draft)] {
            XCTAssertGreaterThan(lane.count, 5, name)
            for (a, b) in zip(lane, lane.dropFirst()) {
                XCTAssertLessThanOrEqual(a.start, a.end, name)
                XCTAssertLessThanOrEqual(a.end, b.start + 1e-9, "\(name): \(a.name) overlaps \(b.name)")
            }
        }
        XCTAssertTrue(t.target.contains { $0.name == "verify prefix" } && t.target.contains { $0.name == "verify suffix" })
        XCTAssertTrue(t.draft.contains { $0.name == "branches" } && t.draft.contains { $0.name == "wait verdict" })
        let json = try JSONSerialization.jsonObject(with: t.chromeTrace()) as! [String: Any]
        let events = json["traceEvents"] as! [[String: Any]]
        XCTAssertEqual(Set(events.compactMap { $0["tid"] as? Int }), [1, 2])
        XCTAssertEqual(events.filter { ($0["ph"] as? String) == "X" }.count, t.target.count + t.draft.count)
        XCTAssertTrue(t.svg().contains("<rect"))
    }
}

extension MirrorToyTests {
    /// A target whose logits turn NaN mid-generation stops every decoder with a clear error, never a
    /// silent token: in prefill, in one-token steps, and in the verification of a window.
    func testNonFiniteLogitsStopEveryDecoder() throws {
        for start in [2, 6] {  // in the prompt's logits, then after a few generated tokens
            let options = GenerationOptions(maxTokens: 12)
            func expectNaNError(_ what: String, _ body: () throws -> Void) {
                XCTAssertThrowsError(try body(), "\(what), NaN from \(start) tokens") { e in
                    guard case GenerationError.nonFiniteLogits = e else { return XCTFail("\(what): \(e)") }
                    XCTAssertTrue("\(e)".contains("non-finite"), "\(e)")
                }
            }
            let t = ToyLM(seed: 3); t.nanAfter = start
            expectNaNError("ar") { _ = try Generator(model: t, tokenizer: tokenizer).generate(prompt: prompt, options: options) }
            let t2 = ToyLM(seed: 3); t2.nanAfter = start
            expectNaNError("sd") {
                _ = try SerialSpeculativeDecoder(target: t2, draft: ToyLM(seed: 3), tokenizer: tokenizer)
                    .generate(prompt: prompt, options: options, speculative: SpeculativeOptions(gamma: 3))
            }
            let t3 = ToyLM(seed: 3); t3.nanAfter = start
            expectNaNError("mirror") {
                _ = try MirrorDecoder(target: t3, draft: ToyLM(seed: 3), tokenizer: tokenizer)
                    .generate(prompt: prompt, options: options, mirror: MirrorOptions(gamma: 3, kappa: 1, exitLayer: 2, pinThreads: false))
            }
        }
    }
}
