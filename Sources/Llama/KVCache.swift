import TensorCore

/// The keys and values of `sequences` sequences of up to `maxContext` positions each, for every layer,
/// allocated once in one format. A session holds one sequence (and its tree of pending branches), a
/// batch one per slot; both hand the layer math a layer's buffers and a sequence's offset into them.
final class KVCache {
    let layers: Int
    let kvDim: Int
    let maxContext: Int
    /// Per layer: sequence s's position p starts at element `offset(s, p)`.
    let keys: [KVBuffer]
    let values: [KVBuffer]

    init(config: LlamaConfig, format: KVFormat, sequences: Int, maxContext: Int) {
        precondition(sequences >= 1 && maxContext >= 1)
        layers = config.layers
        kvDim = config.kvDim
        self.maxContext = maxContext
        let elements = sequences * maxContext * config.kvDim
        keys = (0..<config.layers).map { _ in KVBuffer(format: format, count: elements) }
        values = (0..<config.layers).map { _ in KVBuffer(format: format, count: elements) }
    }

    /// The element where `position` of `sequence` starts, in every layer's keys and values.
    func offset(_ sequence: Int, _ position: Int = 0) -> Int { (sequence * maxContext + position) * kvDim }

    /// Copies positions `positions` of sequence `source` to the same positions of `destination`, in
    /// every layer.
    func copy(positions: Range<Int>, from source: Int, to destination: Int) {
        precondition(source != destination && positions.lowerBound >= 0 && positions.upperBound <= maxContext)
        let from = offset(source, positions.lowerBound), to = offset(destination, positions.lowerBound)
        let n = positions.count * kvDim
        for l in 0..<layers {
            keys[l].copy(from: from, of: keys[l], to: to, count: n)
            values[l].copy(from: from, of: values[l], to: to, count: n)
        }
    }

    /// Moves position `source` of `sequence` to its position `destination`, in every layer (a tree
    /// commit: a kept branch's node takes the place of the first node it follows).
    func move(sequence: Int, from source: Int, to destination: Int) {
        let from = offset(sequence, source), to = offset(sequence, destination)
        for l in 0..<layers {
            keys[l].move(from: from, to: to, count: kvDim)
            values[l].move(from: from, to: to, count: kvDim)
        }
    }
}
