import Foundation

/// Samples /proc to tell how much CPU other processes used while we measured, so each number can
/// be marked when the shared machine was busy (REFERENCE.md §9.4).
public struct CPULoadMonitor {
    private var lastTotal: UInt64 = 0
    private var lastIdle: UInt64 = 0
    private var lastSelf: UInt64 = 0

    public init() { _ = sample() }

    static func readAll(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    /// Foreign CPU use since the previous call, in cores (0 = quiet; 1 = one core busy elsewhere).
    public mutating func sample() -> Double {
        guard let stat = Self.readAll("/proc/stat"),
              let cpuLine = stat.split(separator: "\n").first,
              let mine = Self.readAll("/proc/self/stat") else { return 0 }
        let f = cpuLine.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard f.count >= 5 else { return 0 }
        let total = f.reduce(0, +)
        let idle = f[3] + f[4]
        // utime and stime are fields 14 and 15, counted after the parenthesized command name.
        let afterName = mine.split(separator: ")").last ?? ""
        let parts = afterName.split(separator: " ")
        let selfTicks = parts.count > 13 ? (UInt64(parts[11]) ?? 0) + (UInt64(parts[12]) ?? 0) : 0
        defer { lastTotal = total; lastIdle = idle; lastSelf = selfTicks }
        guard lastTotal > 0, total > lastTotal else { return 0 }
        let dt = Double(total - lastTotal)
        let busy = dt - Double(idle - lastIdle)
        let others = max(0, busy - Double(selfTicks &- lastSelf))
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        return others / dt * cores
    }
}
