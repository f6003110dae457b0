import Engine
import Generation
import XCTest

/// The table of knobs: each edge's spelling reaches the same field, ranges and relations are checked
/// once, and errors name the knob so each edge can spell it.
final class KnobsTests: XCTestCase {
    func spec(_ args: [String]) throws -> DecoderSpec {
        var s = DecoderSpec()
        try Knobs.parse(arguments: args, into: &s)
        return s
    }

    func error(_ body: () throws -> Void) -> KnobError? {
        do { try body() } catch let e as KnobError { return e } catch { XCTFail("unexpected \(error)") }
        return nil
    }

    func testEveryKnobIsDeclaredOnceWithDistinctSpellings() {
        let names = Knobs.all.map(\.name), keys = Knobs.all.compactMap(\.json), suffixes = Knobs.all.compactMap(\.suffixText)
        XCTAssertEqual(Set(names).count, names.count)
        XCTAssertEqual(Set(keys).count, keys.count)
        XCTAssertEqual(Set(suffixes).count, suffixes.count)
        for k in Knobs.all {
            XCTAssertFalse(k.help.isEmpty, k.name)
            XCTAssertFalse(k.defaultText.isEmpty, k.name)
            XCTAssertTrue(k.help.first!.isLowercase || k.help.first!.isNumber || k.help.hasPrefix("ar"), "\(k.name): help reads on after the flag")
        }
        // One Markdown row a knob, and the help lists every flag.
        XCTAssertEqual(Knobs.markdown().split(separator: "\n").count, Knobs.all.count + 2)
        for k in Knobs.all { XCTAssertTrue(Knobs.helpText().contains(k.flag), k.name) }
    }

    func testCommandLineFlagsReachTheirFields() throws {
        let s = try spec(["--mode", "mirror", "--draft", "small", "--lookup", "--gamma=6", "--draft-min", "2", "--draft-p-min", "0.25",
                          "--kappa", "3", "--exit-layer", "20", "--runner-ups", "1", "--branch-positions", "2", "--branch-from-end",
                          "--fallback", "step", "--no-pin", "--no-draft-bonus", "--adaptive-gamma", "--no-branch-budget",
                          "--proxy-vocab", "0", "--exit-lens", "none"])
        XCTAssertEqual(s.mode, .mirror)
        XCTAssertEqual(s.draftName, "small+lookup")
        XCTAssertEqual(s.gamma, 6)
        XCTAssertEqual(s.draftMin, 2)
        XCTAssertEqual(s.draftPMin, 0.25)
        XCTAssertEqual(s.kappa, 3)
        XCTAssertEqual(s.exitLayer, 20)
        XCTAssertEqual(s.runnerUps, 1)
        XCTAssertEqual(s.branchPositions, 2)
        XCTAssertTrue(s.branchFromEnd)
        XCTAssertEqual(s.fallback, .plainStep)
        XCTAssertFalse(s.pinThreads)
        XCTAssertFalse(s.draftBonus)
        XCTAssertTrue(s.adaptiveGamma)
        XCTAssertFalse(s.branchBudget)
        XCTAssertEqual(s.proxyVocab, 0)
        XCTAssertEqual(s.exitLens, "none")
        XCTAssertNoThrow(try s.check(layers: 30))
        // The last of repeated flags wins, as a preset's flags are overridden by the user's.
        XCTAssertEqual(try spec(["--gamma", "3", "--gamma", "5"]).gamma, 5)
    }

    func testRangesAndTypesAreCheckedPerKnob() {
        XCTAssertEqual(error { _ = try spec(["--gamma", "0"]) }, KnobError("gamma", "must be in 1...32, got 0"))
        XCTAssertEqual(error { _ = try spec(["--gamma", "four"]) }, KnobError("gamma", "must be an integer, got 'four'"))
        XCTAssertEqual(error { _ = try spec(["--gamma"]) }, KnobError("gamma", "needs a value"))
        XCTAssertEqual(error { _ = try spec(["--draft-p-min", "1"]) }?.knob, "draft-p-min")
        XCTAssertEqual(error { _ = try spec(["--draft-p-min", "nan"]) }?.knob, "draft-p-min")
        XCTAssertEqual(error { _ = try spec(["--mode", "warp"]) }, KnobError("mode", "must be one of ar, sd, mirror, got 'warp'"))
        XCTAssertEqual(error { _ = try spec(["--fallback", "run"]) }?.knob, "fallback")
        XCTAssertEqual(error { _ = try spec(["--draft", ""]) }?.knob, "draft")
        XCTAssertEqual(error { _ = try spec(["--gama", "3"]) }?.cli, "--gama is not an option (did you mean --gamma?)")
        XCTAssertEqual(error { _ = try spec(["3"]) }?.message, "is not an option here (a decoding option is --NAME VALUE)")
        XCTAssertEqual(KnobError("gamma", "must be in 1...32, got 0").cli, "--gamma must be in 1...32, got 0")
    }

