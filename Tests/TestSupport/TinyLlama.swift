import GGUF
import Llama
import TensorCore

/// Writes tiny random Llama models with the project's GGUF writer (as llama.cpp's test-gguf builds
/// its own files), so model tests need no download.
public enum TinyLlama {
    public static let defaultConfig = LlamaConfig(dim: 64, layers: 3, heads: 4, kvHeads: 2, ffnDim: 96,
                                                  vocabSize: 96, contextLength: 256, normEps: 1e-5, ropeBase: 10000)

    /// A GGUF image with random weights. `type` is the storage type of the matrices (F32 or Q8_0).
    /// `downBias` adds an `ffn_down.bias` to the last block; `headVocab` writes `mirrorsd.head_vocab`;
    /// `featureDraftFor` (a target's fingerprint) makes it a feature (EAGLE-style) draft of that target;
    /// `metadata` is set last (a real model's tokenizer keys, say). None of them changes the random weights
    /// drawn for the rest.
    public static func gguf(config c: LlamaConfig = defaultConfig, seed: UInt64 = 1, tied: Bool = true,
                            type: GGMLType = .f32, downBias: [Float]? = nil, headVocab: Int? = nil,
                            featureDraftFor targetFingerprint: String? = nil, metadata: [String: GGUFValue] = [:]) -> [UInt8] {
        var rng = SeededRNG(seed: seed)
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("general.name", .string("tiny-random-llama"))
        w.set("llama.context_length", .uint32(UInt32(c.contextLength)))
        w.set("llama.embedding_length", .uint32(UInt32(c.dim)))
        w.set("llama.block_count", .uint32(UInt32(c.layers)))
        w.set("llama.feed_forward_length", .uint32(UInt32(c.ffnDim)))
        w.set("llama.attention.head_count", .uint32(UInt32(c.heads)))
        w.set("llama.attention.head_count_kv", .uint32(UInt32(c.kvHeads)))
        w.set("llama.attention.layer_norm_rms_epsilon", .float32(c.normEps))
        w.set("llama.rope.freq_base", .float32(c.ropeBase))
        w.set("llama.rope.dimension_count", .uint32(UInt32(c.headDim)))
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.tokens", .array(.string, (0..<c.vocabSize).map { .string("t\($0)") }))
        if let headVocab { w.set(LlamaModel.headVocabKey, .uint32(UInt32(headVocab))) }

        func matrix(_ name: String, in inF: Int, out: Int, scale: Float) {
            let values = rng.floats(inF * out, scale: scale)
            if type == .q8_0 {
                w.addTensor(name: name, dims: [inF, out], type: .q8_0, data: quantizeQ8_0(values))
            } else {
                w.addTensor(name: name, dims: [inF, out], floats: values)
            }
        }
        func norm(_ name: String, _ n: Int) {
            var r = rng
            w.addTensor(name: name, dims: [n], floats: (0..<n).map { _ in 1 + r.float(0.1) })
            rng = r
        }
        matrix("token_embd.weight", in: c.dim, out: c.vocabSize, scale: 1)
        for l in 0..<c.layers {
            let p = "blk.\(l)."
            norm(p + "attn_norm.weight", c.dim)
            matrix(p + "attn_q.weight", in: c.dim, out: c.qDim, scale: 0.2)
            matrix(p + "attn_k.weight", in: c.dim, out: c.kvDim, scale: 0.2)
            matrix(p + "attn_v.weight", in: c.dim, out: c.kvDim, scale: 0.2)
            matrix(p + "attn_output.weight", in: c.qDim, out: c.dim, scale: 0.2)
            norm(p + "ffn_norm.weight", c.dim)
            matrix(p + "ffn_gate.weight", in: c.dim, out: c.ffnDim, scale: 0.2)
            matrix(p + "ffn_down.weight", in: c.ffnDim, out: c.dim, scale: 0.2)
            matrix(p + "ffn_up.weight", in: c.dim, out: c.ffnDim, scale: 0.2)
        }
        if let downBias { w.addTensor(name: "blk.\(c.layers - 1).ffn_down.bias", dims: [downBias.count], floats: downBias) }
        norm("output_norm.weight", c.dim)
        if !tied { matrix("output.weight", in: c.dim, out: c.vocabSize, scale: 0.5) }
        if let fp = targetFingerprint {
            w.set(FeatureDraftModel.kindKey, .string(FeatureDraftModel.kind))
            w.set(FeatureDraftModel.fingerprintKey, .string(fp))
            w.set(FeatureDraftModel.targetNameKey, .string("tiny-random-llama"))
            matrix("eagle.fc.weight", in: 2 * c.dim, out: c.dim, scale: 0.3)
            norm("eagle.in_norm.weight", c.dim)
        }
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { w.set(k, v) }
        return w.serialize()
    }

    /// ggml's reference Q8_0 quantizer (round half away from zero), blocks of {fp16 d, int8[32]}.
    public static func quantizeQ8_0(_ x: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(x.count / 32 * 34)
        for b in 0..<(x.count / 32) {
            let blk = x[(b * 32)..<(b * 32 + 32)]
            let amax = blk.map(abs).max() ?? 0
            let d = amax / 127
            let id: Float = d == 0 ? 0 : 1 / d
            let h = Dequantize.floatToFP16(d)
            out.append(UInt8(h & 0xFF))
            out.append(UInt8(h >> 8))
            for v in blk { out.append(UInt8(bitPattern: Int8((v * id).rounded(.toNearestOrAwayFromZero)))) }
        }
        return out
    }
}
