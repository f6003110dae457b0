import Engine
import Foundation
import TensorCore

/// Counters for `GET /metrics` (Prometheus text format 0.0.4).
final class Metrics: Sendable {
    struct State {
        var requests: [String: Int] = [:]  // "endpoint status" -> count
        var promptTokens = 0
        var completionTokens = 0
        var generationSeconds = 0.0
        var completed = 0
        var cancelled = 0
        var draftedTokens = 0
        var acceptedTokens = 0
        var mirrorRounds = 0
        var mirrorReused = 0
        /// Whole (unbatched) generations by mode: tokens and seconds.
        var wholeTokens: [String: Int] = [:]
        var wholeSeconds: [String: Double] = [:]
    }
    private let state = Locked(State())

    func request(_ endpoint: String, status: Int) {
        state.withLock { $0.requests["\(endpoint) \(status)", default: 0] += 1 }
    }

    func generation(prompt: Int, completion: Int, seconds: Double, drafted: Int, accepted: Int, rounds: Int, reused: Int, cancelled: Bool) {
        state.withLock { s in
            s.promptTokens += prompt
            s.completionTokens += completion
            s.generationSeconds += seconds
            s.completed += 1
            if cancelled { s.cancelled += 1 }
            s.draftedTokens += drafted
            s.acceptedTokens += accepted
            s.mirrorRounds += rounds
            s.mirrorReused += reused
        }
    }

    /// A generation run whole (not in the batch) in `mode`.
    func whole(mode: String, tokens: Int, seconds: Double) {
        state.withLock { s in
            s.wholeTokens[mode, default: 0] += tokens
            s.wholeSeconds[mode, default: 0] += seconds
        }
    }

    func goodputLines(_ s: State, batch: BatchFigures?) -> [String] {
        var lines: [String] = []
        if let b = batch { lines.append("mirrorsd_goodput_tokens_per_second{mode=\"batch\"} \(per(Double(b.tokens), b.stepSeconds))") }
        for (mode, tokens) in s.wholeTokens.sorted(by: { $0.key < $1.key }) {
            let sec = s.wholeSeconds[mode] ?? 0
            lines.append("mirrorsd_goodput_tokens_per_second{mode=\"\(mode)\"} \(per(Double(tokens), sec))")
        }
        return lines
    }

    /// Mean seconds a generation took, for Retry-After.
    var meanGenerationSeconds: Double { state.withLock { $0.completed > 0 ? $0.generationSeconds / Double($0.completed) : 1 } }

    func text(queueDepth: Int, queueCapacity: Int, batch: BatchFigures? = nil) -> String {
        let s = state.withLock { $0 }
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ lines: [String]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" + lines.map { $0 + "\n" }.joined()
        }
        func metric(_ name: String, _ type: String, _ help: String, value: some CustomStringConvertible) {
            metric(name, type, help, ["\(name) \(value)"])
        }
        metric("mirrorsd_requests_total", "counter", "HTTP requests by endpoint and status.",
               s.requests.sorted { $0.key < $1.key }.map { k, v in
                   let parts = k.split(separator: " ")
                   return "mirrorsd_requests_total{endpoint=\"\(parts[0])\",status=\"\(parts[1])\"} \(v)"
               })
        metric("mirrorsd_prompt_tokens_total", "counter", "Prompt tokens processed.", value: s.promptTokens)
        metric("mirrorsd_completion_tokens_total", "counter", "Tokens generated.", value: s.completionTokens)
        metric("mirrorsd_generation_seconds_total", "counter", "Seconds spent generating (prefill and decode).", value: s.generationSeconds)
        metric("mirrorsd_generations_total", "counter", "Generations finished, cancelled ones included.", value: s.completed)
        metric("mirrorsd_generations_cancelled_total", "counter", "Generations stopped because the client went away.", value: s.cancelled)
        metric("mirrorsd_tokens_per_second", "gauge", "Completion tokens per generation second, over the server's life.",
               value: per(Double(s.completionTokens), s.generationSeconds))
        metric("mirrorsd_acceptance_rate", "gauge", "Accepted / drafted tokens over all speculative generations.",
               value: per(Double(s.acceptedTokens), Double(s.draftedTokens)))
        metric("mirrorsd_mirror_reuse_rate", "gauge", "Mirror-SD rounds whose next window was prepared in time.",
               value: per(Double(s.mirrorReused), Double(s.mirrorRounds)))
        metric("mirrorsd_queue_depth", "gauge", "Requests waiting or running.", value: queueDepth)
        metric("mirrorsd_queue_capacity", "gauge", "Requests that may wait beyond the running ones.", value: queueCapacity)
        if let b = batch {
            metric("mirrorsd_batch_slots", "gauge", "Sequences the batch holds at once (--parallel).", value: b.slots)
            metric("mirrorsd_batch_slots_in_use", "gauge", "Sequences in the batch now.", value: b.active)
            metric("mirrorsd_batch_steps_total", "counter", "Batched forwards run.", value: b.steps)
            metric("mirrorsd_batch_rows_total", "counter", "Rows in the batched forwards (decode rows, drafted rows and prefill chunks).",
                   value: b.rows)
            metric("mirrorsd_batch_rows_per_step", "gauge", "Rows per batched forward, over the server's life.",
                   value: per(Double(b.rows), Double(b.steps)))
            metric("mirrorsd_batch_step_seconds_total", "counter", "Seconds in batched forwards.", value: b.stepSeconds)
            metric("mirrorsd_batch_step_seconds_mean", "gauge", "Mean seconds of a batched forward.",
                   value: per(b.stepSeconds, Double(b.steps)))
            metric("mirrorsd_batch_drafted_tokens_total", "counter", "Tokens the batch's draft guessed and fed for checking.",
                   value: b.drafted)
            metric("mirrorsd_batch_accepted_tokens_total", "counter", "Drafted tokens the target agreed with (kept).", value: b.accepted)
            metric("mirrorsd_batch_speculating_steps_total", "counter", "Batched forwards that held drafted rows.",
                   value: b.speculatingSteps)
            metric("mirrorsd_prefix_reuse_total", "counter", "Requests whose prompt began with what a slot held (its KV was reused).",
                   value: b.prefixHits)
            metric("mirrorsd_prefix_reuse_tokens_total", "counter", "Prompt positions not prefilled again thanks to prefix reuse.",
                   value: b.prefixTokens)
            metric("mirrorsd_prefix_copies_total", "counter",
                   "Of those requests, the ones whose prefix was copied from another slot (a shared system prompt, another user's earlier turn).",
                   value: b.prefixCopies)
            metric("mirrorsd_kv_positions_in_use", "gauge", "Positions whose keys and values the batch's slots hold (reusable prefixes included).",
                   value: b.kvPositions)
            metric("mirrorsd_kv_bytes_in_use", "gauge", "Bytes of those keys and values.",
                   value: Double(b.kvPositions) * b.kvBytesPerPosition)
            metric("mirrorsd_compute_chunks_moved_total", "counter",
                   "Chunks of the products and attention that one compute thread took over from the other, descheduled or slower (other work on the same cores).",
                   value: b.chunksMoved)
        }
        metric("mirrorsd_goodput_tokens_per_second", "gauge",
               "Tokens per second of compute by how they were decoded: batch (batched forwards, drafting included), and the whole requests run alone by mode.",
               goodputLines(s, batch: batch))
        return out
    }
}

/// a / b, or 0 before anything was counted.
private func per(_ a: Double, _ b: Double) -> Double { b > 0 ? a / b : 0 }
