import Generation

/// A value as an edge received it: text from the command line or a bench method's suffix, typed
/// scalars from a JSON request.
public enum KnobInput: Sendable, Equatable {
    case text(String), int(Int), number(Double), bool(Bool)

    var shown: String {
        switch self {
        case let .text(s): "'\(s)'"
        case let .int(i): "\(i)"
        case let .number(d): "\(d)"
        case let .bool(b): "\(b)"
        }
    }
}

/// A decoding knob that failed its check. `message` leaves the knob's name out, so that each edge
/// spells it its own way: `--gamma` on the command line, `mirror_sd.gamma` in a request, `*` in a bench method.
public struct KnobError: Error, Equatable, Sendable {
    public let knob: String
    public let message: String
    public init(_ knob: String, _ message: String) { self.knob = knob; self.message = message }

    /// The command line's spelling: "--gamma must be in 1...32, got 40".
    public var cli: String { "\(Knobs[knob]?.flag ?? knob) \(message)" }
}

/// One row of the table: how each edge names the knob, what it accepts, its default and its help.
public struct Knob: Sendable {
    public enum Kind: Sendable {
        case int(ClosedRange<Int>)
        /// A probability in [0, 1).
        case fraction
        /// On the command line `--NAME` sets it and `--no-NAME` clears it.
        case flag
        case choice([String])
        /// A non-empty name or path.
        case text
    }

    /// How a bench method sets the knob: `*4` (a sigil and a value) or `!raw` (a word that sets a fixed value).
    public enum Suffix: Sendable {
        case sigil(Character)
        case word(String, KnobInput)
    }

    public enum Value: Sendable { case int(Int), float(Float), bool(Bool), text(String) }

    /// The command line's name without its dashes; `--NAME` is the flag.
    public let name: String
    /// The key under `mirror_sd` in a server request; nil: not a request option.
    public let json: String?
    public let suffix: Suffix?
    public let kind: Kind
    /// The modes that read it.
    public let modes: [DecodeMode]
    public let defaultText: String
    public let help: String
    /// A request may give only these values (nil: any the kind accepts): a client never names a server file.
    public var requestValues: [String]? = nil
    let set: @Sendable (inout DecoderSpec, Value) -> Void

    public var flag: String { "--" + name }

    public var range: String {
        switch kind {
        case let .int(r): "\(r.lowerBound)…\(r.upperBound)"
        case .fraction: "[0, 1)"
        case .flag: "on/off"
        case let .choice(c): c.joined(separator: ", ")
        case .text: requestValues.map { $0.joined(separator: ", ") + ", or a path" } ?? "a name or path"
        }
    }

    public var suffixText: String? {
        switch suffix {
        case let .sigil(c)?: "\(c)N"
        case let .word(w, _)?: "!\(w)"
        case nil: nil
        }
    }

    /// Reads `input` into this knob's value, or says what is wrong with it.
    func read(_ input: KnobInput) throws(KnobError) -> Value {
        switch kind {
        case let .int(r):
            let i: Int?
            switch input {
            case let .int(v): i = v
            case let .text(s): i = Int(s)
            case let .number(d): i = d.rounded() == d && abs(d) < 1e15 ? Int(d) : nil
            case .bool: i = nil
            }
            guard let v = i else { throw KnobError(name, "must be an integer, got \(input.shown)") }
            guard r.contains(v) else { throw KnobError(name, "must be in \(r.lowerBound)...\(r.upperBound), got \(v)") }
            return .int(v)
        case .fraction:
            let f: Double?
            switch input {
            case let .int(v): f = Double(v)
            case let .number(d): f = d
            case let .text(s): f = Double(s)
            case .bool: f = nil
            }
            guard let v = f, v.isFinite, v >= 0, v < 1 else { throw KnobError(name, "must be a number in [0, 1), got \(input.shown)") }
            return .float(Float(v))
        case .flag:
            switch input {
            case let .bool(b): return .bool(b)
            case .text("true"), .text("on"): return .bool(true)
            case .text("false"), .text("off"): return .bool(false)
            default: throw KnobError(name, "must be true or false, got \(input.shown)")
            }
        case let .choice(options):
            guard case let .text(s) = input, options.contains(s) else {
                throw KnobError(name, "must be one of \(options.joined(separator: ", ")), got \(input.shown)")
            }
            return .text(s)
        case .text:
            guard case let .text(s) = input, !s.isEmpty else { throw KnobError(name, "must be a non-empty name, got \(input.shown)") }
            return .text(s)
        }
    }
}

