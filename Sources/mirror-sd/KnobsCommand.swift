import ArgumentParser
import Engine

struct KnobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "knobs",
        abstract: "Print the table of decoding knobs: each one's flag, request key, bench suffix, range, default and help.",
        discussion: "generate, bench, serve and profile read these flags; a server request sets them under \"mirror_sd\"; a bench method by its suffixes.")

    func run() { print(Knobs.markdown(), terminator: "") }
}
