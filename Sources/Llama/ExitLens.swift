import Compute
import GGUF
import TensorCore

/// A trained exit lens (tuned-lens style) for one layer of one target: the proxy logits after layer ℓ
/// are head(w ⊙ rms_norm(A·u + b)) with u = h / rms(h), instead of the raw head(w ⊙ rms_norm(h)).
/// With A = I and b = 0 it is the raw lens. It changes the early-exit proxy only, never the output.
///
/// File format (GGUF, written by tools/lens/train.py): `general.architecture` = "mirrorsd.exit_lens",
/// `mirrorsd.lens.target_fingerprint` (LlamaModel.fingerprint of the target it was trained on),
/// `mirrorsd.lens.dim`, and per layer ℓ the tensors `lens.ℓ.weight` [dim, dim] and `lens.ℓ.bias` [dim].
public final class ExitLens: Sendable {
    public let layer: Int
    public let weight: any LinearWeight
    public let bias: FloatBuffer
    /// rms_norm's weight for u: all ones (the lens's A absorbs any gain).
    let unitGain: FloatBuffer

    public static let architecture = "mirrorsd.exit_lens"
    public static let fingerprintKey = "mirrorsd.lens.target_fingerprint"
    public static let targetNameKey = "mirrorsd.lens.target_name"
    public static let dimKey = "mirrorsd.lens.dim"

    /// The layers a lens file holds, sorted, after checking its kind (not yet its target).
    public static func layers(in file: GGUFFile) throws -> [Int] {
        let arch = (try? file.string("general.architecture")) ?? "none"
        guard arch == architecture else {
            throw LensError.notALens(path: file.displayPath, architecture: arch)
        }
        var out: [Int] = []
        for t in file.tensors {
            let parts = t.name.split(separator: ".")
            guard parts.count == 3, parts[0] == "lens", parts[2] == "weight", let l = Int(parts[1]) else { continue }
            out.append(l)
        }
        guard !out.isEmpty else { throw LensError.noLayers(path: file.displayPath) }
        return out.sorted()
    }

    /// Binds the lens for `layer` to `model`'s backend, after checking that the file was trained on
    /// this model (same fingerprint) and holds that layer.
    public init(file: GGUFFile, layer: Int, model: LlamaModel) throws {
        let available = try ExitLens.layers(in: file)
        let fp = try file.string(ExitLens.fingerprintKey)
        guard fp == model.fingerprint else {
            let name = (try? file.string(ExitLens.targetNameKey)) ?? "another model"
            throw LensError.otherTarget(path: file.displayPath, trainedFor: name, fingerprint: fp, target: model.fingerprint)
        }
        let dim = model.config.dim
        let fileDim = try file.int(ExitLens.dimKey, in: 1...65536)
        guard fileDim == dim else { throw LensError.shape(path: file.displayPath, detail: "width \(fileDim), the target's is \(dim)") }
        guard available.contains(layer) else { throw LensError.noLayer(path: file.displayPath, layer: layer, available: available) }
        guard (1..<model.config.layers).contains(layer) else {
            throw LensError.shape(path: file.displayPath, detail: "layer \(layer) is not inside 1..<\(model.config.layers)")
        }
        let w = "lens.\(layer).weight", b = "lens.\(layer).bias"
        guard let wi = file.tensor(named: w), wi.dims == [dim, dim] else {
            throw LensError.shape(path: file.displayPath, detail: "'\(w)' must be [\(dim), \(dim)], is \(file.tensor(named: w)?.dims ?? [])")
        }
        guard let bi = file.tensor(named: b), bi.dims == [dim] else {
            throw LensError.shape(path: file.displayPath, detail: "'\(b)' must be [\(dim)], is \(file.tensor(named: b)?.dims ?? [])")
        }
        // Dequantize.toFloat checks every value is finite; the backend then stores A in its own format.
        _ = try Dequantize.toFloatBuffer(wi, bytes: file.bytes(of: wi))
        self.layer = layer
        weight = try model.backend.prepare(wi, bytes: file.bytes(of: wi))
        bias = try Dequantize.toFloatBuffer(bi, bytes: file.bytes(of: bi))
        unitGain = FloatBuffer(count: dim)
        unitGain.pointer.update(repeating: 1, count: dim)
    }
}

public enum LensError: Error, CustomStringConvertible, Equatable {
    case notALens(path: String, architecture: String)
    case noLayers(path: String)
    case otherTarget(path: String, trainedFor: String, fingerprint: String, target: String)
    case noLayer(path: String, layer: Int, available: [Int])
    case shape(path: String, detail: String)

    public var description: String {
        switch self {
        case let .notALens(p, a):
            return "'\(p)' is not an exit-lens file (its general.architecture is '\(a)', expected '\(ExitLens.architecture)')"
        case let .noLayers(p): return "exit-lens file '\(p)' holds no lens.<layer>.weight tensor"
        case let .otherTarget(p, n, f, t):
            return "exit lens '\(p)' was trained for \(n) (fingerprint \(f)), not for this target (fingerprint \(t))"
        case let .noLayer(p, l, a):
            return "exit lens '\(p)' has no lens for layer \(l); it has layers \(a.map(String.init).joined(separator: ", ")) (pick one with --exit-layer)"
        case let .shape(p, d): return "exit lens '\(p)': \(d)"
        }
    }
}

extension GGUFFile {
    var displayPath: String { path ?? "(in memory)" }
}

extension LlamaModel {
    /// The fingerprint of the model in `file`, without binding it (for `inspect`).
    public static func fingerprint(of file: GGUFFile) throws -> String {
        let c = try LlamaConfig(file: file)
        var names = (0..<c.layers).flatMap { ["blk.\($0).attn_norm.weight", "blk.\($0).ffn_norm.weight"] }
        names.append("output_norm.weight")
        let norms = try names.map { name -> FloatBuffer in
            guard let t = file.tensor(named: name) else { throw LlamaError.missingTensor(name) }
            return try Dequantize.toFloatBuffer(t, bytes: file.bytes(of: t))
        }
        return fingerprint(config: c, norms: norms)
    }

    /// Identifies a model's weights across quantizations: FNV-1a over its shape and every norm
    /// weight (llama.cpp keeps norms in fp32 when it quantizes, so Q4_1 and f32 files agree).
    static func fingerprint(config c: LlamaConfig, norms: [FloatBuffer]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ v: UInt64) {
            var v = v
            for _ in 0..<8 { h = (h ^ (v & 0xff)) &* 0x0000_0100_0000_01b3; v >>= 8 }
        }
        for v in [c.dim, c.layers, c.heads, c.kvHeads, c.ffnDim, c.vocabSize] { mix(UInt64(v)) }
        for n in norms {
            for i in 0..<n.count { mix(UInt64(n.pointer[i].bitPattern)) }
        }
        return "fnv1a64:" + String(h, radix: 16)
    }
}
