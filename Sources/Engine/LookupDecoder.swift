import Generation

/// Plain decoding of one request that also feeds prompt lookup's guesses where the goodput rule finds
/// the extra rows pay: a one-slot `BatchDecoder`, the code `serve` runs for many. The tokens are plain
/// decoding's (see `ARSequence`).
final class LookupDecoder: TokenDecoder {
    let batch: BatchDecoder

    init(batch: BatchDecoder) { self.batch = batch }

    func decode(prompt: [Int32], options: GenerationOptions, onText: (String) -> Bool) throws -> DecodeResult {
        // Each request prefills its whole prompt, as the other decoders do (no reuse of the last one's).
        batch.forgetHeldPrefixes()
        var result: Result<DecodeResult, any Error>? = nil
        try withoutActuallyEscaping(onText) { text in
            guard try batch.add(prompt: prompt, options: options, onText: text, done: { result = $0 }) != nil else {
                preconditionFailure("the one slot is free between requests")
            }
            while result == nil { batch.step() }
        }
        return try result!.get()
    }
}
