/// Per-layer, per-op wall time of a session's forwards, filled only while attached to a session
/// (`LlamaSession.opProfile`); detached, the forward pays one nil check per op.
public final class OpProfile: @unchecked Sendable {
    // Sendable: written only by the thread that runs the session, read after it is done.
    /// A layer's ops in the order the forward runs them.
    public enum Op: Int, CaseIterable, Sendable {
        case attnNorm, qkv, ropeKV, attention, attnOut, ffnNorm, gateUp, swiglu, ffnDown

        public var name: String {
            ["attn_norm", "qkv", "rope+kv", "attention", "attn_out", "ffn_norm", "gate_up", "swiglu", "ffn_down"][rawValue]
        }
    }

    /// The ops' names, in order (report columns).
    public static let ops = Op.allCases.map(\.name)
    public let layers: Int
    /// seconds[layer · ops.count + op]
    public var seconds: [Double]
    /// Final norm + output head (any rows, early-exit proxies included).
    public var headSeconds = 0.0
    public var forwards = 0

    public init(layers: Int) {
        self.layers = layers
        seconds = [Double](repeating: 0, count: layers * Self.ops.count)
    }

    public func layerSeconds(_ l: Int) -> Double { seconds[(l * Self.ops.count)..<((l + 1) * Self.ops.count)].reduce(0, +) }
    public func opSeconds(_ op: Int) -> Double { (0..<layers).reduce(0) { $0 + seconds[$1 * Self.ops.count + op] } }
    public func seconds(of op: Op) -> Double { opSeconds(op.rawValue) }

    /// Adds `dt` to `op` of layer `l`.
    @inline(__always)
    func add(_ dt: Double, layer l: Int, op: Op) { seconds[l * Self.ops.count + op.rawValue] += dt }
    public var totalSeconds: Double { seconds.reduce(0, +) + headSeconds }
}
