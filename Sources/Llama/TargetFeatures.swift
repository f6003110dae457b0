import TensorCore

/// The target's last hidden state (the residual stream after its last layer, before the final norm) at
/// every position it has run and kept: what a `FeatureDraft` reads. A session with `features` set writes
/// here after each full forward of a causal batch and cuts it back when it truncates, so positions
/// `0..<count` always belong to the committed sequence the target holds.
///
/// Owned by one thread: the target and the draft take turns on it (serial speculative decoding).
public final class TargetFeatures: @unchecked Sendable {
    public let dim: Int
    public let capacity: Int
    let rows: FloatBuffer
    /// Positions `0..<count` hold the target's features.
    public private(set) var count = 0

    public init(dim: Int, capacity: Int) {
        precondition(dim > 0 && capacity > 0)
        self.dim = dim
        self.capacity = capacity
        rows = FloatBuffer(count: dim * capacity)
    }

    /// Records `n` rows for positions `position..<position+n`. A batch that starts past `count` leaves a gap
    /// no position could be read across, so it is not recorded.
    func write(_ src: UnsafePointer<Float>, rows n: Int, at position: Int) {
        guard position <= count, position + n <= capacity else { return }
        (rows.pointer + position * dim).update(from: src, count: n * dim)
        count = position + n
    }

    public func truncate(to length: Int) { count = min(count, max(0, length)) }

    /// The feature at `position` (< count).
    public func row(_ position: Int) -> UnsafePointer<Float> {
        precondition(position >= 0 && position < count)
        return UnsafePointer(rows.pointer + position * dim)
    }
}