/// Every decoding knob, declared once. The command line (`generate`, `bench`, `serve`, `profile`),
/// bench method suffixes and server requests all read their values through this table into one
/// `DecoderSpec`, which `check` validates as a whole. Adding a knob: a row here, a field in
/// `DecoderSpec`, and the code that uses it.
public enum Knobs {
    private static func int(_ f: @escaping @Sendable (inout DecoderSpec, Int) -> Void) -> @Sendable (inout DecoderSpec, Knob.Value) -> Void {
        { s, v in if case let .int(i) = v { f(&s, i) } }
    }
    private static func bool(_ f: @escaping @Sendable (inout DecoderSpec, Bool) -> Void) -> @Sendable (inout DecoderSpec, Knob.Value) -> Void {
        { s, v in if case let .bool(b) = v { f(&s, b) } }
    }
    private static func text(_ f: @escaping @Sendable (inout DecoderSpec, String) -> Void) -> @Sendable (inout DecoderSpec, Knob.Value) -> Void {
        { s, v in if case let .text(t) = v { f(&s, t) } }
    }

    public static let all: [Knob] = [
        Knob(name: "mode", json: "mode", suffix: nil, kind: .choice(DecodeMode.allCases.map(\.rawValue)), modes: DecodeMode.allCases,
             defaultText: "ar",
             help: "ar: the target alone; sd: serial speculative decoding; mirror: Mirror-SD, target and draft on two threads",
             set: text { s, v in s.mode = DecodeMode(rawValue: v)! }),
        Knob(name: "draft", json: "draft", suffix: .sigil("@"), kind: .text, modes: [.sd, .mirror], defaultText: "self",
             help: "small, large (the shipped distilled drafts), self (the target file on the draft backend), a GGUF path, or lookup (prompt lookup, no model); NAME+lookup puts lookup in front of a model",
             set: text { s, v in s.draft = v }),
        Knob(name: "lookup", json: nil, suffix: .word("lookup", .bool(true)), kind: .flag, modes: [.ar, .sd, .mirror], defaultText: "off",
             help: "sd, mirror: put prompt lookup in front of the model draft (as appending +lookup to the draft); ar: also feed the tokens prompt lookup guesses where the measured cost of the extra rows pays, as a batch in serve does (the same output)",
             set: bool { s, v in s.lookup = v }),
        Knob(name: "gamma", json: "gamma", suffix: .sigil("*"), kind: .int(1...32), modes: [.sd, .mirror], defaultText: "\(Defaults.gamma)",
             help: "most tokens drafted per step (mirror: at most 16)",
             set: int { s, v in s.gamma = v }),
        Knob(name: "draft-min", json: "draft_min", suffix: nil, kind: .int(0...32), modes: [.sd, .mirror], defaultText: "0",
             help: "drafts shorter than this are dropped (the step becomes a plain target step); at most gamma",
             set: int { s, v in s.draftMin = v }),
        Knob(name: "draft-p-min", json: "draft_p_min", suffix: nil, kind: .fraction, modes: [.sd, .mirror], defaultText: "0.5; 0 behind self",
             help: "stop drafting where the draft's top probability falls below this",
             set: { s, v in if case let .float(f) = v { s.draftPMin = f } }),
        Knob(name: "kappa", json: "kappa", suffix: .sigil("^"), kind: .int(0...16), modes: [.mirror], defaultText: "0 behind self, 2 otherwise",
             help: "early-exit candidates per verified position on the token channel (0: no early exit)",
             set: int { s, v in s.kappa = v }),
        Knob(name: "exit-layer", json: "exit_layer", suffix: .sigil("#"), kind: .int(1...4096), modes: [.mirror], defaultText: "26 of 30 layers",
             help: "target layer after which the early-exit proxy is read; below the target's layer count",
             set: int { s, v in s.exitLayer = v }),
        Knob(name: "runner-ups", json: "runner_ups", suffix: .sigil("~"), kind: .int(0...17), modes: [.mirror], defaultText: "\(Defaults.runnerUps)",
             help: "branches from the draft's own second choices, at the slots where verdicts landed most; at most gamma+1",
             set: int { s, v in s.runnerUps = v }),
        Knob(name: "branch-positions", json: "branch_positions", suffix: nil, kind: .int(1...17), modes: [.mirror], defaultText: "all gamma+1",
             help: "how many verified positions get early-exit branches; at most gamma+1",
             set: int { s, v in s.branchPositions = v }),
        Knob(name: "branch-from-end", json: "branch_from_end", suffix: nil, kind: .flag, modes: [.mirror], defaultText: "off",
             help: "count branch-positions from the end of the window (the bonus slot first)",
             set: bool { s, v in s.branchFromEnd = v }),
        Knob(name: "fallback", json: "fallback", suffix: nil, kind: .choice(FallbackPolicy.allCases.map(\.rawValue)), modes: [.mirror],
             defaultText: "wait", help: "on a fallback the target waits for the draft, or takes a plain step meanwhile",
             set: text { s, v in s.fallback = FallbackPolicy(rawValue: v)! }),
        Knob(name: "pin", json: nil, suffix: nil, kind: .flag, modes: [.mirror], defaultText: "on",
             help: "pin the target worker to CPU 0 and the draft worker to CPU 1",
             set: bool { s, v in s.pinThreads = v }),
        Knob(name: "draft-bonus", json: "draft_bonus", suffix: .word("nobonus", .bool(false)), kind: .flag, modes: [.mirror], defaultText: "on",
             help: "the draft starts its own bonus-guess branch with each window instead of waiting for the early exit",
             set: bool { s, v in s.draftBonus = v }),
        Knob(name: "adaptive-gamma", json: "adaptive_gamma", suffix: .word("adaptive", .bool(true)), kind: .flag, modes: [.mirror], defaultText: "off",
             help: "choose each window's length in 1...gamma from the acceptance and timings measured so far",
             set: bool { s, v in s.adaptiveGamma = v }),
        Knob(name: "branch-budget", json: "branch_budget", suffix: .word("nobudget", .bool(false)), kind: .flag, modes: [.mirror], defaultText: "on",
             help: "branch steps beyond the draft's own branch only where its measured timings say they end before the verdict",
             set: bool { s, v in s.branchBudget = v }),
        Knob(name: "proxy-vocab", json: "proxy_vocab", suffix: nil, kind: .int(0...1 << 20), modes: [.mirror], defaultText: "\(Defaults.proxyVocab)",
             help: "the early-exit proxy covers the first N token ids only (0: the whole vocabulary)",
             set: int { s, v in s.proxyVocab = v }),
        Knob(name: "exit-lens", json: "exit_lens", suffix: .word("raw", .text("none")), kind: .text, modes: [.mirror], defaultText: "auto",
             help: "the trained exit lens of the early-exit proxy: auto (one in \(Defaults.lensDirectory) made for this target and layer, if any), none (the raw logit lens), or a lens file",
             requestValues: ["auto", "none"],
             set: text { s, v in s.exitLens = v }),
    ]