    func testRelationsAreCheckedOnTheWholeSpec() {
        func check(_ args: [String], layers: Int = 30) -> KnobError? { error { try spec(args).check(layers: layers) } }
        XCTAssertEqual(check(["--mode", "mirror", "--gamma", "20"]), KnobError("gamma", "must be in 1...16 for mirror, got 20"))
        XCTAssertNil(check(["--mode", "sd", "--gamma", "20"]))
        XCTAssertEqual(check(["--gamma", "3", "--draft-min", "4"])?.knob, "draft-min")
        XCTAssertEqual(check(["--gamma", "3", "--runner-ups", "5"]), KnobError("runner-ups", "must be in 0...gamma+1 (4), got 5"))
        XCTAssertEqual(check(["--gamma", "3", "--branch-positions", "5"])?.knob, "branch-positions")
        XCTAssertEqual(check(["--exit-layer", "30"]), KnobError("exit-layer", "must be below the target's 30 layers, got 30"))
        XCTAssertNil(check(["--exit-layer", "29"]))
        XCTAssertEqual(check(["--mode", "sd", "--draft", "lookup", "--lookup"])?.knob, "lookup")
        XCTAssertNil(check(["--lookup"]), "ar with lookup feeds its guesses; there is no model draft to put it in front of")
    }

    func testBenchSuffixesSetTheSameFields() throws {
        var s = DecoderSpec(mode: .mirror)
        try Knobs.parse(suffixes: "@small+lookup*3^0~2#18!raw!nobudget!adaptive!nobonus", into: &s)
        XCTAssertEqual(s.draftName, "small+lookup")
        XCTAssertEqual(s.gamma, 3)
        XCTAssertEqual(s.kappa, 0)
        XCTAssertEqual(s.runnerUps, 2)
        XCTAssertEqual(s.exitLayer, 18)
        XCTAssertEqual(s.exitLens, "none")
        XCTAssertFalse(s.branchBudget)
        XCTAssertTrue(s.adaptiveGamma)
        XCTAssertFalse(s.draftBonus)
        // Any order gives the same spec.
        var t = DecoderSpec(mode: .mirror)
        try Knobs.parse(suffixes: "!nobonus#18~2!adaptive^0!raw*3!nobudget@small+lookup", into: &t)
        XCTAssertEqual(s, t)
        var sd = DecoderSpec(mode: .sd)
        XCTAssertEqual(error { try Knobs.parse(suffixes: "^2", into: &sd) }, KnobError("kappa", "is for mirror methods"))
        XCTAssertEqual(error { try Knobs.parse(suffixes: "!fast", into: &sd) }?.knob, "!fast")
    }

    func testRequestsUseTheirKeysAndNeverNameAServerFile() throws {
        let base = DecoderSpec(mode: .mirror)
        let s = try base.with([("gamma", .int(6)), ("adaptive-gamma", .bool(true)), ("draft-p-min", .number(0.3))], layers: 30, request: true)
        XCTAssertEqual(s.gamma, 6)
        XCTAssertTrue(s.adaptiveGamma)
        XCTAssertEqual(s.draftPMin, 0.3)
        XCTAssertEqual(Knobs.json("exit_layer")?.name, "exit-layer")
        XCTAssertNil(Knobs.json("pin"), "thread placement is the server's, not a request's")
        XCTAssertEqual(error { _ = try base.with([("exit-lens", .text("/etc/passwd"))], layers: 30, request: true) },
                       KnobError("exit-lens", "must be one of auto, none, got '/etc/passwd'"))
        XCTAssertEqual(error { _ = try base.with([("gamma", .number(2.5))], layers: 30, request: true) },
                       KnobError("gamma", "must be an integer, got 2.5"))
        XCTAssertEqual(error { _ = try base.with([("branch-budget", .int(1))], layers: 30, request: true) }?.knob, "branch-budget")
        // The base is left as it was.
        XCTAssertEqual(base.gamma, Defaults.gamma)
    }
}
