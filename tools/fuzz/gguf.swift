// libFuzzer target: GGUF parsing from raw bytes (header, metadata, tensor table, alignment, bounds).
// Every input must be accepted or refused with a GGUFError; anything else (a trap, a sanitizer
// report, a hang) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let f = try? GGUFFile(bytes: bytes) {
        for t in f.tensors { _ = f.bytes(of: t) }
        for k in f.metadata.keys {
            _ = try? f.string(k)
            _ = try? f.int(k)
            _ = try? f.stringArray(k)
        }
    }
    return 0
}
