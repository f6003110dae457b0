/// The parsing and validation of a GGUF image (gguf.h: header, KV pairs, tensor infos, aligned data).
enum GGUFParser {
    struct Parsed {
        var version: UInt32
        var metadata: [String: GGUFValue]
        var keys: [String]
        var tensors: [GGUFTensorInfo]
        var alignment: Int
        var dataOffset: Int
    }

    static let maxArrayDepth = 4

    static func parse(_ buffer: UnsafeRawBufferPointer) throws -> Parsed {
        var r = ByteReader(buffer)
        try r.need(4)
        let magic = Array(try r.readBytes(4))
        guard magic == Array("GGUF".utf8) else { throw GGUFError.badMagic(found: magic) }
        let version = try r.read(UInt32.self)
        if version & 0xFFFF == 0 && version != 0 { throw GGUFError.bigEndian }
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(version) }
        let nTensors = try r.read(Int64.self)
        let nKV = try r.read(Int64.self)
        // Smallest possible encodings: a KV pair is 8 (key length) + 4 (type) + 1 (value), with an
        // empty key (refused later, by name); a tensor info is 8 + 1 + 4 + 8 + 4 + 8.
        // a tensor info is 8 + 1 + 4 + 8 + 4 + 8.
        let kvLimit = Int64(r.remaining / 13)
        guard nKV >= 0, nKV <= kvLimit else { throw GGUFError.absurdCount(what: "metadata", count: nKV, limit: kvLimit) }
        let tensorLimit = Int64(r.remaining / 33)
        guard nTensors >= 0, nTensors <= tensorLimit else {
            throw GGUFError.absurdCount(what: "tensor", count: nTensors, limit: tensorLimit)
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(Int(nKV))
        for i in 0..<Int(nKV) {
            r.section = "metadata pair \(i)"
            let keyOffset = r.offset
            let key = try r.readString(context: "metadata key \(i)")
            guard !key.isEmpty else { throw GGUFError.emptyKey(offset: keyOffset) }
            guard metadata[key] == nil else { throw GGUFError.duplicateKey(key) }
            r.section = "metadata '\(key)'"
            let typeId = try r.read(UInt32.self)
            guard let type = GGUFValueType(rawValue: typeId) else { throw GGUFError.unknownValueType(key: key, type: typeId) }
            metadata[key] = try readValue(&r, type: type, key: key, depth: 0)
            keys.append(key)
        }

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard case let .uint32(v) = a else { throw GGUFError.badAlignment("type \(a.type), expected uint32") }
            guard v > 0, v & (v - 1) == 0 else { throw GGUFError.badAlignment("\(v) is not a power of two") }
            alignment = Int(v)
        }

        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(Int(nTensors))
        var names = Set<String>()
        var rawOffsets: [(UInt64, Int)] = []
        for i in 0..<Int(nTensors) {
            r.section = "tensor info \(i)"
            let name = try r.readString(context: "tensor name \(i)")
            guard name.utf8.count < 64 else { throw GGUFError.tensorNameTooLong(name: name, length: name.utf8.count) }
            guard names.insert(name).inserted else { throw GGUFError.duplicateTensor(name) }
            r.section = "tensor info '\(name)'"
            let nDims = try r.read(UInt32.self)
            guard nDims <= 4 else { throw GGUFError.tooManyDimensions(tensor: name, count: nDims) }
            var dims: [Int] = []
            var count: Int = 1
            for d in 0..<Int(nDims) {
                let ne = try r.read(Int64.self)
                guard ne >= 0 else { throw GGUFError.negativeDimension(tensor: name, index: d, value: ne) }
                let (p, o) = count.multipliedReportingOverflow(by: Int(ne))
                guard !o else { throw GGUFError.dimensionOverflow(tensor: name) }
                count = p
                dims.append(Int(ne))
            }
            let typeId = try r.read(UInt32.self)
            guard let type = GGMLType.from(id: typeId) else { throw GGUFError.unknownTensorType(tensor: name, type: typeId) }
            let rowLength = dims.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw GGUFError.rowNotBlockMultiple(tensor: name, rowLength: Int64(rowLength), blockSize: type.blockSize)
            }
            guard let nbytes = type.byteCount(elements: count) else { throw GGUFError.dimensionOverflow(tensor: name) }
            let offset = try r.read(UInt64.self)
            guard offset % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedTensor(tensor: name, offset: offset, alignment: alignment)
            }
            rawOffsets.append((offset, nbytes))
            tensors.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: 0, byteCount: nbytes))
        }

        var dataOffset = r.offset
        if nTensors > 0 {
            let rem = dataOffset % alignment
            if rem != 0 { dataOffset += alignment - rem }
            guard dataOffset <= buffer.count else {
                throw GGUFError.truncated(section: "padding before tensor data", offset: r.offset,
                                          needed: dataOffset - r.offset, available: buffer.count - r.offset)
            }
        }
        let dataSize = buffer.count - dataOffset
        for i in tensors.indices {
            let (offset, nbytes) = rawOffsets[i]
            guard offset <= UInt64(dataSize), UInt64(nbytes) <= UInt64(dataSize) - offset else {
                throw GGUFError.tensorDataOutOfBounds(tensor: tensors[i].name, offset: offset, bytes: nbytes, dataSize: dataSize)
            }
            let t = tensors[i]
            tensors[i] = GGUFTensorInfo(name: t.name, dims: t.dims, type: t.type, offset: Int(offset), byteCount: nbytes)
        }
        return Parsed(version: version, metadata: metadata, keys: keys, tensors: tensors, alignment: alignment,
                      dataOffset: dataOffset)
    }

    static func readValue(_ r: inout ByteReader, type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try r.read(UInt8.self))
        case .int8: return .int8(try r.read(Int8.self))
        case .uint16: return .uint16(try r.read(UInt16.self))
        case .int16: return .int16(try r.read(Int16.self))
        case .uint32: return .uint32(try r.read(UInt32.self))
        case .int32: return .int32(try r.read(Int32.self))
        case .float32: return .float32(try r.readFloat())
        case .uint64: return .uint64(try r.read(UInt64.self))
        case .int64: return .int64(try r.read(Int64.self))
        case .float64: return .float64(try r.readDouble())
        case .bool:
            let b = try r.read(UInt8.self)
            guard b <= 1 else { throw GGUFError.badBool(key: key, value: b) }
            return .bool(b == 1)
        case .string: return .string(try r.readString(context: "value of '\(key)'"))
        case .array:
            guard depth < maxArrayDepth else { throw GGUFError.nestingTooDeep(key: key) }
            let elemId = try r.read(UInt32.self)
            guard let elem = GGUFValueType(rawValue: elemId) else { throw GGUFError.unknownValueType(key: key, type: elemId) }
            let count = try r.read(UInt64.self)
            let minSize: UInt64 = switch elem {
            case .uint8, .int8, .bool: 1
            case .uint16, .int16: 2
            case .uint32, .int32, .float32: 4
            case .uint64, .int64, .float64, .string: 8
            case .array: 12
            }
            let limit = UInt64(r.remaining) / minSize
            guard count <= limit else {
                throw GGUFError.absurdCount(what: "array '\(key)' element", count: Int64(clamping: count), limit: Int64(limit))
            }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(count))
            for _ in 0..<Int(count) { items.append(try readValue(&r, type: elem, key: key, depth: depth + 1)) }
            return .array(elem, items)
        }
    }
}
