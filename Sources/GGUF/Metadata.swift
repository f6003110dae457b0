/// Typed, checked access to metadata values.
extension GGUFFile {
    public func value(_ key: String) throws -> GGUFValue {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key) }
        return v
    }

    public func string(_ key: String) throws -> String {
        let v = try value(key)
        guard case let .string(s) = v else { throw GGUFError.wrongValueType(key: key, expected: "string", found: "\(v.type)") }
        return s
    }

    /// Any integer type, range-checked into `range`.
    public func int(_ key: String, in range: ClosedRange<Int64> = 0...Int64(Int32.max)) throws -> Int {
        let v = try value(key)
        guard let i = v.integer else { throw GGUFError.wrongValueType(key: key, expected: "integer", found: "\(v.type)") }
        guard range.contains(i) else { throw GGUFError.valueOutOfRange(key: key, detail: "\(i) is outside \(range)") }
        return Int(i)
    }

    public func float(_ key: String) throws -> Float {
        let v = try value(key)
        guard let d = v.double else { throw GGUFError.wrongValueType(key: key, expected: "float", found: "\(v.type)") }
        return Float(d)
    }

    public func bool(_ key: String) throws -> Bool {
        let v = try value(key)
        guard case let .bool(b) = v else { throw GGUFError.wrongValueType(key: key, expected: "bool", found: "\(v.type)") }
        return b
    }

    public func array(_ key: String) throws -> [GGUFValue] {
        let v = try value(key)
        guard case let .array(_, items) = v else { throw GGUFError.wrongValueType(key: key, expected: "array", found: "\(v.type)") }
        return items
    }

    public func stringArray(_ key: String) throws -> [String] {
        try array(key).map {
            guard case let .string(s) = $0 else { throw GGUFError.wrongValueType(key: key, expected: "array of string", found: "array of \($0.type)") }
            return s
        }
    }

    public func floatArray(_ key: String) throws -> [Float] {
        try array(key).map {
            guard let d = $0.double else { throw GGUFError.wrongValueType(key: key, expected: "array of float", found: "array of \($0.type)") }
            return Float(d)
        }
    }

    public func intArray(_ key: String) throws -> [Int] {
        try array(key).map {
            guard let i = $0.integer else { throw GGUFError.wrongValueType(key: key, expected: "array of integer", found: "array of \($0.type)") }
            return Int(i)
        }
    }
}
