import Foundation
import GGUF
import TensorCore
import TestSupport
import XCTest

final class GGUFRoundTripTests: XCTestCase {
    static func sampleWriter() -> GGUFWriter {
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("u8", .uint8(7)); w.set("i8", .int8(-7)); w.set("u16", .uint16(65535)); w.set("i16", .int16(-300))
        w.set("u32", .uint32(4_000_000_000)); w.set("i32", .int32(-5)); w.set("f32", .float32(1.5)); w.set("b", .bool(true))
        w.set("s", .string("héllo 🙂")); w.set("u64", .uint64(1 << 40)); w.set("i64", .int64(-(1 << 40))); w.set("f64", .float64(2.25))
        w.set("empty", .string(""))
        w.set("arr", .array(.int32, [.int32(1), .int32(-2), .int32(3)]))
        w.set("strs", .array(.string, [.string("a"), .string(""), .string("ccc")]))
        w.set("nested", .array(.array, [.array(.uint8, [.uint8(1), .uint8(2)]), .array(.uint8, [])]))
        w.addTensor(name: "a", dims: [3, 2], floats: [1, 2, 3, 4, 5, 6])
        w.addTensor(name: "b", dims: [5], floats: [9, 8, 7, 6, 5])
        w.addTensor(name: "q", dims: [64, 1], type: .q8_0, data: TinyLlama.quantizeQ8_0((0..<64).map { Float($0) / 10 }))
        return w
    }

    func testEveryValueTypeAndTensorRoundTrips() throws {
        let w = Self.sampleWriter()
        let f = try GGUFFile(bytes: w.serialize())
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.keys, w.metadata.map(\.0))
        for (k, v) in w.metadata { XCTAssertEqual(f.metadata[k], v, k) }
        XCTAssertEqual(f.tensors.map(\.name), ["a", "b", "q"])
        XCTAssertEqual(f.tensors[0].dims, [3, 2])
        XCTAssertEqual(f.tensors[0].rowMajorShape, [2, 3])
        // Back to back, each padded to the alignment: the layout llama.cpp's reader requires.
        XCTAssertEqual(f.tensors.map(\.offset), [0, 32, 64])
        XCTAssertEqual(f.dataOffset % 32, 0)
        let a = try Dequantize.toFloatBuffer(f.tensors[0], bytes: f.bytes(of: f.tensors[0]))
        XCTAssertEqual(a.toArray(), [1, 2, 3, 4, 5, 6])
        let q = try Dequantize.toFloatBuffer(f.tensors[2], bytes: f.bytes(of: f.tensors[2]))
        for (i, v) in q.toArray().enumerated() { XCTAssertEqual(v, Float(i) / 10, accuracy: 0.03) }
        XCTAssertEqual(try f.int("u32", in: 0...Int64(UInt32.max)), 4_000_000_000)
        XCTAssertEqual(try f.stringArray("strs"), ["a", "", "ccc"])
        XCTAssertThrowsError(try f.string("u8")) { XCTAssertEqual($0 as? GGUFError, .wrongValueType(key: "u8", expected: "string", found: "uint8")) }
        XCTAssertThrowsError(try f.string("nope")) { XCTAssertEqual($0 as? GGUFError, .missingKey("nope")) }
    }

    func testCustomAlignmentAndFileRoundTrip() throws {
        var w = Self.sampleWriter()
        w.set("general.alignment", .uint32(64))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rt-\(getpid()).gguf").path
        defer { unlink(path) }
        try w.write(to: path)
        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.tensors.map(\.offset), [0, 64, 128])
        XCTAssertEqual(f.dataOffset % 64, 0)
        XCTAssertEqual(f.fileSize, w.serialize().count)
    }

    func testNoTensorsAndNoMetadata() throws {
        let f = try GGUFFile(bytes: GGUFWriter().serialize())
        XCTAssertTrue(f.tensors.isEmpty)
        XCTAssertTrue(f.keys.isEmpty)
    }

    func testDequantizesQ4_0AndQ4_1AndHalfTypes() throws {
        // One Q4_1 block: d = 0.5, m = -1, nibbles j (low) and 15 - j (high).
        var q41: [UInt8] = []
        let d = Dequantize.floatToFP16(0.5), m = Dequantize.floatToFP16(-1)
        q41 += [UInt8(d & 0xFF), UInt8(d >> 8), UInt8(m & 0xFF), UInt8(m >> 8)]
        for j in 0..<16 { q41.append(UInt8(j) | UInt8(15 - j) << 4) }
        var q40: [UInt8] = [UInt8(d & 0xFF), UInt8(d >> 8)]
        for j in 0..<16 { q40.append(UInt8(j) | UInt8(15 - j) << 4) }
        var w = GGUFWriter()
        w.addTensor(name: "q41", dims: [32], type: .q4_1, data: q41)
        w.addTensor(name: "q40", dims: [32], type: .q4_0, data: q40)
        let halves: [Float] = [1, -2.5, 65504, 0.000061035156]
        w.addTensor(name: "f16", dims: [4], type: .f16, data: halves.flatMap { v -> [UInt8] in
            let h = Dequantize.floatToFP16(v); return [UInt8(h & 0xFF), UInt8(h >> 8)] })
        w.addTensor(name: "bf16", dims: [2], type: .bf16, data: [0x80, 0x3F, 0x20, 0xC0])  // 1.0, -2.5
        let f = try GGUFFile(bytes: w.serialize())
        func floats(_ n: String) throws -> [Float] {
            let t = f.tensor(named: n)!
            return try Dequantize.toFloatBuffer(t, bytes: f.bytes(of: t)).toArray()
        }
        let a = try floats("q41"), b = try floats("q40")
        for j in 0..<16 {
            XCTAssertEqual(a[j], 0.5 * Float(j) - 1)
            XCTAssertEqual(a[j + 16], 0.5 * Float(15 - j) - 1)
            XCTAssertEqual(b[j], 0.5 * Float(j - 8))
            XCTAssertEqual(b[j + 16], 0.5 * Float(7 - j))
        }
        XCTAssertEqual(try floats("f16"), halves)
        XCTAssertEqual(try floats("bf16"), [1, -2.5])
    }
}