    public static subscript(name: String) -> Knob? { all.first { $0.name == name } }
    public static func json(_ key: String) -> Knob? { all.first { $0.json == key } }

    /// Sets `name` to `input` in `spec`, checking the knob's own range (not yet its relations to others: `check`).
    public static func set(_ name: String, _ input: KnobInput, in spec: inout DecoderSpec, request: Bool = false) throws(KnobError) {
        guard let knob = Knobs[name] else { throw KnobError(name, "is not a decoding option") }
        if request, let allowed = knob.requestValues, case let .text(s) = input, !allowed.contains(s) {
            throw KnobError(name, "must be one of \(allowed.joined(separator: ", ")), got '\(s)'")
        }
        knob.set(&spec, try knob.read(input))
    }

    /// Reads `--NAME VALUE`, `--NAME=VALUE`, `--NAME` and `--no-NAME` (flags) from `args` into `spec`.
    /// Anything that is not a knob is an error naming the closest knob.
    public static func parse(arguments args: [String], into spec: inout DecoderSpec) throws(KnobError) {
        var i = 0
        while i < args.count {
            let a = args[i]
            guard a.hasPrefix("--") else { throw KnobError(a, "is not an option here (a decoding option is --NAME VALUE)") }
            var name = String(a.dropFirst(2))
            var value: String? = nil
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if let knob = Knobs[name], case .flag = knob.kind {
                try set(name, .text(value ?? "true"), in: &spec)
            } else if name.hasPrefix("no-"), let knob = Knobs[String(name.dropFirst(3))], case .flag = knob.kind, value == nil {
                try set(knob.name, .bool(false), in: &spec)
            } else if Knobs[name] != nil {
                if value == nil {
                    guard i + 1 < args.count else { throw KnobError(name, "needs a value") }
                    i += 1
                    value = args[i]
                }
                try set(name, .text(value!), in: &spec)
            } else {
                throw KnobError("--" + name, "is not an option" + (closest(to: name).map { " (did you mean --\($0)?)" } ?? ""))
            }
            i += 1
        }
    }

