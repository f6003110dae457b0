/// GGUF metadata value type ids (gguf.h `enum gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
}

/// A metadata value. Arrays carry their element type and may nest.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64), int64(Int64), float64(Double)

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// The value as an integer, if it is one of the integer types.
    public var integer: Int64? {
        switch self {
        case let .uint8(v): Int64(v)
        case let .int8(v): Int64(v)
        case let .uint16(v): Int64(v)
        case let .int16(v): Int64(v)
        case let .uint32(v): Int64(v)
        case let .int32(v): Int64(v)
        case let .uint64(v): v <= UInt64(Int64.max) ? Int64(v) : nil
        case let .int64(v): v
        default: nil
        }
    }

    public var double: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: integer.map(Double.init)
        }
    }

    /// Short human-readable form; long arrays are summarized.
    public func summary(maxItems: Int = 8) -> String {
        switch self {
        case let .string(s):
            let flat = s.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\\n")
            return flat.count > 120 ? "\"\(flat.prefix(117))...\" (\(s.utf8.count) bytes)" : "\"\(flat)\""
        case let .array(t, items):
            let shown = items.prefix(maxItems).map { $0.summary(maxItems: maxItems) }.joined(separator: ", ")
            let more = items.count > maxItems ? ", ... (\(items.count) items)" : ""
            return "[\(t)] [\(shown)\(more)]"
        case let .bool(b): return b ? "true" : "false"
        case let .float32(v): return "\(v)"
        case let .float64(v): return "\(v)"
        default: return integer.map { "\($0)" } ?? "?"
        }
    }
}
