import Foundation

/// Spans of one worker's time, recorded by that worker only when tracing is on (a nil recorder
/// costs one branch per span). Capacity is reserved up front.
public struct SpanRecorder: Sendable {
    public struct Span: Sendable, Codable, Equatable {
        public var name: String
        public var start: Double
        public var end: Double
    }
    public private(set) var spans: [Span] = []
    public init(capacity: Int = 4096) { spans.reserveCapacity(capacity) }
    @inline(__always) public mutating func add(_ name: String, _ start: Double, _ end: Double) {
        spans.append(Span(name: name, start: start, end: end))
    }
}

/// Both workers' spans, with exports for Perfetto / chrome://tracing and an SVG of the two lanes.
public struct MirrorTimeline: Sendable, Codable {
    public var target: [SpanRecorder.Span]
    public var draft: [SpanRecorder.Span]

    var origin: Double { min(target.first?.start ?? 0, draft.first?.start ?? 0) }

    /// Chrome trace-event JSON ("X" complete events, microseconds), thread 1 = target, 2 = draft.
    /// `lanes`: what to call the target's and the draft's lane (the caller knows their backends and CPUs).
    public func chromeTrace(lanes: (target: String, draft: String) = ("target", "draft")) throws -> Data {
        let t0 = origin
        var events: [[String: Any]] = [
            ["name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": ["name": lanes.target]],
            ["name": "thread_name", "ph": "M", "pid": 1, "tid": 2, "args": ["name": lanes.draft]],
        ]
        for (tid, lane) in [(1, target), (2, draft)] {
            for s in lane {
                events.append(["name": s.name, "ph": "X", "pid": 1, "tid": tid, "ts": (s.start - t0) * 1e6,
                               "dur": max(0, s.end - s.start) * 1e6])
            }
        }
        return try JSONSerialization.data(withJSONObject: ["traceEvents": events, "displayTimeUnit": "ms"], options: [.prettyPrinted])
    }

    static let colors: [String: String] = [
        "prefill": "#999999", "verify prefix": "#4C72B0", "verify suffix": "#2A4D7F", "wait window": "#E8E8E8",
        "plain step": "#8172B3", "branches": "#55A868", "fresh rollout": "#C44E52", "reuse": "#8DD3A0",
        "wait candidates": "#F0F0F0", "wait verdict": "#F7F7D0",
    ]

    /// The two lanes over [from, to) seconds after the start (the whole run by default).
    public func svg(from: Double = 0, to: Double? = nil, width: Int = 1200,
                    lanes: (target: String, draft: String) = ("target", "draft")) -> String {
        let t0 = origin
        let end = to ?? ((target + draft).map(\.end).max() ?? t0) - t0
        let span = max(end - from, 1e-9)
        let left = 150, laneH = 36, top = 40
        func x(_ t: Double) -> Double { Double(left) + (t - t0 - from) / span * Double(width - left - 20) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(top + 2 * laneH + 90)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += String(format: "<text x=\"10\" y=\"20\" font-size=\"14\">Mirror-SD timeline, %.1f–%.1f ms</text>\n", from * 1e3, (from + span) * 1e3)
        for (i, (label, lane)) in [(lanes.target, target), (lanes.draft, draft)].enumerated() {
            let y = top + i * (laneH + 10)
            s += "<text x=\"10\" y=\"\(y + laneH / 2 + 4)\">\(label)</text>\n"
            for sp in lane where sp.end - t0 > from && sp.start - t0 < from + span {
                let a = max(x(sp.start), Double(left)), b = min(x(sp.end), Double(width - 20))
                guard b > a else { continue }
                s += String(format: "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%@\" stroke=\"white\" stroke-width=\"0.3\"><title>%@ %.2f ms</title></rect>\n",
                            a, y, b - a, laneH, Self.colors[sp.name] ?? "#DD8452", sp.name, (sp.end - sp.start) * 1e3)
            }
        }
        var lx = left
        for (name, color) in Self.colors.sorted(by: { $0.key < $1.key }) {
            s += "<rect x=\"\(lx)\" y=\"\(top + 2 * laneH + 30)\" width=\"10\" height=\"10\" fill=\"\(color)\" stroke=\"#999\"/>"
            s += "<text x=\"\(lx + 14)\" y=\"\(top + 2 * laneH + 39)\" font-size=\"10\">\(name)</text>\n"
            lx += 105
        }
        return s + "</svg>\n"
    }
}
