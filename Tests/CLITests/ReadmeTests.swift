import Foundation
import TestSupport
import XCTest

/// The README's commands and its table of knobs stay true to the binary.
extension CLITests {
    var readme: String { (try? String(contentsOf: Paths.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)) ?? "" }

    /// Every `mirror-sd COMMAND --flag` in the README's code blocks names a command and flags that
    /// command's --help lists (decoding knobs included: they are listed from the same table).
    func testEveryCommandAndFlagTheReadmeShowsExists() throws {
        var blocks: [String] = []
        var inBlock = false
        for line in readme.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inBlock.toggle(); continue }
            if inBlock { blocks.append(String(line)) }
        }
        var checked = 0
        var helps: [String: String] = [:]
        for line in blocks {
            let words = line.split(separator: "#", maxSplits: 1)[0].split(separator: " ").map(String.init)
            guard let at = words.firstIndex(where: { $0.hasSuffix("mirror-sd") || $0 == "$B" }), at + 1 < words.count else { continue }
            let command = words[at + 1]
            guard !command.hasPrefix("-") else { continue }
            if helps[command] == nil {
                let r = try run([command, "--help"])
                XCTAssertEqual(r.status, 0, "README shows `mirror-sd \(command)`, which is not a command: \(r.err)")
                helps[command] = r.out
            }
            for flag in words[(at + 2)...] where flag.hasPrefix("--") {
                let name = String(flag.split(separator: "=")[0])
                XCTAssertTrue(helps[command]!.contains(name + " ") || helps[command]!.contains(name + ",") || helps[command]!.contains(name + "\n"),
                              "README shows `mirror-sd \(command) \(name)`, which its --help does not list")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 20, "the README's command lines were not found")
    }

    /// The README's table of knobs is the one `mirror-sd knobs` prints from the code.
    func testTheReadmeKnobTableIsTheCodes() throws {
        let r = try run(["knobs"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("| knob |"))
        XCTAssertTrue(readme.contains(r.out), "README's table of knobs differs from `mirror-sd knobs`; paste its output into the README")
    }

    func testTheReadmeStaysShort() {
        XCTAssertLessThan(readme.split(separator: "\n", omittingEmptySubsequences: false).count, 300)
    }
}
