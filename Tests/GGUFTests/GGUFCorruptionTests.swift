import Foundation
import GGUF
import TestSupport
import XCTest

/// Hostile files, generated in-test: each gives its typed error, never a crash.
final class GGUFCorruptionTests: XCTestCase {
    let good = GGUFRoundTripTests.sampleWriter().serialize()

    func expect(_ bytes: [UInt8], _ what: String = "", file: StaticString = #filePath, line: UInt = #line,
                _ check: (GGUFError) -> Bool) {
        do {
            _ = try GGUFFile(bytes: bytes)
            XCTFail("accepted a corrupt file \(what)", file: file, line: line)
        } catch let e as GGUFError {
            XCTAssertTrue(check(e), "unexpected error: \(e)", file: file, line: line)
            XCTAssertFalse(e.description.isEmpty)
        } catch {
            XCTFail("non-GGUF error \(error)", file: file, line: line)
        }
    }

    func patch(_ bytes: [UInt8], at offset: Int, _ value: some FixedWidthInteger) -> [UInt8] {
        var b = bytes
        withUnsafeBytes(of: value.littleEndian) { for (i, x) in $0.enumerated() { b[offset + i] = x } }
        return b
    }

    /// Byte offset of the first occurrence of `s` (a length-prefixed string's bytes).
    func offset(of s: String, in bytes: [UInt8]) -> Int {
        let needle = Array(s.utf8)
        for i in 0...(bytes.count - needle.count) where Array(bytes[i..<(i + needle.count)]) == needle { return i }
        fatalError("\(s) not found")
    }

    func testTruncatedInEverySection() throws {
        let f = try GGUFFile(bytes: good)
        let dataStart = f.dataOffset
        // Every prefix up to the data section fails with a truncation (or, with no tensors left to
        // hold, still must not crash); cut points cover header, metadata, tensor infos and padding.
        for cut in Array(0..<64) + Array(stride(from: 64, to: dataStart, by: 7)) {
            expect(Array(good[0..<cut]), "cut at \(cut)") {
                if case .truncated = $0 { return true }
                if case .absurdCount = $0 { return true }  // counts checked against what is left
                return false
            }
        }
        // Cut inside tensor data.
        // Cut inside the last tensor (its 68 bytes are followed by 28 bytes of padding).
        expect(Array(good[0..<(good.count - 40)])) { if case .tensorDataOutOfBounds = $0 { return true }; return false }
    }

    func testBadMagicVersionAndEndianness() {
        expect(patch(good, at: 0, UInt32(0x4C4C_5546))) { if case .badMagic = $0 { return true }; return false }
        expect(patch(good, at: 4, UInt32(1))) { $0 == .unsupportedVersion(1) }
        expect(patch(good, at: 4, UInt32(4))) { $0 == .unsupportedVersion(4) }
        expect(patch(good, at: 4, UInt32(3) << 24)) { $0 == .bigEndian }
        expect([]) { if case .truncated = $0 { return true }; return false }
    }

    func testAbsurdCounts() {
        expect(patch(good, at: 8, Int64(1) << 60)) { if case .absurdCount(what: "tensor", _, _) = $0 { return true }; return false }
        expect(patch(good, at: 16, Int64(-1))) { if case .absurdCount(what: "metadata", _, _) = $0 { return true }; return false }
        // An array whose count runs past the end.
        let arr = offset(of: "arr", in: good) + 3 + 4 + 4  // key bytes, value type, element type
        expect(patch(good, at: arr, UInt64(1) << 50)) { if case .absurdCount = $0 { return true }; return false }
    }

    func testStringLengthPastTheEnd() {
        let s = offset(of: "general.architecture", in: good) - 8
        expect(patch(good, at: s, UInt64.max / 2)) { if case .truncated = $0 { return true }; return false }
        let v = offset(of: "héllo", in: good) - 8
        expect(patch(good, at: v, UInt64(good.count))) { if case .truncated = $0 { return true }; return false }
    }