    /// Reads a bench method's suffixes (`@small*3^0~2#18!raw`, any order) into `spec`, whose mode is
    /// set: a suffix for a knob its mode does not read is an error.
    public static func parse(suffixes text: Substring, into spec: inout DecoderSpec) throws(KnobError) {
        let sigils = Set(all.compactMap { k -> Character? in if case let .sigil(c)? = k.suffix { return c } else { return nil } } + ["!"])
        var rest = text
        while let sigil = rest.first {
            rest = rest.dropFirst()
            // A value runs to the next sigil, so a draft name cannot hold one.
            let end = rest.firstIndex { sigils.contains($0) } ?? rest.endIndex
            let value = String(rest[..<end])
            rest = rest[end...]
            if sigil == "!" {
                guard let k = all.first(where: { if case .word(value, _)? = $0.suffix { true } else { false } }),
                      case let .word(_, input)? = k.suffix else {
                    let words = all.compactMap { k -> String? in if case .word? = k.suffix { k.suffixText } else { nil } }
                    throw KnobError("!" + value, "is not a bench flag (flags: \(words.joined(separator: ", ")))")
                }
                try setSuffix(k, input, in: &spec)
            } else {
                guard let k = all.first(where: { if case .sigil(sigil)? = $0.suffix { true } else { false } }) else {
                    throw KnobError(String(sigil), "is not a bench suffix")
                }
                try setSuffix(k, .text(value), in: &spec)
            }
        }
    }

    private static func setSuffix(_ k: Knob, _ input: KnobInput, in spec: inout DecoderSpec) throws(KnobError) {
        guard k.modes.contains(spec.mode) else {
            throw KnobError(k.name, "is for \(k.modes.map(\.rawValue).joined(separator: " and ")) methods")
        }
        try set(k.name, input, in: &spec)
    }

    /// The knob whose name is fewest edits from `name`, if any is within three.
    static func closest(to name: String) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for (i, ca) in a.enumerated() {
                var diagonal = row[0]
                row[0] = i + 1
                for (j, cb) in b.enumerated() {
                    let above = row[j + 1]
                    row[j + 1] = min(above + 1, row[j] + 1, diagonal + (ca == cb ? 0 : 1))
                    diagonal = above
                }
            }
            return row[b.count]
        }
        let best = all.map { ($0.name, distance(Array($0.name), Array(name))) }.min { $0.1 < $1.1 }
        return best.flatMap { $0.1 <= 3 ? $0.0 : nil }
    }

    /// The table as Markdown: the README's and `mirror-sd knobs`.
    public static func markdown() -> String {
        var s = "| knob | CLI | request (`mirror_sd`) | bench | range | default | modes | what it does |\n|---|---|---|---|---|---|---|---|\n"
        for k in all {
            let cli = k.kind.isFlag ? "`\(k.flag)`, `--no-\(k.name)`" : "`\(k.flag)`"
            s += "| \(k.name) | \(cli) | \(k.json.map { "`\($0)`" } ?? "–") | \(k.suffixText.map { "`\($0)`" } ?? "–") | \(k.range) | \(k.defaultText) | "
                + "\(k.modes.map(\.rawValue).joined(separator: ", ")) | \(k.help) |\n"
        }
        return s
    }

    /// The table for `--help`: each flag, then its help wrapped under it (the help printer keeps
    /// lines that fit and would run a long one into the margin).
    public static func helpText() -> String {
        func wrap(_ text: String, indent: String, width: Int = 78) -> String {
            var lines: [String] = [], line = indent
            for word in text.split(separator: " ") {
                if line.count + word.count + 1 > width, line != indent { lines.append(line); line = indent }
                line += (line == indent ? "" : " ") + word
            }
            return (lines + [line]).joined(separator: "\n")
        }
        return "Decoding options (`mirror-sd knobs` prints them as a table):\n" + all.map { k in
            let flag = k.kind.isFlag ? "  \(k.flag), --no-\(k.name)" : "  \(k.flag) <\(k.range)>"
            return flag + "\n" + wrap("\(k.help) (default: \(k.defaultText))", indent: "        ")
        }.joined(separator: "\n")
    }
}

extension Knob.Kind {
    var isFlag: Bool { if case .flag = self { true } else { false } }
}
