import ArgumentParser
import Engine
import Foundation
import Generation

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Profile a Mirror-SD generation: per-layer and per-op time of target and draft, and a timeline of both workers.",
        discussion: """
            Writes the timeline as Chrome trace-event JSON (open it in Perfetto or chrome://tracing) and as an \
            SVG of the two lanes over the first --steps rounds after prefill. Greedy, fp32 target, --mode mirror.

            \(Knobs.helpText())
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var promptOptions: PromptOptions
    @OptionGroup var decoding: DecodingFlags
    @OptionGroup var draftType: DraftTypeOption
    @Option(name: [.short, .customLong("max-tokens")], help: "Tokens to generate.") var n: Int = 64
    @Option(help: "Chrome trace output.") var trace: String = "profile-trace.json"
    @Option(help: "SVG timeline output.") var svg: String = "profile-timeline.svg"
    @Option(help: "Rounds shown in the SVG (after prefill).") var steps: Int = 6
    @Option(help: "Context size (default: the model's, at most 4096).") var ctx: Int?
    @Flag(help: "Print the per-layer and per-op figures as JSON instead of tables.") var json = false

    func validate() throws {
        guard n >= 1 else { throw ValidationError("-n must be at least 1") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
    }

    func run() throws {
        var config = EngineConfiguration()
        config.modelPath = modelOptions.model
        config.context = ctx
        config.draftType = draftType.draftType
        let engine = try Engine(config)
        let spec = try decoding.spec(DecoderSpec(mode: .mirror))
        guard spec.mode == .mirror else { throw ValidationError("profile runs --mode mirror") }
        let prepared = try engine.decoder(spec)
        let targetProfile = OpProfile(layers: engine.model.config.layers)
        engine.target.opProfile = targetProfile
        let draftSession = prepared.draft?.session
        let draftProfile = draftSession.map { OpProfile(layers: $0.config.layers) }
        draftSession?.opProfile = draftProfile
        let prompt = try promptOptions.tokens(engine.tokenizer)
        try engine.checkPrompt(prompt)
        let options = GenerationOptions(maxTokens: n, sampling: .greedy, stopAtEOS: false)
        let mirror = prepared.decoder as! MirrorDecoding
        mirror.decoder.traceTimeline = true
        let r = try mirror.decoder.generate(prompt: prompt, options: options, mirror: mirror.options)
        let timeline = r.timeline!
        let cpus = mirror.options.pinnedCPUs
        let lanes = (target: "target (\(engine.configuration.targetType.rawValue)\(cpus.map { ", CPU \($0.target)" } ?? ""))",
                     draft: "draft (\(prepared.draftType ?? "lookup")\(cpus.map { ", CPU \($0.draft)" } ?? ""))")
        try timeline.chromeTrace(lanes: lanes).write(to: URL(fileURLWithPath: trace))
        // The SVG window: from the end of the target's prefill through `steps` verification rounds.
        let t0 = min(timeline.target.first?.start ?? 0, timeline.draft.first?.start ?? 0)
        let from = (timeline.target.first { $0.name == "prefill" }?.end ?? t0) - t0
        let suffixes = timeline.target.filter { $0.name == "verify suffix" }
        let to = suffixes.isEmpty ? nil : suffixes[min(steps, suffixes.count) - 1].end - t0 + 0.002
        try timeline.svg(from: from, to: to, lanes: lanes).write(toFile: svg, atomically: true, encoding: .utf8)
        if json {
            var obj: [String: Any] = ["target": profileJSON(targetProfile), "mirror_summary": r.stats.summary]
            if let d = draftProfile { obj["draft"] = profileJSON(d) }
            print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
        } else {
            printTables("target (fp32)", targetProfile)
            if let d = draftProfile { printTables("draft (\(prepared.draftType ?? "lookup"))", d) } else { print("draft: prompt lookup (no layers)\n") }
            print("Mirror-SD: \(r.stats.summary)")
        }
        note("wrote \(trace) (Perfetto / chrome://tracing) and \(svg)")
    }

    func profileJSON(_ p: OpProfile) -> [String: Any] {
        ["forwards": p.forwards, "head_seconds": p.headSeconds,
         "layer_seconds": (0..<p.layers).map { p.layerSeconds($0) },
         "op_seconds": Dictionary(uniqueKeysWithValues: OpProfile.ops.enumerated().map { ($0.element, p.opSeconds($0.offset)) })]
    }

    func printTables(_ name: String, _ p: OpProfile) {
        let total = p.totalSeconds
        print("\(name): \(p.forwards) forwards, \(String(format: "%.1f", total * 1e3)) ms in layers and head")
        print("| op | ms | share |")
        print("|---|---|---|")
        for (i, op) in OpProfile.ops.enumerated() {
            print(String(format: "| %@ | %.1f | %.1f %% |", op, p.opSeconds(i) * 1e3, p.opSeconds(i) / total * 100))
        }
        print(String(format: "| head (final norm + output, proxies included) | %.1f | %.1f %% |", p.headSeconds * 1e3, p.headSeconds / total * 100))
        print("")
        print("| layer | ms |")
        print("|---|---|")
        for l in 0..<p.layers { print(String(format: "| %d | %.2f |", l, p.layerSeconds(l) * 1e3)) }
        print("")
    }
}