    func testUnknownTypesAndBadValues() {
        let typeOffset = offset(of: "u8", in: good) + 2
        expect(patch(good, at: typeOffset, UInt32(13))) { $0 == .unknownValueType(key: "u8", type: 13) }
        // "f32" key, its type and value, then the "b" key's length, name and type, then its value.
        let boolOffset = offset(of: "f32", in: good) + 3 + 4 + 4 + 8 + 1 + 4
        expect(patch(good, at: boolOffset, UInt8(2))) { $0 == .badBool(key: "b", value: 2) }
        let tensorB = offset(of: "b", in: Array(good[offset(of: "nested", in: good)...])) + offset(of: "nested", in: good)
        // tensor "b": name, n_dims (1), ne[0], then the type id.
        expect(patch(good, at: tensorB + 1 + 4 + 8, UInt32(99))) { $0 == .unknownTensorType(tensor: "b", type: 99) }
        expect(patch(good, at: tensorB + 1, UInt32(5))) { $0 == .tooManyDimensions(tensor: "b", count: 5) }
        expect(patch(good, at: tensorB + 1 + 4, Int64(-3))) { $0 == .negativeDimension(tensor: "b", index: 0, value: -3) }
    }

    func testMisalignedAndOutOfBoundsTensorData() {
        let nested = offset(of: "nested", in: good)
        let tensorB = offset(of: "b", in: Array(good[nested...])) + nested
        let offsetField = tensorB + 1 + 4 + 8 + 4
        expect(patch(good, at: offsetField, UInt64(33))) { $0 == .misalignedTensor(tensor: "b", offset: 33, alignment: 32) }
        expect(patch(good, at: offsetField, UInt64(1 << 20))) { if case .tensorDataOutOfBounds(tensor: "b", _, _, _) = $0 { return true }; return false }
        expect(patch(good, at: offsetField, UInt64.max - 31)) { if case .tensorDataOutOfBounds = $0 { return true }; return false }
    }

    func testDimensionProductsThatOverflowAndRowsNotWholeBlocks() {
        var w = GGUFWriter()
        w.addTensor(name: "big", dims: [1 << 32, 1 << 32, 1 << 4], type: .f32, data: [])
        expect(w.serialize()) { $0 == .dimensionOverflow(tensor: "big") }
        var w2 = GGUFWriter()
        w2.addTensor(name: "q", dims: [33], type: .q8_0, data: [UInt8](repeating: 0, count: 68))
        expect(w2.serialize()) { $0 == .rowNotBlockMultiple(tensor: "q", rowLength: 33, blockSize: 32) }
    }

    func testDuplicatesEmptyKeysAlignmentAndUTF8() {
        var w = GGUFWriter()
        w.addTensor(name: "t", dims: [1], floats: [1])
        w.addTensor(name: "t", dims: [1], floats: [2])
        expect(w.serialize()) { $0 == .duplicateTensor("t") }
        // Rename key "i8" to "u8": a duplicate key.
        var dup = good
        let i8 = offset(of: "i8", in: good)
        dup[i8] = UInt8(ascii: "u")
        expect(dup) { $0 == .duplicateKey("u8") }
        var empty = GGUFWriter()
        empty.set("", .uint8(1))
        expect(empty.serialize()) { if case .emptyKey = $0 { return true }; return false }
        var align = GGUFWriter()
        align.set("general.alignment", .uint32(48))
        expect(align.serialize()) { if case .badAlignment = $0 { return true }; return false }
        var alignType = GGUFWriter()
        alignType.set("general.alignment", .int32(32))
        expect(alignType.serialize()) { if case .badAlignment = $0 { return true }; return false }
        var utf8 = good
        utf8[offset(of: "héllo", in: good) + 1] = 0xFF
        expect(utf8) { if case .invalidUTF8 = $0 { return true }; return false }
        var long = GGUFWriter()
        long.addTensor(name: String(repeating: "x", count: 64), dims: [1], floats: [1])
        expect(long.serialize()) { if case .tensorNameTooLong = $0 { return true }; return false }
    }

    func testRandomByteFlipsNeverCrash() {
        var rng = SeededRNG(seed: 41)
        for _ in 0..<2000 {
            var b = good
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let i = Int(rng.next() % UInt64(min(b.count, 700)))
                b[i] = UInt8(truncatingIfNeeded: rng.next())
            }
            _ = try? GGUFFile(bytes: b)
        }
    }

    func testMissingFileIsAClearError() {
        XCTAssertThrowsError(try GGUFFile(path: "/nonexistent/x.gguf")) {
            guard case let .cannotOpen(path, reason) = $0 as? GGUFError else { return XCTFail("\($0)") }
            XCTAssertEqual(path, "/nonexistent/x.gguf")
            XCTAssertTrue(reason.contains("No such file"))
        }
    }
}
