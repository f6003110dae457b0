/// Every way a GGUF file can be refused. Each case names the key, tensor or byte offset involved.
public enum GGUFError: Error, Equatable, CustomStringConvertible, Sendable {
    case cannotOpen(path: String, reason: String)
    case truncated(section: String, offset: Int, needed: Int, available: Int)
    case badMagic(found: [UInt8])
    case bigEndian
    case unsupportedVersion(UInt32)
    case absurdCount(what: String, count: Int64, limit: Int64)
    case emptyKey(offset: Int)
    case duplicateKey(String)
    case unknownValueType(key: String, type: UInt32)
    case nestingTooDeep(key: String)
    case invalidUTF8(context: String, offset: Int)
    case badBool(key: String, value: UInt8)
    case badAlignment(String)
    case tensorNameTooLong(name: String, length: Int)
    case duplicateTensor(String)
    case tooManyDimensions(tensor: String, count: UInt32)
    case negativeDimension(tensor: String, index: Int, value: Int64)
    case dimensionOverflow(tensor: String)
    case unknownTensorType(tensor: String, type: UInt32)
    case rowNotBlockMultiple(tensor: String, rowLength: Int64, blockSize: Int)
    case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
    case tensorDataOutOfBounds(tensor: String, offset: UInt64, bytes: Int, dataSize: Int)
    case missingKey(String)
    case wrongValueType(key: String, expected: String, found: String)
    case valueOutOfRange(key: String, detail: String)
    case missingTensor(String)
    case unsupportedTensorType(tensor: String, type: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "cannot open '\(path)': \(reason)"
        case let .truncated(section, offset, needed, available):
            return "GGUF truncated in \(section) at byte \(offset): need \(needed) bytes, \(available) left"
        case let .badMagic(found): return "not a GGUF file: magic is \(found.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")), expected 47 47 55 46 (\"GGUF\")"
        case .bigEndian: return "big-endian GGUF files are not supported"
        case let .unsupportedVersion(v): return "unsupported GGUF version \(v) (supported: 2, 3)"
        case let .absurdCount(what, count, limit): return "GGUF \(what) count \(count) is impossible (the file can hold at most \(limit))"
        case let .emptyKey(offset): return "empty metadata key at byte \(offset)"
        case let .duplicateKey(k): return "duplicate metadata key '\(k)'"
        case let .unknownValueType(key, type): return "metadata key '\(key)' has unknown value type \(type)"
        case let .nestingTooDeep(key): return "metadata key '\(key)' nests arrays too deeply"
        case let .invalidUTF8(context, offset): return "invalid UTF-8 in \(context) at byte \(offset)"
        case let .badBool(key, value): return "metadata key '\(key)' has bool value \(value) (must be 0 or 1)"
        case let .badAlignment(detail): return "bad general.alignment: \(detail)"
        case let .tensorNameTooLong(name, length): return "tensor name '\(name.prefix(80))' is \(length) bytes (max 63)"
        case let .duplicateTensor(n): return "duplicate tensor '\(n)'"
        case let .tooManyDimensions(t, c): return "tensor '\(t)' has \(c) dimensions (max 4)"
        case let .negativeDimension(t, i, v): return "tensor '\(t)' dimension \(i) is \(v)"
        case let .dimensionOverflow(t): return "tensor '\(t)': the product of its dimensions overflows"
        case let .unknownTensorType(t, type): return "tensor '\(t)' has unknown type id \(type)"
        case let .rowNotBlockMultiple(t, row, block): return "tensor '\(t)': row length \(row) is not a multiple of its block size \(block)"
        case let .misalignedTensor(t, off, al): return "tensor '\(t)': data offset \(off) is not a multiple of the alignment \(al)"
        case let .tensorDataOutOfBounds(t, off, bytes, size): return "tensor '\(t)': data [\(off), \(off) + \(bytes)) lies past the end of the data section (\(size) bytes)"
        case let .missingKey(k): return "metadata key '\(k)' is missing"
        case let .wrongValueType(k, e, f): return "metadata key '\(k)' has type \(f), expected \(e)"
        case let .valueOutOfRange(k, d): return "metadata key '\(k)': \(d)"
        case let .missingTensor(n): return "tensor '\(n)' is missing"
        case let .unsupportedTensorType(t, type): return "tensor '\(t)' has type \(type), which this engine cannot convert"
        case let .writeFailed(path, reason): return "cannot write '\(path)': \(reason)"
        }
    }
}
