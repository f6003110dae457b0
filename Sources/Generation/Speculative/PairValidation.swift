import Tokenizer

public enum PairError: Error, CustomStringConvertible, Equatable {
    case vocabularyMismatch(String)
    public var description: String {
        switch self { case let .vocabularyMismatch(d): return "draft and target vocabularies differ: \(d)" }
    }
}

/// Refuses a draft whose vocabulary is not the target's: size, special ids, or token texts.
public func validatePair(target: Vocabulary, draft: Vocabulary) throws {
    if target.count != draft.count {
        throw PairError.vocabularyMismatch("the target has \(target.count) tokens, the draft \(draft.count)")
    }
    for (name, t, d) in [("BOS", target.bosId, draft.bosId), ("EOS", target.eosId, draft.eosId),
                         ("PAD", target.padId, draft.padId), ("UNK", target.unknownId, draft.unknownId)] where t != d {
        throw PairError.vocabularyMismatch("\(name) id is \(t.map(String.init) ?? "none") in the target, \(d.map(String.init) ?? "none") in the draft")
    }
    if target.fingerprint != draft.fingerprint {
        let first = zip(target.tokens, draft.tokens).enumerated().first { $0.element.0 != $0.element.1 }
        let detail = first.map { "token \($0.offset) is '\($0.element.0)' in the target, '\($0.element.1)' in the draft" }
            ?? "token types or tokenizer model differ"
        throw PairError.vocabularyMismatch("token texts hash differently (\(String(target.fingerprint, radix: 16)) vs \(String(draft.fingerprint, radix: 16))): \(detail)")
    }
}
