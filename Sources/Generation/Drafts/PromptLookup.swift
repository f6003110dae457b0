/// Prompt lookup (llama.cpp's n-gram "lookup decoding"): the most recent earlier occurrence of the
/// context's last n tokens (n = maxN down to minN), and what followed it there. Costs no forward, so
/// a batch can draft for every sequence at every step for free; whether the drafted rows pay is the
/// batch's goodput controller's call.
public enum PromptLookup {
    /// Where the continuation of the longest matching suffix starts in `ctx`, or nil. The match must
    /// end before the suffix itself, so the continuation holds at least one token.
    public static func match(_ ctx: UnsafeBufferPointer<Int32>, maxN: Int = 3, minN: Int = 1) -> Int? {
        let len = ctx.count
        var n = min(maxN, len - 1)
        while n >= max(minN, 1) {
            // The suffix ctx[len-n ..< len]; windows most recent first.
            var start = len - n - 1
            while start >= 0 {
                var same = true
                for i in 0..<n where ctx[start + i] != ctx[len - n + i] { same = false; break }
                if same { return start + n }
                start -= 1
            }
            n -= 1
        }
        return nil
    }

    /// Appends up to `limit` tokens that followed the match to `out`; returns how many.
    @discardableResult
    public static func propose(_ ctx: UnsafeBufferPointer<Int32>, limit: Int, appendingTo out: inout [Int32], maxN: Int = 3, minN: Int = 1) -> Int {
        guard limit > 0, let from = match(ctx, maxN: maxN, minN: minN) else { return 0 }
        let end = min(ctx.count, from + limit)
        for i in from..<end { out.append(ctx[i]) }
        return end - from
    }
}
