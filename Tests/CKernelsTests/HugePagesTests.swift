import TensorCore
import XCTest

/// The huge-page arena behind weights and KV caches: what it hands out is aligned, zero, disjoint and
/// writable, and a region goes away with the last buffer in it.
final class HugePagesTests: XCTestCase {
    func testStreamedBuffersAreZeroAlignedDisjointAndKeepTheirContents() throws {
        #if !os(Linux)
        throw XCTSkip("huge pages are asked for on Linux only")
        #else
        // Sizes around the arena's threshold and a region's share, odd ones included.
        let counts = [HugePages.minimumBytes / 4 - 1, HugePages.minimumBytes / 4, 300_001, 1 << 20, 3 << 20]
        var buffers: [FloatBuffer] = []
        for (i, n) in counts.enumerated() {
            let b = FloatBuffer(count: n, streamed: true)
            XCTAssertEqual(Int(bitPattern: b.pointer) % 64, 0, "count \(n)")
            XCTAssertTrue(b.buffer.allSatisfy { $0 == 0 }, "count \(n) is not zero")
            for j in 0..<n { b[j] = Float(i * 7 + j % 1000) }
            buffers.append(b)
        }
        // Every buffer still holds what was written to it: none overlaps another.
        for (i, b) in buffers.enumerated() {
            for j in stride(from: 0, to: b.count, by: 97) { XCTAssertEqual(b[j], Float(i * 7 + j % 1000)) }
            XCTAssertEqual(b[b.count - 1], Float(i * 7 + (b.count - 1) % 1000))
        }
        #endif
    }

    func testALargeBuffersRegionIsUnmappedWithIt() throws {
        #if !os(Linux)
        throw XCTSkip("huge pages are asked for on Linux only")
        #else
        let before = HugePages.mappedBytes
        var kv: KVBuffer? = KVBuffer(format: .f16, count: 6 << 20)  // 12 MB: a region of its own
        XCTAssertGreaterThanOrEqual(HugePages.mappedBytes - before, 12 << 20)
        kv!.store([1.5, -2.25], at: (6 << 20) - 2, count: 2)
        XCTAssertEqual(kv![(6 << 20) - 1], -2.25)
        XCTAssertEqual(kv![0], 0)
        kv = nil
        XCTAssertEqual(HugePages.mappedBytes, before)
        #endif
    }
}
