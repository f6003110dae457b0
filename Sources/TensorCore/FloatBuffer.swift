/// 64-byte aligned, owned storage of `count` elements, zero-initialized. Allocated once (at load or
/// when a session is planned), never on the per-token path.
public final class AlignedBuffer<Element: BitwiseCopyable>: @unchecked Sendable {
    // Sendable: weights are written once at load and then only read; activation buffers belong to
    // one session, which belongs to one thread.
    public let count: Int
    public let pointer: UnsafeMutablePointer<Element>
    private let storage: ByteStorage

    /// `streamed`: every forward reads the whole buffer (a packed weight), so where it is large enough
    /// it goes on huge pages (`HugePages`).
    public init(count: Int, streamed: Bool = false) {
        self.count = count
        storage = ByteStorage(bytes: max(count * MemoryLayout<Element>.stride, 64), hugePages: streamed)
        pointer = storage.pointer.bindMemory(to: Element.self, capacity: max(count, 1))
    }

    public var bytes: Int { count * MemoryLayout<Element>.stride }
    public var buffer: UnsafeMutableBufferPointer<Element> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public subscript(i: Int) -> Element {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
    public func toArray() -> [Element] { Array(buffer) }
}

public typealias FloatBuffer = AlignedBuffer<Float>
