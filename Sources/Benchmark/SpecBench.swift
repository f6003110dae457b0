import Foundation

/// One Spec-Bench question (data/specbench/question.jsonl).
public struct SpecBenchQuestion: Codable, Sendable, Equatable {
    public let questionId: Int
    public let category: String
    public let turns: [String]

    enum CodingKeys: String, CodingKey { case questionId = "question_id", category, turns }

    public init(questionId: Int, category: String, turns: [String]) {
        self.questionId = questionId
        self.category = category
        self.turns = turns
    }

    /// Spec-Bench's six top-level tasks: the eight MT-bench labels pool into "mt_bench".
    public var task: String {
        ["writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"].contains(category)
            ? "mt_bench" : category
    }
}

public enum SpecBench {
    public static let tasks = ["mt_bench", "translation", "summarization", "qa", "math_reasoning", "rag"]

    public static func load(_ path: String) throws -> [SpecBenchQuestion] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let decoder = JSONDecoder()
        return try text.split(separator: "\n").enumerated().map { i, line in
            do { return try decoder.decode(SpecBenchQuestion.self, from: Data(line.utf8)) } catch {
                throw BenchError.badQuestion(line: i + 1, detail: "\(error)")
            }
        }
    }

    /// The first `perTask` questions of each task (by question id), in task order. For mt_bench
    /// they are spread over its eight categories (one of each before a second of any).
    public static func select(_ all: [SpecBenchQuestion], perTask: Int, tasks: [String] = SpecBench.tasks) -> [SpecBenchQuestion] {
        var out: [SpecBenchQuestion] = []
        for task in tasks {
            let pool = all.filter { $0.task == task }.sorted { $0.questionId < $1.questionId }
            if task == "mt_bench" {
                var byCat: [String: [SpecBenchQuestion]] = [:]
                for q in pool { byCat[q.category, default: []].append(q) }
                let cats = byCat.keys.sorted()
                var i = 0
                while out.filter({ $0.task == task }).count < min(perTask, pool.count) {
                    for c in cats where out.filter({ $0.task == task }).count < perTask {
                        if i < byCat[c]!.count { out.append(byCat[c]![i]) }
                    }
                    i += 1
                }
            } else {
                out += pool.prefix(perTask)
            }
        }
        return out
    }
}

public enum BenchError: Error, CustomStringConvertible {
    case badQuestion(line: Int, detail: String)
    case badModes(String)
    public var description: String {
        switch self {
        case let .badQuestion(l, d): return "question.jsonl line \(l): \(d)"
        case let .badModes(d): return "bad --modes: \(d)"
        }
    }
}
