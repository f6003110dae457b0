import Foundation

// libFuzzer target: the server's request decoder on random bodies, for both endpoints. Every input must
// decode or be refused with an APIError; nothing may trap, and a refusal must carry a 4xx status.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOpenAIRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let body = Data(bytes: data, count: size)
    for endpoint in [Endpoint.chat, .completions] {
        do throws(APIError) {
            let r = try decodeCompletionRequest(body, endpoint: endpoint)
            precondition(r.stop.count <= RequestLimits.maxStopStrings && r.temperature >= 0 && r.temperature <= 2)
            precondition(r.maxTokens.map { $0 >= 1 } ?? true)
        } catch {
            precondition((400..<500).contains(error.status), "a refusal with status \(error.status)")
            _ = error.json()
        }
    }
    return 0
}
