import Foundation
import GGUF

// libFuzzer target: the SmolLM2 tokenizer (read once from the model's GGUF metadata) encoding random
// bytes as text, with and without special-token parsing, and decoding random ids. Decode may refuse an
// id with an error; nothing may trap.
let tokenizer: Tokenizer = {
    let path = ProcessInfo.processInfo.environment["MIRRORSD_FUZZ_MODEL"] ?? "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    return try! Tokenizer(file: GGUFFile(path: path))
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let buf = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: buf, as: UTF8.self)
    let ids = tokenizer.encode(text, parseSpecial: size % 2 == 0)
    _ = try? tokenizer.decode(ids)
    var raw: [Int32] = []
    var i = 0
    while i + 4 <= size {
        raw.append(Int32(bitPattern: UInt32(buf[i]) | UInt32(buf[i + 1]) << 8 | UInt32(buf[i + 2]) << 16 | UInt32(buf[i + 3]) << 24))
        i += 4
    }
    _ = try? tokenizer.decode(raw, special: size % 3 == 0)
    return 0
}
