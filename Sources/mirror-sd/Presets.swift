/// Named sets of `generate` flags, measured on Spec-Bench here (docs/kernels.md, "Quantized targets"; the README's mode table). A preset's
/// flags go in front of the user's, so any flag given on the command line overrides it.
enum Presets {
    static let all: [(name: String, flags: [String], what: String)] = [
        ("q4-fast", ["--target-type", "native", "--threads", "2", "--lookup"],
         "the file's own formats on both cores, plain decoding with prompt lookup's guesses where they pay: the fastest measured on the Q4_1 file"),
        ("q4-mirror", ["--target-type", "native", "--mode", "mirror", "--draft", "small+lookup", "--draft-type", "native"],
         "Mirror-SD with the file's own formats: target on core 0, the small distilled draft behind lookup on core 1"),
        ("fp32-mirror", ["--target-type", "f32", "--mode", "mirror", "--draft", "self"],
         "the default: fp32 target, the file itself on the int8 backend as draft"),
    ]

    static var help: String { all.map { "\($0.name) (\($0.what))" }.joined(separator: "; ") }

    /// `args` (without the program name) with a `generate --preset NAME` expanded; unknown names are
    /// left for the command's validation to report.
    static func expand(_ args: [String]) -> [String] {
        guard args.first == "generate" else { return args }
        var name: String?
        for (i, a) in args.enumerated() {
            if a == "--preset", i + 1 < args.count { name = args[i + 1] }
            if a.hasPrefix("--preset=") { name = String(a.dropFirst("--preset=".count)) }
        }
        guard let n = name, let preset = all.first(where: { $0.name == n }) else { return args }
        return [args[0]] + preset.flags + args.dropFirst()
    }
}
