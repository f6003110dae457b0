/// A ggml tensor type id with its block geometry. Ids and sizes follow ggml's type traits.
public struct GGMLType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public let name: String
    /// Elements per block and bytes per block.
    public let blockSize: Int
    public let typeSize: Int

    public static let f32 = GGMLType(rawValue: 0, name: "F32", blockSize: 1, typeSize: 4)
    public static let f16 = GGMLType(rawValue: 1, name: "F16", blockSize: 1, typeSize: 2)
    public static let q4_0 = GGMLType(rawValue: 2, name: "Q4_0", blockSize: 32, typeSize: 18)
    public static let q4_1 = GGMLType(rawValue: 3, name: "Q4_1", blockSize: 32, typeSize: 20)
    public static let q8_0 = GGMLType(rawValue: 8, name: "Q8_0", blockSize: 32, typeSize: 34)
    public static let bf16 = GGMLType(rawValue: 30, name: "BF16", blockSize: 1, typeSize: 2)

    /// Types this reader knows the size of (so it can bound-check and skip them), whether or not
    /// the engine can convert them.
    public static let known: [GGMLType] = [
        .f32, .f16, .q4_0, .q4_1,
        GGMLType(rawValue: 6, name: "Q5_0", blockSize: 32, typeSize: 22),
        GGMLType(rawValue: 7, name: "Q5_1", blockSize: 32, typeSize: 24),
        .q8_0,
        GGMLType(rawValue: 9, name: "Q8_1", blockSize: 32, typeSize: 36),
        GGMLType(rawValue: 10, name: "Q2_K", blockSize: 256, typeSize: 84),
        GGMLType(rawValue: 11, name: "Q3_K", blockSize: 256, typeSize: 110),
        GGMLType(rawValue: 12, name: "Q4_K", blockSize: 256, typeSize: 144),
        GGMLType(rawValue: 13, name: "Q5_K", blockSize: 256, typeSize: 176),
        GGMLType(rawValue: 14, name: "Q6_K", blockSize: 256, typeSize: 210),
        GGMLType(rawValue: 15, name: "Q8_K", blockSize: 256, typeSize: 292),
        GGMLType(rawValue: 24, name: "I8", blockSize: 1, typeSize: 1),
        GGMLType(rawValue: 25, name: "I16", blockSize: 1, typeSize: 2),
        GGMLType(rawValue: 26, name: "I32", blockSize: 1, typeSize: 4),
        GGMLType(rawValue: 27, name: "I64", blockSize: 1, typeSize: 8),
        GGMLType(rawValue: 28, name: "F64", blockSize: 1, typeSize: 8),
        .bf16,
    ]

    public static func from(id: UInt32) -> GGMLType? { known.first { $0.rawValue == id } }
    public static func from(name: String) -> GGMLType? { known.first { $0.name.lowercased() == name.lowercased() } }

    public var description: String { name }

    /// Bytes for `elements` elements, or nil when not a whole number of blocks or on overflow.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (r, o) = (elements / blockSize).multipliedReportingOverflow(by: typeSize)
        return o ? nil : r
    }
}
